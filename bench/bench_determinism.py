"""What determinism costs: this checkout's loop against an earlier, free-running one, side by side.

    python bench/bench_determinism.py --baseline REF | --baseline-dir DIR [--seeds 0,...,9] [--iterations 200] [--workers 2]
                                      [--repeat 1] [--llm-runs 5] [--llm-iterations 60] [--skip-first-command] [--skip-llm]

REF is a git revision of this repository whose loop ran free (e.g. the last commit before the
deterministic loop); it is exported to a temp dir and run from there. Two parts:

1. The README's first command, `evolve run binpack_online --iterations 200 --seed S`, `--repeat`
   times per seed with each checkout, the two alternating (which goes first alternates too): wall time of each,
   the median of the per-seed ratios, and the search's quality — the best training score and the
   held-out report of the best program (OR3 / Weibull 5k excess), wins / ties / losses per seed.
2. An LLM campaign against a stand-in server answering every call after 1 s (tests/llm_server.py),
   8 proposals in flight, a 50 ms task (bench/tasks/sleep50): `--llm-runs` alternating rounds, the
   medians of the command's wall time.

Prints the machine's load average at the start and end of each part.

    python bench/bench_determinism.py --compare-archives DET_DIR FREE_DIR [--names det free]

prints part 1's quality table from archives already made (`evolve run binpack_online --iterations
200 --seed S --db DIR/NAME_S.db`, one file per seed, the seed the number before `.db`), without
running anything: a deterministic campaign is the same at any load, so its archive is its result.
`--names` labels the two sets (e.g. `lag4 lag0` to compare two settings of this loop).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeLLM  # noqa: E402


def export(ref: str, into: Path) -> Path:
    """The tree of revision `ref` in a fresh directory."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(code: Path, args: list[str], db: Path, env: dict | None = None) -> tuple[float, dict]:
    command = [sys.executable, "-m", "evolve", "run", *args, "--db", str(db), "--json"]
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(code)}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=code)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{code}: evolve run failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return wall, json.loads(done.stdout)


