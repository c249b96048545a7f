"""Benchmark binpack_online: evaluation time per split and the bytes sent to the candidate.

    python bench/bench_binpack.py [--runs 5] [--splits heldout,train] [--json]

Evaluation times go through the real process sandbox (worker subprocess, jailed candidate);
each is the median of --runs runs after one untimed warm-up, wall clock and CPU (the worker's
scorer plus the candidate; steadier than wall clock on a shared machine). A best fit whose
ties go to the highest index (used bins above empty ones) times the gap path. The wire figure replays best fit's
packing in-process through the scorer's own per-instance requests and the task's adapter, and
sums the encoded size of every batched request frame (what crosses the sandbox boundary).
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

from evaluators.tasks.binpack_online import scorer  # noqa: E402
from evaluators.tasks.binpack_online.instances import datasets  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402
from sandbox import wire  # noqa: E402


# Best fit with ties going to the highest index: its used bins sit at the top of the array,
# above empty ones, so every request carries the gap description.
LATEST_BEST_FIT = """
import numpy as np

def priority(item, bins):
    return -(bins - item) + 0.5 * np.arange(len(bins)) / len(bins)
"""


async def _evaluations(code: str, splits: list[str], runs: int) -> dict:
    task = load_task("binpack_online")
    sandbox = local_executor("process", workers=1)
    out = {}
    try:
        await sandbox.evaluate(task, code, split=splits[0])  # warm-up: worker and zygote start
        for split in splits:
            walls, results = [], []  # cpu_time: the worker's scorer plus the candidate process
            for _ in range(runs):
                started = time.perf_counter()
                result = await sandbox.evaluate(task, code, split=split)
                walls.append(time.perf_counter() - started)
                if not result.ok:
                    raise SystemExit(f"{split} failed: {result.artifacts.get('message')}")
                results.append(result)
            out[split] = {"eval_s_median": statistics.median(walls), "eval_s_min": min(walls),
                          "cpu_s_median": statistics.median(r.cpu_time for r in results),
                          "metrics": results[-1].metrics}
    finally:
        await sandbox.close()
    return out


def wire_bytes(code: str, split: str) -> dict:
    """Replay the lockstep exchange in-process; count the request bytes the candidate would receive."""
    task = load_task("binpack_online")
    namespace: dict = {}
    exec(compile(code, "candidate.py", "exec"), namespace)
    adapter: dict = {}
    exec(compile(task.adapter_code, "adapter.py", "exec"), adapter)
    priority, choose = namespace[task.entry_point], adapter["choose_bin"]
    packing_class = getattr(scorer, "Packing", None) or scorer._Packing  # older trees: before/after runs
    total_bytes = frames = 0
    started = time.perf_counter()
    for instances in datasets(split).values():
        packings = [packing_class(name, inst) for name, inst in instances.items()]
        for step in range(max(len(p.items) for p in packings)):
            active = [p for p in packings if step < len(p.items)]
            requests = [p.request(step) for p in active]
            total_bytes += len(wire.encode({"op": "batch", "fn": "choose_bin", "args_list": requests}))
            frames += 1
            for packing, args in zip(active, requests):
                packing.apply(step, choose(priority, *wire.decode(wire.encode(args)[4:])))
    return {"request_bytes": total_bytes, "frames": frames, "in_process_s": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per split (median reported)")
    parser.add_argument("--splits", default="heldout,train", help="comma-separated splits to time")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    task = load_task("binpack_online")
    splits = [task.check_split(s) for s in args.splits.split(",")]
    code = task.baseline_code("best_fit")
    report = {"machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": os.getloadavg()[0]},
              "evaluations": asyncio.run(_evaluations(code, splits, args.runs)),
              "latest_best_fit": asyncio.run(_evaluations(LATEST_BEST_FIT, splits[:1], args.runs)),
              "wire": {split: wire_bytes(code, split) for split in splits}}
    report["machine"]["loadavg_1m_at_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"machine: {report['machine']['cpus']} CPUs, load average {report['machine']['loadavg_1m_at_start']:.2f}"
          f" -> {report['machine']['loadavg_1m_at_end']:.2f}")
    for split, row in report["evaluations"].items():
        bins = {k: v for k, v in row["metrics"].items() if k.endswith("_mean_bins")}
        w = report["wire"][split]
        print(f"best_fit {split:10s} eval {row['eval_s_median']:.3f} s median (min {row['eval_s_min']:.3f},"
              f" CPU {row['cpu_s_median']:.3f} s)"
              f"  requests {w['request_bytes'] / 2**20:.2f} MiB in {w['frames']} frames"
              f"  in-process replay {w['in_process_s']:.3f} s  {bins}")
    for split, row in report["latest_best_fit"].items():
        print(f"latest-index best fit (gaps) {split}: eval {row['eval_s_median']:.3f} s median"
              f" (CPU {row['cpu_s_median']:.3f} s)  excess {row['metrics']['excess_pct']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
