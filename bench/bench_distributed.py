"""Distributed execution, measured on this machine. One function per section; `--only a,b,c,d`.

    python bench/bench_distributed.py [--only a,b,c,d,e] [--ray-address HOST:PORT] [--runs 40]

(a) per-evaluation overhead of the Ray executor vs the local process sandbox on a trivial task:
    one warm worker each, evaluations alternated between the two, medians (target: <= 15 ms added).
(b) throughput of a task whose evaluations wait 500 ms on I/O (a sleep on the trusted side) with
    1, 2, 4, 8, 16 evaluations in flight across two raylets, against the ideal N / 0.5 s
    (target: >= 0.8 x ideal at 16).

(c) archive write latency per committed evaluation and (d) event-loop stall during a campaign,
    SQLite vs PostgreSQL (direct and behind a latency proxy), and (e) the toy campaign's wall time
    over a sweep of added latency (0, 1, 5, 20 ms each way; targets: <= 1.3 x SQLite at 5 ms,
    <= 2 x at 20 ms): see bench/archive_latency.py.

Without --ray-address a throwaway cluster is started here (a head and a second raylet, 2 CPUs
each, on loopback) and stopped by PID at the end.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import archive_latency  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.executors.local_cluster import LocalRayCluster  # noqa: E402
from evolve.executors.ray import RayExecutor  # noqa: E402
from evolve.executors import local_executor  # noqa: E402
from evaluators.contract import Status  # noqa: E402

TRIVIAL = load_task(task_dir=ROOT / "bench" / "trivial_task")
IO_WAIT = load_task(task_dir=ROOT / "bench" / "tasks" / "io_wait500")
IO_WAIT_S = 0.5
OVERHEAD_TARGET_MS = 15.0
SCALING_TARGET = 0.8


async def _timed(executor, task) -> float:
    started = time.perf_counter()
    result = await executor.evaluate(task, task.seed_code)
    elapsed = time.perf_counter() - started
    if result.status is not Status.OK or result.score != 1.0:
        raise RuntimeError(f"benchmark evaluation failed: {result.status.value} {result.artifacts}")
    return elapsed


def section_a(address: str, runs: int) -> dict:
    """Ray executor vs local process sandbox, alternated, one warm worker each."""
    async def run():
        local = local_executor("process", workers=1, jail="auto")
        remote = RayExecutor(address, workers=1)
        try:
            await remote.warm_up(TRIVIAL)
            for _ in range(3):
                await _timed(local, TRIVIAL)
                await _timed(remote, TRIVIAL)
            local_s, ray_s = [], []
            for _ in range(runs):
                local_s.append(await _timed(local, TRIVIAL))
                ray_s.append(await _timed(remote, TRIVIAL))
            return local_s, ray_s
        finally:
            await asyncio.gather(local.close(), remote.close())

    local_s, ray_s = asyncio.run(run())
    local_ms, ray_ms = 1000 * statistics.median(local_s), 1000 * statistics.median(ray_s)
    added = ray_ms - local_ms
    return {"runs": runs, "local_process_median_ms": round(local_ms, 1), "ray_median_ms": round(ray_ms, 1),
            "added_ms": round(added, 1), "target_ms": OVERHEAD_TARGET_MS, "meets_target": added <= OVERHEAD_TARGET_MS}


def section_b(address: str, levels: list[int], rounds: int) -> dict:
    """Evaluations per second with N in flight on the I/O-waiting task, against N / 0.5 s."""
    async def level(n: int) -> dict:
        executor = RayExecutor(address, workers=n)
        try:
            ready = await executor.warm_up(IO_WAIT)
            if ready < n:
                raise RuntimeError(f"only {ready} of {n} actors started on the cluster")
            await asyncio.gather(*(_timed(executor, IO_WAIT) for _ in range(n)))  # every actor warm
            executor.placements.clear()

            async def loop():
                for _ in range(rounds):
                    await _timed(executor, IO_WAIT)

            started = time.perf_counter()
            await asyncio.gather(*(loop() for _ in range(n)))
            elapsed = time.perf_counter() - started
        finally:
            await executor.close()
        throughput = n * rounds / elapsed
        ideal = n / IO_WAIT_S
        return {"in_flight": n, "evaluations": n * rounds, "seconds": round(elapsed, 2),
                "evals_per_s": round(throughput, 2), "ideal_per_s": ideal, "ratio": round(throughput / ideal, 3),
                "nodes_used": len(executor.placements)}

    rows = [asyncio.run(level(n)) for n in levels]
    top = rows[-1]
    return {"rows": rows, "target_ratio_at_max": SCALING_TARGET, "meets_target": top["ratio"] >= SCALING_TARGET}


SECTIONS = {"a": "per-evaluation overhead", "b": "throughput with I/O-bound evaluations",
            "c": "archive write latency", "d": "event-loop stall", "e": "latency sweep"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="a,b,c,d,e", help="comma-separated sections to run (a, b, c, d, e)")
    parser.add_argument("--ray-address", help="an existing cluster (default: start a two-raylet one here)")
    parser.add_argument("--runs", type=int, default=40, help="(a) evaluations per side")
    parser.add_argument("--rounds", type=int, default=4, help="(b) evaluations per in-flight slot")
    parser.add_argument("--levels", default="1,2,4,8,16", help="(b) evaluations in flight")
    archive_latency.add_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")

    cluster = None
    address = args.ray_address
    if address is None and {"a", "b"} & set(wanted):
        cluster = LocalRayCluster.create(env={"PYTHONPATH": str(ROOT)})
        address = cluster.start([{"num_cpus": 2}, {"num_cpus": 2}])
    report: dict = {"load_average_1m_start": round(os.getloadavg()[0], 2)}
    try:
        if "a" in wanted:
            report["a"] = section_a(address, args.runs)
        if "b" in wanted:
            report["b"] = section_b(address, [int(n) for n in args.levels.split(",")], args.rounds)
    finally:
        if "ray" in sys.modules:
            import ray
            if ray.is_initialized():
                ray.shutdown()
        if cluster is not None:
            cluster.stop()
    report.update(archive_latency.run_sections(wanted, args))
    report["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if "a" in report:
        a = report["a"]
        print(f"(a) trivial task, {a['runs']} evaluations each, medians: local process sandbox "
              f"{a['local_process_median_ms']} ms, Ray executor {a['ray_median_ms']} ms, added {a['added_ms']} ms "
              f"(target <= {a['target_ms']:g} ms: {'ok' if a['meets_target'] else 'MISSED'})")
    if "b" in report:
        print("(b) 500 ms I/O-bound evaluations across two raylets")
        print(f"{'in flight':>10}{'evals':>7}{'seconds':>9}{'evals/s':>9}{'ideal':>7}{'ratio':>7}{'nodes':>7}")
        for row in report["b"]["rows"]:
            print(f"{row['in_flight']:>10}{row['evaluations']:>7}{row['seconds']:>9}{row['evals_per_s']:>9}"
                  f"{row['ideal_per_s']:>7g}{row['ratio']:>7}{row['nodes_used']:>7}")
        print(f"target: >= {SCALING_TARGET} x ideal at {report['b']['rows'][-1]['in_flight']}: "
              f"{'ok' if report['b']['meets_target'] else 'MISSED'}")
    for name in ("c", "d", "e"):
        for row in report.get(name, []):
            print(" | ".join(row))
    print(f"load average (1 min): {report['load_average_1m_start']} at start, {report['load_average_1m_end']} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
