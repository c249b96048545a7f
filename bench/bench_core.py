"""Core-loop figures: orchestrator throughput, sandbox overhead per evaluation, storage per 100 programs.

    python bench/bench_core.py [--iterations 200] [--workers 2] [--repeats 30]

Uses the toy task in tests/fixtures/toy_task (an evaluation is one batched call of 32 points),
so the figures measure the machinery, not a scorer.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive import Archive  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.config import build_config  # noqa: E402
from evolve.campaign import Campaign  # noqa: E402
from evolve.loop.controller import Controller  # noqa: E402
from evolve.mutators import OfflineMutator  # noqa: E402
from evolve.executors import local_executor  # noqa: E402
from sandbox.candidate import Candidate  # noqa: E402
from sandbox.jail import Zygote  # noqa: E402
from sandbox.limits import Limits  # noqa: E402

TOY = ROOT / "tests" / "fixtures" / "toy_task"


async def throughput(iterations: int, workers: int, db: str) -> tuple[float, int]:
    config = build_config(None, {"task_dir": str(TOY), "iterations": iterations, "workers": workers,
                                 "heldout_report": False})
    task = load_task(task_dir=TOY)
    archive = Archive(db)
    campaign = Campaign.create(archive, config.model_copy(update={'name': "bench"}))
    sandbox = local_executor("process", workers=workers)
    await sandbox.evaluate(task, task.seed_code)  # start the workers outside the timed region
    controller = Controller(campaign.run_spec(), sandbox, OfflineMutator())
    started = time.perf_counter()
    summary = await controller.run()
    elapsed = time.perf_counter() - started
    await sandbox.close()
    archive.close()
    return summary["evaluated"] / elapsed, summary["evaluated"]


async def sandbox_latency(repeats: int) -> list[float]:
    task = load_task(task_dir=TOY)
    sandbox = local_executor("process", workers=1)
    code = task.baseline_code("zero")
    await sandbox.evaluate(task, code)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = await sandbox.evaluate(task, code)
        times.append(time.perf_counter() - started)
        assert result.ok, result.artifacts
    await sandbox.close()
    return times


def candidate_roundtrip(repeats: int) -> tuple[list[float], list[float]]:
    zygote = Zygote(packages=[])
    spawn, call = [], []
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            candidate = Candidate(zygote, "def f(x):\n    return x\n", "f", Limits(wall_s=10))
            spawned = time.perf_counter()
            for i in range(100):
                candidate.call(i)
            called = time.perf_counter()
            candidate.close()
            spawn.append(spawned - started + (time.perf_counter() - called))
            call.append((called - spawned) / 100)
    finally:
        zygote.close()
    return spawn, call


def db_size(db: str) -> tuple[int, int]:
    with sqlite3.connect(db) as con:
        con.execute("pragma wal_checkpoint(TRUNCATE)")
        programs = con.execute("select count(*) from programs").fetchone()[0]
        con.execute("vacuum")
    return os.path.getsize(db), programs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, large = os.path.join(tmp, "small.db"), os.path.join(tmp, "large.db")
        asyncio.run(throughput(args.iterations // 2, args.workers, small))
        rate, evaluated = asyncio.run(throughput(args.iterations, args.workers, large))
        (size_small, n_small), (size_large, n_large) = db_size(small), db_size(large)
        per_100 = (size_large - size_small) / (n_large - n_small) * 100
    latency = asyncio.run(sandbox_latency(args.repeats))
    spawn, call = candidate_roundtrip(args.repeats)
    print(f"orchestrator throughput: {rate:.1f} evaluations/s ({evaluated} evaluations, offline mutator, toy task, "
          f"{args.workers} workers)")
    print(f"evaluation latency through the process sandbox: median {statistics.median(latency) * 1000:.1f} ms "
          f"(min {min(latency) * 1000:.1f} ms, {args.repeats} runs; worker round trip + jailed candidate "
          f"spawn + 1 batched call + teardown)")
    print(f"candidate spawn + teardown in the jail: median {statistics.median(spawn) * 1000:.2f} ms; "
          f"one call across the boundary: median {statistics.median(call) * 1e6:.0f} us")
    print(f"storage: {per_100 / 1024:.1f} KiB per 100 programs (marginal: {n_large} vs {n_small} programs with "
          f"their evaluations, cells and events; SQLite after VACUUM; {size_large / 1024:.0f} KiB in all)")


if __name__ == "__main__":
    main()
