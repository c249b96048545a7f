"""How long the test suite takes: the full suite (the README's command) or the fast tier, serial or
spread over N processes with pytest-xdist.

    python bench/bench_tests.py --tier fast                   # the edit-test loop's tier
    python bench/bench_tests.py --tier full                   # the README's command
    python bench/bench_tests.py --tier fast --xdist 2         # the same over 2 processes (pytest-xdist)
    python bench/bench_tests.py --paths tests/archive tests/loop --xdist 0,2 --repeats 2

Each run is `python -m pytest -q -p no:cacheprovider [-n N --dist loadfile] [-m FAST] PATHS` in a
subprocess from the repository root, with this checkout first on PYTHONPATH. --xdist N > 0 needs
pytest-xdist (`pip install pytest-xdist==3.8.0`; not a project dependency: BENCHMARKS.md, "Tests").
With several --xdist values the variants alternate, so a change in the machine's load hits them alike. Prints per run the
wall time, pytest's summary line and the load average (1 min) before and after, then the medians.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The fast tier: everything but what needs a Docker engine, a Ray cluster or takes long (markers in
# pyproject.toml; `slow`: 5 s or more per test in a measured full run, BENCHMARKS.md "Tests").
FAST = "not slow and not docker and not ray"


def run_once(paths: list[str], tier: str, workers: int) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if workers:
        command += ["-n", str(workers), "--dist", "loadfile"]
    if tier == "fast":
        command += ["-m", FAST]
    command += paths
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return {"tier": tier, "xdist": workers, "wall_s": round(wall, 1), "exit": result.returncode,
            "summary": lines[-1] if lines else result.stderr.strip()[-300:],
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=["full", "fast"], default="fast")
    parser.add_argument("--paths", nargs="*", default=["tests"], help="test paths (default: tests)")
    parser.add_argument("--xdist", default="0", help="comma-separated process counts; 0 = serial (default 0)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variants = [int(v) for v in args.xdist.split(",")]
    if any(variants) and importlib.util.find_spec("xdist") is None:
        sys.exit("--xdist needs pytest-xdist: pip install pytest-xdist==3.8.0 (or use --xdist 0)")
    runs = []
    for _ in range(args.repeats):
        for workers in variants:
            run = run_once(args.paths, args.tier, workers)
            runs.append(run)
            if not args.json:
                print(f"{args.tier} xdist={workers}: {run['wall_s']} s, exit {run['exit']}, {run['summary']} "
                      f"(load {run['load_before']} -> {run['load_after']})", flush=True)
    medians = {workers: statistics.median(r["wall_s"] for r in runs if r["xdist"] == workers) for workers in variants}
    if args.json:
        print(json.dumps({"runs": runs, "median_wall_s": medians}, indent=2))
    else:
        for workers, wall in medians.items():
            print(f"median {args.tier} xdist={workers}: {wall:.1f} s")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
