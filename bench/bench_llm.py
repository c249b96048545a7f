"""Throughput of the LLM mutation loop: a local fake LLM server answering every call after a fixed
latency, a task whose evaluation takes ~50 ms (bench/tasks/sleep50, through the real process
sandbox), N iterations with K calls in flight, run as a real `evolve run` subprocess.

    python bench/bench_llm.py [--iterations 100] [--in-flight 16] [--latency 1.0] [--provider openai]

Reports the wall time of the campaign loop (first LLM call to last evaluation, from the archive's
timestamps) and of the whole command, against the limit

    iterations / in_flight x latency  +  total evaluation time / cores

(the LLM calls cannot go faster than K at a time; the evaluations cannot go faster than one per core).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeLLM  # noqa: E402


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=16, help="LLM calls in flight (proposals)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the server takes per call")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluations in flight")
    parser.add_argument("--provider", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeLLM(latency=args.latency) as fake:
        config = Path(tmp) / "campaign.yaml"
        config.write_text(yaml.safe_dump({
            "llm": [{"provider": args.provider, "model": "bench", "timeout": 30}],
            "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
            "llm_options": {"concurrency": args.in_flight}, "heldout_report": False}))
        db = str(Path(tmp) / "bench.db")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   OPENAI_API_KEY="bench", ANTHROPIC_API_KEY="bench",
                   OPENAI_BASE_URL=fake.openai_url, ANTHROPIC_BASE_URL=fake.anthropic_url)
        command = [sys.executable, "-m", "evolve", "run", "--task-dir", str(ROOT / "bench" / "tasks" / "sleep50"),
                   "--config", str(config), "--iterations", str(args.iterations), "--workers", str(args.workers),
                   "--proposals", str(args.in_flight), "--db", db, "--json"]
        started = time.monotonic()
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        total = time.monotonic() - started
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        summary = json.loads(run.stdout)
        with sqlite3.connect(db) as con:
            first_call = con.execute("select min(started_at) from llm_calls").fetchone()[0]
            last_eval = con.execute("select max(e.created_at) from evaluations e join programs p on p.id = e.program_id "
                                    "where p.iteration > 0").fetchone()[0]
            eval_total, evals = con.execute("select sum(e.wall_time), count(*) from evaluations e join programs p "
                                            "on p.id = e.program_id where p.iteration > 0").fetchone()
            calls = con.execute("select count(*), avg(latency_s), max(latency_s) from llm_calls").fetchone()
            outcomes = dict(con.execute("select outcome, count(*) from llm_calls group by outcome").fetchall())
        loop = _ts(last_eval) - _ts(first_call)
        cores = min(args.workers, os.cpu_count() or 1)
        limit = args.iterations / args.in_flight * args.latency + eval_total / cores
        result = {
            "iterations": args.iterations, "in_flight": args.in_flight, "latency_s": args.latency,
            "workers": args.workers, "cores": cores, "provider": args.provider,
            "llm_calls": calls[0], "call_outcomes": outcomes, "mean_call_s": round(calls[1], 3),
            "max_call_s": round(calls[2], 3), "evaluations": evals,
            "mean_evaluation_s": round(eval_total / max(1, evals), 4), "evaluation_total_s": round(eval_total, 2),
            "limit_s": round(limit, 2), "loop_wall_s": round(loop, 2), "loop_vs_limit": round(loop / limit, 3),
            "command_wall_s": round(total, 2), "command_vs_limit": round(total / limit, 3),
            "target": "loop_wall_s within 1.5x limit_s", "met": loop <= 1.5 * limit,
            "state": summary["state"], "server_requests": len(fake.served()),
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['iterations']} iterations, {result['in_flight']} LLM calls in flight at {args.latency:g} s, "
              f"{result['workers']} workers on {cores} cores ({args.provider} SDK)")
        print(f"  LLM calls {result['llm_calls']} {outcomes}, mean {result['mean_call_s']} s, max {result['max_call_s']} s")
        print(f"  evaluations {evals}, mean {result['mean_evaluation_s']} s, total {result['evaluation_total_s']} s")
        print(f"  limit {args.iterations}/{args.in_flight} x {args.latency:g} s + {result['evaluation_total_s']} s / "
              f"{cores} = {result['limit_s']} s")
        print(f"  campaign loop {result['loop_wall_s']} s = {result['loop_vs_limit']}x the limit "
              f"({'within' if result['met'] else 'NOT within'} 1.5x); whole command incl. startup "
              f"{result['command_wall_s']} s = {result['command_vs_limit']}x")
    return 0 if result["met"] else 2


if __name__ == "__main__":
    sys.exit(main())
