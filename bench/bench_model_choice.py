"""Adaptive model choice against the fixed weights, side by side: two models on two local stand-in
servers (tests/llm_server.py, real SDKs), one answering usable edits, one answering edits that never
apply, equal weights and prices; a real `evolve run` on tests/fixtures/toy_task per run.

    python bench/bench_model_choice.py [--runs 3] [--iterations 40]

Prints, per mode (`model_choice: adaptive` / `weights`) and seed, how many of the first 40 logged
calls went to the good model, the good model's improvements, and the median over seeds.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeLLM  # noqa: E402

PRICE = {"input": 3.0, "output": 15.0}


def run_once(mode: str, seed: int, iterations: int, workdir: Path) -> tuple[int, int, int]:
    with FakeLLM(default="valid") as good, FakeLLM(default="unmatched") as bad:
        config = {"llm": [{"provider": "openai", "model": "good-model", "base_url": good.openai_url, "timeout": 10},
                          {"provider": "anthropic", "model": "bad-model", "base_url": bad.anthropic_url,
                           "timeout": 10}],
                  "prices": {"good-model": PRICE, "bad-model": PRICE},
                  "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
                  "llm_options": {"backoff_s": 0.05, "max_retries": 1, "edit_retries": 1, "model_choice": mode}}
        path = workdir / f"{mode}-{seed}.yaml"
        path.write_text(yaml.safe_dump(config))
        db = workdir / f"{mode}-{seed}.db"
        env = dict(os.environ, OPENAI_API_KEY="sk-bench", ANTHROPIC_API_KEY="sk-bench",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        subprocess.run([sys.executable, "-m", "evolve", "run", "--task-dir", str(ROOT / "tests/fixtures/toy_task"),
                        "--config", str(path), "--iterations", str(iterations), "--workers", "2", "--proposals", "2",
                        "--seed", str(seed), "--db", str(db), "--json"], env=env, check=True, capture_output=True)
    with sqlite3.connect(db) as con:
        first = [m for (m,) in con.execute("select model from llm_calls order by id limit 40")]
        improved = con.execute(
            "select count(distinct c.program_id) from llm_calls c join events e on e.program_id = c.program_id "
            "where c.outcome = 'ok' and c.model = 'good-model' and e.kind in ('new_elite', 'new_best')").fetchone()[0]
    return first.count("good-model"), len(first), improved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=40)  # at least one call each
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("adaptive", "weights"):
            shares = []
            for seed in range(args.runs):
                to_good, calls, improved = run_once(mode, seed, args.iterations, Path(tmp))
                shares.append(to_good)
                print(f"{mode:8s} seed {seed}: {to_good}/{calls} of the first calls to the good model, "
                      f"its improvements {improved}", flush=True)
            print(f"{mode:8s} median {statistics.median(shares)} of the first 40 calls to the good model")


if __name__ == "__main__":
    main()
