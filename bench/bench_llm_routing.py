"""Benchmark llm_routing: evaluation wall time per split and the baselines' figures.

    python bench/bench_llm_routing.py [--runs 3] [--json]

Every evaluation goes through the real process sandbox (worker subprocess, bubblewrap-jailed
candidate), exactly as `evolve eval llm_routing --baseline NAME --split SPLIT` does. Wall times
are medians of --runs runs after one untimed warm-up; the metrics are deterministic.
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

SPLITS = ("train", "validation", "heldout", "shift")
SHOWN = ("slo_attainment", "ttft_attainment", "tpot_attainment", "ttft_p50", "ttft_p99", "tpot_p99", "e2e_p99",
         "goodput", "load_imbalance")


async def _measure(runs: int) -> dict:
    task = load_task("llm_routing")
    sandbox = local_executor("process", workers=1)
    out: dict = {}
    try:
        await sandbox.evaluate(task, task.seed_code, split="train")  # warm-up: worker start, imports
        for name in task.spec.baselines:
            code = task.baseline_code(name)
            out[name] = {}
            for split in SPLITS:
                walls, result = [], None
                for _ in range(runs):
                    started = time.perf_counter()
                    result = await sandbox.evaluate(task, code, split=split)
                    walls.append(time.perf_counter() - started)
                    if not result.ok:
                        raise SystemExit(f"{name}/{split} failed: {result.artifacts.get('message')}")
                out[name][split] = {"eval_s_median": statistics.median(walls), "eval_s_max": max(walls),
                                    "worker_wall_s": result.wall_time, "metrics": result.metrics}
    finally:
        await sandbox.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per (baseline, split) (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    load_start = os.getloadavg()[0]
    results = asyncio.run(_measure(args.runs))
    report = {"machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": load_start,
                          "loadavg_1m_at_end": os.getloadavg()[0]}, "baselines": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs, load average {m['loadavg_1m_at_start']:.2f} -> {m['loadavg_1m_at_end']:.2f}")
    for split in SPLITS:
        walls = [row[split]["eval_s_median"] for row in results.values()]
        print(f"\n{split}: evaluation wall time (sandbox round trip) median over baselines "
              f"{statistics.median(walls):.2f} s, slowest {max(walls):.2f} s")
        print("| baseline | " + " | ".join(SHOWN) + " | eval s |")
        print("|---" * (len(SHOWN) + 2) + "|")
        for name, row in results.items():
            met = row[split]["metrics"]
            print(f"| `{name}` | " + " | ".join(f"{met[k]:.4g}" for k in SHOWN) + f" | {row[split]['eval_s_median']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
