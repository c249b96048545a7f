"""Mutation testing of the MAP-Elites core: how many mutants of the archive do its tests kill?

    python bench/mutation_report.py            # fresh `mutmut run` (config: [tool.mutmut] in pyproject.toml)
    python bench/mutation_report.py --no-run   # only report the results of the last run in mutants/

Prints the kill rate per mutated file and for the three parts the property tests pin: the grid
(archive/mapelites.py), the sampler (archive/sampling.py) and the cell competition
(Archive._place, migrate, elites, best), then lists the competition/grid/sampler survivors.
A timed-out mutant counts as killed, as in mutmut's own score. "no tests" are mutants in code that
no archive test reaches (they count as not killed in the per-file figure).
Run from the repository root; `pip install mutmut` (3.x) first. One run (1,073 mutants) took 23 min wall
clock, 4 min CPU, on the shared 2-core machine.
Equivalent mutants that survive (cannot change behaviour): `.limit(1)` -> `.limit(None)`/`.limit(2)` inside
`s.scalar(...)` in migrate and best (scalar takes the first row either way); `<` -> `<=` in elites' tie-break
(equal tuples are the same program in the same cell); `c + d` -> `c - d` in Grid.neighbours (the deltas are
symmetric: same cells, another order); the "explore" label in choose_parent's draw (that mode is the
fall-through branch); `<= 0` -> `< 0` for diverse_inspirations (sampling 0 of the far elites draws nothing).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("archive/mapelites.py", "archive/sampling.py", "archive/archive.py")
COMPETITION = ("_place", "migrate", "elites", "best")
# mutmut's exit-code verdicts (mutmut/stats.py)
KILLED, TIMEOUT = {1, 3}, {24, -24, 36, 152, 255}


def verdict(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    return {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", None: "not checked"}.get(code, "suspicious")


def function_of(mutant: str) -> str:
    """`archive.archive.xǁArchiveǁ_place__mutmut_3` -> `Archive._place`; `...x_choose_parent__mutmut_1` -> name."""
    name = mutant.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        _, cls, method = name.split("ǁ")
        return f"{cls}.{method}"
    return name[2:] if name.startswith("x_") else name


def load() -> dict[str, dict[str, str]]:
    results = {}
    for file in FILES:
        meta = ROOT / "mutants" / (file + ".meta")
        if not meta.exists():
            sys.exit(f"no mutation results at {meta}; run without --no-run first")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        results[file] = {name: verdict(code) for name, code in codes.items()}
    return results


def rate(verdicts) -> tuple[int, int, str]:
    counts = Counter(verdicts)
    killed = counts["killed"] + counts["timeout"]
    total = sum(counts.values()) - counts["skipped"]
    return killed, total, f"{100 * killed / total:.1f} %" if total else "-"


def report(results: dict[str, dict[str, str]]) -> None:
    print(f"{'part':<44} {'killed':>7} {'of':>5} {'rate':>8}   breakdown")
    rows = []
    for file, verdicts in results.items():
        rows.append((file, list(verdicts.values())))
    groups = {
        "grid (mapelites.py)": results["archive/mapelites.py"],
        "sampler (sampling.py)": results["archive/sampling.py"],
        "competition (_place, migrate, elites, best)": {
            k: v for k, v in results["archive/archive.py"].items()
            if function_of(k) in {f"Archive.{name}" for name in COMPETITION}},
    }
    rows += [(name, list(verdicts.values())) for name, verdicts in groups.items()]
    for name, verdicts in rows:
        killed, total, pct = rate(verdicts)
        breakdown = ", ".join(f"{k} {v}" for k, v in sorted(Counter(verdicts).items()))
        print(f"{name:<44} {killed:>7} {total:>5} {pct:>8}   {breakdown}")
    focus = {k: v for verdicts in groups.values() for k, v in verdicts.items()}
    killed, total, pct = rate(focus.values())
    print(f"{'grid + sampler + competition':<44} {killed:>7} {total:>5} {pct:>8}")
    survivors = sorted(k for k, v in focus.items() if v not in ("killed", "timeout"))
    if survivors:
        print("\nnot killed in grid/sampler/competition (inspect with `mutmut show NAME`):")
        for name in survivors:
            print(f"  {name}: {focus[name]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-run", action="store_true", help="report the last run's results in mutants/")
    args = parser.parse_args()
    if not args.no_run:
        if shutil.which("mutmut") is None:
            sys.exit("mutmut is not installed; `pip install mutmut` (3.x) and run again")
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # a fresh run: no cached verdicts
        subprocess.run(["mutmut", "run"], cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    report(load())


if __name__ == "__main__":
    main()
