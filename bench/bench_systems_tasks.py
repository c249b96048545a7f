"""Benchmark the systems tasks: spot_scheduling's 1080-scenario evaluation, moe_eplb's evaluation,
and the cost of one call across the sandbox boundary.

    python bench/bench_systems_tasks.py [--runs 5] [--json]

Evaluations go through the real process sandbox (worker subprocess, bubblewrap-jailed candidate);
each figure is the median of --runs runs after one untimed warm-up (worker start, torch import).
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

import numpy as np  # noqa: E402

from evaluators.tasks.moe_eplb.workloads import warmup  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402
from sandbox.candidate import Candidate  # noqa: E402
from sandbox.jail import Zygote  # noqa: E402

NULL_EPLB = """
import torch
_answer = []
def rebalance_experts(weight=None, num_replicas=0, num_groups=0, num_nodes=0, num_gpus=0):
    if weight is None:
        return None
    if not _answer:  # a fixed valid round-robin map, computed once: the call does no work
        layers, experts = weight.shape
        slot = torch.arange(num_replicas) % experts
        log2phy = torch.full((layers, experts, 2), -1, dtype=torch.int64)
        log2phy[:, :, 0] = torch.arange(experts)
        log2phy[:, :num_replicas - experts, 1] = torch.arange(experts, num_replicas)
        _answer.extend([slot.expand(layers, num_replicas).contiguous(), log2phy,
                        torch.bincount(slot, minlength=experts).expand(layers, experts).contiguous()])
    return tuple(_answer)
"""

NULL_POLICY = """
class Policy:
    def __init__(self, config=None):
        pass
    def step(self, obs):
        return "NONE"
"""


async def _evaluations(task_name: str, programs: dict[str, str], split: str, runs: int) -> dict:
    task = load_task(task_name)
    sandbox = local_executor("process", workers=1)
    out = {}
    try:
        await sandbox.evaluate(task, next(iter(programs.values())), split=split)  # warm-up
        for label, code in programs.items():
            walls, results = [], []
            for _ in range(runs):
                started = time.perf_counter()
                result = await sandbox.evaluate(task, code, split=split)
                walls.append(time.perf_counter() - started)
                if not result.ok:
                    raise SystemExit(f"{task_name}/{label} failed: {result.artifacts.get('message')}")
                results.append(result)
            out[label] = {"eval_s_median": statistics.median(walls), "eval_s_min": min(walls),
                          "worker_wall_s_median": statistics.median(r.wall_time for r in results),
                          "score_median": statistics.median(r.score for r in results),
                          "metrics_last": results[-1].metrics}
    finally:
        await sandbox.close()
    return out


def _median_call_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def boundary_overhead(repeats: int) -> dict:
    """Round trips through a jailed candidate, timed on the trusted side."""
    out = {}
    eplb = load_task("moe_eplb")
    zygote = Zygote(packages=eplb.spec.jail_packages)
    candidate = Candidate(zygote, NULL_EPLB, "rebalance_experts", eplb.limits, adapter=eplb.adapter_code)
    try:
        out["noop_call_ms"] = _median_call_ms(lambda: candidate.call(), repeats)
        weight = warmup()
        out["eplb_null_call_ms"] = _median_call_ms(
            lambda: candidate.call(weight, 288, 8, 4, 32, fn="rebalance"), max(20, repeats // 10))
    finally:
        candidate.close()
        zygote.close()

    spot = load_task("spot_scheduling")
    zygote = Zygote(packages=spot.spec.jail_packages)
    candidate = Candidate(zygote, NULL_POLICY, "Policy", spot.limits, adapter=spot.adapter_code)
    try:
        n = 1080
        candidate.call([{"task_duration": 172800.0, "deadline": 187200.0, "restart_overhead": 72.0,
                         "gap_seconds": 600.0}] * n, fn="start")
        args = (7, np.arange(n, dtype=np.int32), np.ones(n, dtype=bool), np.zeros(n, dtype=np.int8),
                np.zeros(n, dtype=np.int8), np.zeros(n), np.zeros(n))
        out["spot_tick_call_1080_ms"] = _median_call_ms(lambda: candidate.call(*args, fn="step"), max(20, repeats // 10))
    finally:
        candidate.close()
        zygote.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per evaluation (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    spot = load_task("spot_scheduling")
    eplb = load_task("moe_eplb")
    report = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": os.getloadavg()[0]},
        "spot_scheduling_leaderboard": asyncio.run(_evaluations(
            "spot_scheduling", {b: spot.baseline_code(b) for b in ("greedy", "uniform_progress")}, "leaderboard", args.runs)),
        "moe_eplb_heldout": asyncio.run(_evaluations(
            "moe_eplb", {b: eplb.baseline_code(b) for b in ("round_robin", "hierarchical")}, "heldout", args.runs)),
        "boundary": boundary_overhead(repeats=500),
    }
    report["machine"]["loadavg_1m_at_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"machine: {report['machine']['cpus']} CPUs, load average {report['machine']['loadavg_1m_at_start']:.2f}"
          f" -> {report['machine']['loadavg_1m_at_end']:.2f}")
    for name, row in report["spot_scheduling_leaderboard"].items():
        m = row["metrics_last"]
        print(f"spot_scheduling leaderboard (1080 scenarios) {name:17s} eval {row['eval_s_median']:.3f} s median"
              f" (min {row['eval_s_min']:.3f}, worker {row['worker_wall_s_median']:.3f})"
              f"  mean cost {m['mean_cost']:.4f}  score {m['leaderboard_score']}")
    for name, row in report["moe_eplb_heldout"].items():
        m = row["metrics_last"]
        print(f"moe_eplb heldout ({m['calls']} calls) {name:13s} eval {row['eval_s_median']:.3f} s median"
              f"  balancedness {m['balancedness']:.6f}  runtime {1000 * m['runtime_s']:.2f} ms"
              f" (in candidate {1000 * m['runtime_in_candidate_s']:.2f} ms)  score {row['score_median']:.2f}")
    b = report["boundary"]
    print(f"boundary round trip: empty call {b['noop_call_ms']:.3f} ms; EPLB-sized call with no work"
          f" {b['eplb_null_call_ms']:.3f} ms; one spot tick for 1080 scenarios (trivial policy)"
          f" {b['spot_tick_call_1080_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
