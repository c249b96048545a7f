"""Do a task's splits separate its baselines? Every baseline's score on every split, the spread, the noise.

    python bench/bench_splits.py [--tasks binpack_online,llm_routing] [--splits train,heldout] [--json]

Each figure is `evolve eval TASK --baseline NAME --split SPLIT --json`, run as a subprocess with
this checkout on PYTHONPATH, so it is exactly what a user gets (and what the task tests re-measure).

Per task and split it prints every baseline's score, the best and worst, and the spread
(best - worst). The rule used to call a split separating (stated in every task README):

    noise  = max over baselines b of |margin_b(train) - margin_b(validation)|,
             margin_b(split) = score_b(split) - score_reference(split)

the amount a baseline's margin over the reference baseline moves between two independent draws
of the training distribution (train and validation are drawn the same way); and a split
*separates* when its spread is at least SEPARATION x noise. The probe split (functional-hashing
inputs, never a measure) is skipped. The wall time of each `evolve eval` is printed too, so the
validation split's cost can be compared with train's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.task import load_task  # noqa: E402

TASKS = ("binpack_online", "spot_scheduling", "spot_multi_region", "moe_eplb", "llm_routing", "spec_decoding")
SKIPPED_SPLITS = ("probe",)
SEPARATION = 3.0


def evaluate(task: str, baseline: str, split: str) -> tuple[float, float]:
    """(score, wall seconds) of one `evolve eval` of a baseline on a split."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "evolve", "eval", task, "--baseline", baseline, "--split", split,
                             "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{task} {baseline} {split}: evolve eval exited {result.returncode}: "
                         f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    data = json.loads(result.stdout)
    if data["status"] != "ok":
        raise SystemExit(f"{task} {baseline} {split}: {data['status']}: {data.get('artifacts', {}).get('message')}")
    return float(data["score"]), wall


def measure(task_name: str, splits: list[str] | None) -> dict:
    task = load_task(task_name)
    spec = task.spec
    names = [s for s in spec.splits if s not in SKIPPED_SPLITS and (not splits or s in splits)]
    scores: dict[str, dict[str, float]] = {}
    walls: dict[str, dict[str, float]] = {}
    for split in names:
        scores[split], walls[split] = {}, {}
        for baseline in spec.baselines:
            scores[split][baseline], walls[split][baseline] = evaluate(task_name, baseline, split)
    reference = spec.reference_baseline or next(iter(spec.baselines))
    noise = None
    if "train" in scores and "validation" in scores:
        def margin(split, b):
            return scores[split][b] - scores[split][reference]
        noise = max(abs(margin("train", b) - margin("validation", b)) for b in spec.baselines)
    out = {"task": task_name, "reference": reference, "noise": noise, "separation": SEPARATION, "splits": {}}
    for split in names:
        row = scores[split]
        best, worst = max(row, key=row.get), min(row, key=row.get)
        spread = row[best] - row[worst]
        out["splits"][split] = {
            "scores": row, "eval_wall_s": walls[split], "best": best, "worst": worst, "spread": spread,
            "separates": None if noise is None else spread >= SEPARATION * noise}
        resample = f"{split}_resample"
        if resample in scores:  # a second draw of this very split: its own noise, at its own size
            own = max(abs((row[b] - row[reference]) - (scores[resample][b] - scores[resample][reference]))
                      for b in spec.baselines)
            out["splits"][split]["own_noise"] = own
            out["splits"][split]["separates_by_own_noise"] = spread >= SEPARATION * own
    return out


def show(result: dict) -> None:
    noise = result["noise"]
    print(f"\n{result['task']}  (reference {result['reference']}; noise "
          f"{'n/a' if noise is None else f'{noise:.4g}'}; separating: spread >= {result['separation']:g} x noise)")
    baselines = list(next(iter(result["splits"].values()))["scores"])
    width = max(len(b) for b in baselines + ["spread/noise", "eval wall s", "separates_by_own_noise"])
    splits = list(result["splits"])
    col = max(14, *(len(s) + 2 for s in splits))
    print("  " + "baseline".ljust(width) + "".join(s.rjust(col) for s in splits))
    for b in baselines:
        print("  " + b.ljust(width) + "".join(f"{result['splits'][s]['scores'][b]:{col}.4f}" for s in splits))
    print("  " + "spread".ljust(width) + "".join(f"{result['splits'][s]['spread']:{col}.4f}" for s in splits))
    if noise:
        print("  " + "spread/noise".ljust(width) + "".join(f"{result['splits'][s]['spread'] / noise:{col}.1f}"
                                                         for s in splits))
    print("  " + "separates".ljust(width) + "".join(str(result["splits"][s]["separates"]).rjust(col) for s in splits))
    for key in ("own_noise", "separates_by_own_noise"):
        if any(key in result["splits"][s] for s in splits):
            print("  " + key.ljust(width) + "".join(str(round(result["splits"][s][key], 4) if key == "own_noise"
                                                        else result["splits"][s][key]).rjust(col)
                                                    if key in result["splits"][s] else "".rjust(col) for s in splits))
    print("  " + "eval wall s".ljust(width)
          + "".join(f"{max(result['splits'][s]['eval_wall_s'].values()):{col}.1f}" for s in splits)
          + "   (slowest baseline, incl. CLI start)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--splits", default="", help="comma-separated splits (default: all but probe)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args()
    splits = [s for s in args.splits.split(",") if s] or None
    results = []
    for name in [t for t in args.tasks.split(",") if t]:
        results.append(measure(name, splits))
        if not args.json:
            show(results[-1])
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load_average": load, "tasks": results}, indent=1))
    else:
        print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