def outcome(db: Path) -> dict:
    """The campaign's best training score, and the held-out report of the program it hands over (the
    report names it: chosen on validation where the checkout does that, else the training best)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    best = con.execute("select max(score) from cells").fetchone()[0]
    report = con.execute("select data from events where kind = 'heldout_report' order by id desc limit 1").fetchone()
    evaluated = con.execute("select count(*) from programs where iteration > 0 and state = 'evaluated'").fetchone()[0]
    con.close()
    metrics = (json.loads(report[0]).get("best") or {}).get("metrics", {}) if report else {}
    return {"best": best, "or3": metrics.get("or3_excess_pct"), "weibull": metrics.get("weibull_5k_excess_pct"),
            "evaluated": evaluated}


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def first_command(det: Path, free: Path, seeds: list[int], iterations: int, workers: int, scratch: Path,
                  repeat: int = 1) -> None:
    print(f"\n1. evolve run binpack_online --iterations {iterations} --workers {workers} --seed S   (load {load()})")
    print(f"{'seed':>4} {'det s':>7} {'free s':>7} {'ratio':>6}  {'det best':>9} {'free best':>9}  "
          f"{'det OR3/W5k':>13} {'free OR3/W5k':>13}")
    rows = []
    for index, seed in enumerate(s for s in seeds for _ in range(repeat)):
        order = [("det", det), ("free", free)] if index % 2 == 0 else [("free", free), ("det", det)]
        row = {}
        for name, code in order:
            db = scratch / f"{name}-{seed}-{index}.db"
            wall, _ = run(code, ["binpack_online", "--iterations", str(iterations), "--workers", str(workers),
                                 "--seed", str(seed)], db)
            row[name] = {"wall": wall, **outcome(db)}
        rows.append(row)
        d, f = row["det"], row["free"]
        print(f"{seed:>4} {d['wall']:7.1f} {f['wall']:7.1f} {d['wall'] / f['wall']:6.2f}  {d['best']:9.4f} "
              f"{f['best']:9.4f}  {d['or3']:6.2f}/{d['weibull']:5.2f}  {f['or3']:6.2f}/{f['weibull']:5.2f}")
    ratios = [r["det"]["wall"] / r["free"]["wall"] for r in rows]
    wins = sum(r["det"]["best"] > r["free"]["best"] + 1e-12 for r in rows)
    losses = sum(r["det"]["best"] < r["free"]["best"] - 1e-12 for r in rows)
    mean = {k: statistics.mean(r[k]["best"] for r in rows) for k in ("det", "free")}
    spread = {k: statistics.pstdev(r[k]["best"] for r in rows) for k in ("det", "free")}
    print(f"median wall: det {statistics.median(r['det']['wall'] for r in rows):.1f} s, free "
          f"{statistics.median(r['free']['wall'] for r in rows):.1f} s; median ratio det/free "
          f"{statistics.median(ratios):.3f} (range {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"best training score: det mean {mean['det']:.4f} (sd {spread['det']:.4f}), free mean {mean['free']:.4f} "
          f"(sd {spread['free']:.4f}); det better on {wins}, equal on {len(rows) - wins - losses}, worse on {losses} "
          f"of {len(rows)} seeds   (load {load()})")


def llm_campaigns(det: Path, free: Path, runs: int, iterations: int, workers: int, scratch: Path) -> None:
    print(f"\n2. LLM campaign: 1 s per call, 8 proposals in flight, {iterations} iterations, sleep50 task, "
          f"{workers} workers   (load {load()})")
    config = scratch / "llm.yaml"
    config.write_text(yaml.safe_dump({"llm": [{"provider": "openai", "model": "bench", "timeout": 30}],
                                      "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
                                      "heldout_report": False}))
    walls: dict[str, list[float]] = {"det": [], "free": []}
    with FakeLLM(latency=1.0) as fake:
        env = {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": fake.openai_url}
        for index in range(runs):
            order = [("det", det), ("free", free)] if index % 2 == 0 else [("free", free), ("det", det)]
            for name, code in order:
                db = scratch / f"llm-{name}-{index}.db"
                wall, _ = run(code, ["--task-dir", str(ROOT / "bench" / "tasks" / "sleep50"), "--config", str(config),
                                     "--iterations", str(iterations), "--workers", str(workers),
                                     "--proposals", "8"], db, env)
                walls[name].append(wall)
            print(f"  round {index + 1}: det {walls['det'][-1]:.1f} s, free {walls['free'][-1]:.1f} s")
    det_s, free_s = statistics.median(walls["det"]), statistics.median(walls["free"])
    print(f"median wall: det {det_s:.1f} s, free {free_s:.1f} s, ratio {det_s / free_s:.3f}   (load {load()})")


def compare_archives(det_dir: Path, free_dir: Path, names: tuple[str, str] = ("det", "free")) -> None:
    """Part 1's quality columns from kept archives, per seed present in both directories."""
    def by_seed(directory: Path) -> dict[int, Path]:
        return {int(p.stem.rsplit("_", 1)[-1]): p for p in sorted(directory.glob("*_*.db"))
                if p.stem.rsplit("_", 1)[-1].isdigit()}
    first, second = names
    det, free = by_seed(det_dir), by_seed(free_dir)
    seeds = sorted(set(det) & set(free))
    if not seeds:
        raise SystemExit(f"no seed has an archive in both {det_dir} and {free_dir} (files NAME_SEED.db)")
    print(f"{'seed':>4}  {first + ' best':>9} {second + ' best':>9}  {first + ' OR3/W5k':>13} {second + ' OR3/W5k':>13}")
    rows = []
    for seed in seeds:
        d, f = outcome(det[seed]), outcome(free[seed])
        if None in (d["or3"], f["or3"]):
            print(f"{seed:>4}  left out: a campaign without a held-out report (unfinished?)")
            continue
        rows.append((d, f))
        print(f"{seed:>4}  {d['best']:9.4f} {f['best']:9.4f}  {d['or3']:6.2f}/{d['weibull']:5.2f}  "
              f"{f['or3']:6.2f}/{f['weibull']:5.2f}")
    wins = sum(d["best"] > f["best"] + 1e-12 for d, f in rows)
    losses = sum(d["best"] < f["best"] - 1e-12 for d, f in rows)
    for name, index in ((first, 0), (second, 1)):
        scores = [r[index]["best"] for r in rows]
        below = sum(r[index]["or3"] < BEST_FIT_OR3 and r[index]["weibull"] < BEST_FIT_W5K for r in rows)
        print(f"{name}: mean best {statistics.mean(scores):.4f} (sd {statistics.pstdev(scores):.4f}); "
              f"below best fit on both held-out sets: {below} of {len(rows)}")
    print(f"{first} better on {wins}, equal on {len(rows) - wins - losses}, worse on {losses} of {len(rows)} seeds")


BEST_FIT_OR3, BEST_FIT_W5K = 5.36779, 3.9843  # best fit's held-out excess, % (evolve eval binpack_online --baseline best_fit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    baseline = parser.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--baseline", help="git revision of the free-running loop (exported from this repository)")
    baseline.add_argument("--baseline-dir", type=Path, help="a checkout of the free-running loop")
    baseline.add_argument("--compare-archives", nargs=2, type=Path, metavar=("DET_DIR", "FREE_DIR"),
                          help="print the quality table from archives already made, run nothing")
    parser.add_argument("--names", nargs=2, default=("det", "free"), metavar=("FIRST", "SECOND"),
                        help="(--compare-archives) labels of the two sets of archives")
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1,
                        help="campaigns per seed and checkout (the free-running loop's differ run to run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--llm-runs", type=int, default=5)
    parser.add_argument("--llm-iterations", type=int, default=60)
    parser.add_argument("--skip-first-command", action="store_true")
    parser.add_argument("--skip-llm", action="store_true")
    args = parser.parse_args()
    if args.compare_archives:
        compare_archives(*args.compare_archives, tuple(args.names))
        return
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        free = args.baseline_dir.resolve() if args.baseline_dir else export(args.baseline, scratch / "free")
        print(f"deterministic: {ROOT}; free-running: {args.baseline or free}; {os.cpu_count()} cores")
        if not args.skip_first_command:
            first_command(ROOT, free, [int(s) for s in args.seeds.split(",")], args.iterations, args.workers, scratch,
                          args.repeat)
        if not args.skip_llm:
            llm_campaigns(ROOT, free, args.llm_runs, args.llm_iterations, args.workers, scratch)


if __name__ == "__main__":
    main()
