"""Benchmark spot_multi_region: evaluation wall time per split (target: at most 5 s each), and
the baselines' figures on every split.

    python bench/bench_spot_multi_region.py [--runs 5] [--json]

Evaluations go through the real process sandbox (worker subprocess, bubblewrap-jailed candidate),
one worker, after one untimed warm-up per split (worker start, reading the trace archive). Each
figure is the median of --runs evaluations, timed on the caller's side; "worker" is the
evaluation's own wall time as the worker records it, "cpu" the CPU time of worker and candidate
together. On a shared 2-core machine the wall time is mostly waiting: an evaluation is ~960
strictly sequential round trips (one per tick) between two processes, each paying a scheduling delay.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402

SPLITS = ("leaderboard", "train", "validation", "heldout", "proposed_train")


async def measure(runs: int) -> dict:
    task = load_task("spot_multi_region")
    sandbox = local_executor("process", workers=1)
    out: dict = {}
    try:
        for split in SPLITS:
            await sandbox.evaluate(task, task.seed_code, split=split)  # warm-up
            for name in task.spec.baselines:
                walls, results = [], []
                for _ in range(runs):
                    started = time.perf_counter()
                    result = await sandbox.evaluate(task, task.baseline_code(name), split=split)
                    walls.append(time.perf_counter() - started)
                    if not result.ok:
                        raise SystemExit(f"{name} on {split} failed: {result.artifacts.get('message')}")
                    results.append(result)
                m = results[-1].metrics
                out.setdefault(split, {})[name] = {
                    "eval_s_median": statistics.median(walls), "eval_s_max": max(walls),
                    "worker_wall_s_median": statistics.median(r.wall_time for r in results),
                    "cpu_s_median": statistics.median(r.cpu_time for r in results),
                    "runs": m["runs"], "avg_cost": m["avg_cost"], "leaderboard_score": m["leaderboard_score"],
                    "spot_share": m["spot_share"], "mean_region_moves": m["mean_region_moves"],
                    "late_runs": m["late_runs"]}
        # Reference measured side by side: the single-region task's leaderboard evaluation (~420
        # round trips, README figure 1.43 s at load 5), to read this run's load off.
        spot = load_task("spot_scheduling")
        await sandbox.evaluate(spot, spot.seed_code, split="leaderboard")
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await sandbox.evaluate(spot, spot.seed_code, split="leaderboard")
            walls.append(time.perf_counter() - started)
        out["reference"] = {"spot_scheduling_leaderboard_greedy_eval_s_median": statistics.median(walls),
                            "cpu_s_last": result.cpu_time}
    finally:
        await sandbox.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed evaluations per baseline and split (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    load_start = os.getloadavg()[0]
    figures = asyncio.run(measure(args.runs))
    report = {"machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": load_start,
                          "loadavg_1m_at_end": os.getloadavg()[0]}, "splits": figures}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs, load average {m['loadavg_1m_at_start']:.2f} -> {m['loadavg_1m_at_end']:.2f};"
          f" median of {args.runs} evaluations")
    print(f"{'split':12s} {'baseline':13s} {'runs':>4s} {'eval s':>7s} {'max s':>6s} {'worker s':>8s}"
          f" {'cpu s':>6s} {'avg cost':>10s} {'score':>6s} {'spot':>6s} {'moves':>6s} {'late':>4s}")
    reference = figures.pop("reference")
    for split, rows in figures.items():
        for name, row in rows.items():
            print(f"{split:12s} {name:13s} {row['runs']:4d} {row['eval_s_median']:7.3f} {row['eval_s_max']:6.3f}"
                  f" {row['worker_wall_s_median']:8.3f} {row['cpu_s_median']:6.3f} {row['avg_cost']:10.5f} {row['leaderboard_score']:6.2f}"
                  f" {row['spot_share']:6.3f} {row['mean_region_moves']:6.1f} {row['late_runs']:4d}")
    print(f"reference, same run: spot_scheduling leaderboard (1080 scenarios) greedy eval"
          f" {reference['spot_scheduling_leaderboard_greedy_eval_s_median']:.3f} s median"
          f" (cpu {reference['cpu_s_last']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
