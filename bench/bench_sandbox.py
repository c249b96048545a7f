"""Per-evaluation overhead of each sandbox, side by side, on a trivial task.

    python bench/bench_sandbox.py [--runs 30] [--skip-docker]

process jail : a warm process pool (bubblewrap jail when available), one evaluation at a time
docker warm  : a warm Docker pool of one container, reused across evaluations
docker cold  : a new Docker pool each time: container create + start + worker hello +
               evaluation (teardown, which an evaluation does not wait for, reported apart)

Each evaluation forks a fresh candidate, loads the program, makes one call and tears the
candidate down (strays killed, scratch wiped). Targets: warm <= 60 ms, process jail <= 25 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402
from evaluators.contract import Status  # noqa: E402

TASK = load_task(task_dir=Path(__file__).resolve().parent / "trivial_task")
TARGETS_MS = {"process jail": 25.0, "docker warm": 60.0}


async def _timed(sandbox) -> float:
    started = time.perf_counter()
    result = await sandbox.evaluate(TASK, TASK.seed_code)
    elapsed = time.perf_counter() - started
    if result.status is not Status.OK or result.score != 1.0:
        raise RuntimeError(f"benchmark evaluation failed: {result.status.value} {result.artifacts}")
    return elapsed


async def warm(sandbox, runs: int, warmup: int = 3) -> list[float]:
    try:
        for _ in range(warmup):
            await _timed(sandbox)
        return [await _timed(sandbox) for _ in range(runs)]
    finally:
        await sandbox.close()


async def cold(runs: int, **options) -> tuple[list[float], list[float]]:
    evaluations, teardowns = [], []
    for _ in range(runs):
        sandbox = local_executor("docker", workers=1, **options)
        evaluations.append(await _timed(sandbox))
        started = time.perf_counter()
        await sandbox.close()
        teardowns.append(time.perf_counter() - started)
    return evaluations, teardowns


def summary(samples: list[float]) -> dict:
    ms = sorted(1000 * s for s in samples)
    return {"median_ms": round(statistics.median(ms), 1), "p10_ms": round(ms[len(ms) // 10], 1),
            "p90_ms": round(ms[(9 * len(ms)) // 10], 1), "runs": len(ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument("--image", help="sandbox image (default: the one for this checkout)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows: dict[str, dict] = {}
    rows["process jail"] = summary(asyncio.run(warm(local_executor("process", workers=1, jail="auto"), args.runs)))
    if not args.skip_docker:
        from evolve.executors.docker_image import image_tag
        options = {"image": args.image or image_tag()}  # fixed once: others may edit the tree meanwhile
        rows["docker warm"] = summary(asyncio.run(warm(local_executor("docker", workers=1, **options), args.runs)))
        evaluations, teardowns = asyncio.run(cold(args.cold_runs, **options))
        rows["docker cold"] = summary(evaluations)
        rows["docker cold"]["teardown_median_ms"] = round(1000 * statistics.median(teardowns), 1)
    for name, target in TARGETS_MS.items():
        if name in rows:
            rows[name]["target_ms"] = target
            rows[name]["meets_target"] = rows[name]["median_ms"] <= target
    rows["load_average_1m"] = round(__import__("os").getloadavg()[0], 2)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'backend':<14}{'median':>10}{'p10':>10}{'p90':>10}  target")
        for name, row in rows.items():
            if not isinstance(row, dict):
                print(f"{name}: {row}")
                continue
            target = f"<= {row['target_ms']:g} ms {'ok' if row['meets_target'] else 'MISSED'}" if "target_ms" in row else ""
            extra = f"  (teardown {row['teardown_median_ms']} ms)" if "teardown_median_ms" in row else ""
            print(f"{name:<14}{row['median_ms']:>8} ms{row['p10_ms']:>7} ms{row['p90_ms']:>7} ms  {target}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
