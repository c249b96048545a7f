"""Offline campaigns on a task over several seeds, for comparing two versions of the offline search.

    python bench/bench_offline_tasks.py [--task-dir tests/fixtures/toy_task | --task NAME]
        [--seeds 0,1,2,3,4,5] [--iterations 60] [--workers 2] [--code DIR]

Runs `evolve run` once per seed (a real subprocess, fresh archive each) and prints per seed the
best training score and what became of the children, then the mean and median best score.
`--code DIR` runs the evolve checkout in DIR instead of this one (e.g. a `git worktree` of an
older commit), so two versions can be compared on the same seeds. Task paths are taken from
this checkout, so both versions search the same task.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def campaign(code: Path, task: list[str], db: Path, seed: int, iterations: int, workers: int) -> dict:
    command = [sys.executable, "-m", "evolve", "run", *task, "--iterations", str(iterations),
               "--workers", str(workers), "--seed", str(seed), "--db", str(db), "--json"]
    env = {**os.environ, "PYTHONPATH": str(code)}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"seed {seed}: evolve run failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    states = dict(con.execute("select state, count(*) from programs where iteration > 0 group by state"))
    best = con.execute("select max(e.score) from evaluations e where e.role = 'train' and e.status = 'ok'").fetchone()[0]
    con.close()
    return {"seed": seed, "wall_s": wall, "states": states, "best": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--task-dir", type=Path, default=ROOT / "tests" / "fixtures" / "toy_task")
    which.add_argument("--task", help="a shipped task by name")
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--code", type=Path, default=ROOT, help="the evolve checkout to run (default: this one)")
    args = parser.parse_args()
    task = [args.task] if args.task else ["--task-dir", str(args.task_dir.resolve())]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in (int(s) for s in args.seeds.split(",")):
            row = campaign(args.code.resolve(), task, Path(scratch) / f"seed{seed}.db", seed, args.iterations,
                           args.workers)
            rows.append(row)
            states = " ".join(f"{k} {v}" for k, v in sorted(row["states"].items()))
            print(f"seed {seed}: {row['wall_s']:.0f} s · best {row['best']:.5g} · {states}", flush=True)
    bests = [r["best"] for r in rows]
    print(f"best score over {len(rows)} seeds: mean {statistics.mean(bests):.5g}, median {statistics.median(bests):.5g}"
          f" (min {min(bests):.5g}, max {max(bests):.5g})")


if __name__ == "__main__":
    main()
