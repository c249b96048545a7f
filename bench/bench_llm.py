"""Throughput of the LLM mutation loop: a local fake LLM server answering every call after a fixed
latency, a task whose evaluation takes ~50 ms (bench/tasks/sleep50, through the real process
sandbox), N iterations with K calls in flight, run as a real `evolve run` subprocess.

    python bench/bench_llm.py [--iterations 100] [--in-flight 16|auto] [--latency 1.0] [--provider openai]
    python bench/bench_llm.py --sweep 2,4,8,16,32,auto [--rate-limit 8] [--repeats 3]

`--in-flight auto` leaves `proposals` unset: the campaign's adaptive window decides. `--sweep`
runs one campaign per setting, side by side, and compares the default (auto) with the best
fixed setting (median loop time over `--repeats` rounds, each round running every setting once);
`--rate-limit N` makes the server answer 429 beyond N concurrent requests; `--server-slots N` makes it
work on N at a time and queue the rest (latency grows with concurrency, like a local inference
server). Besides times it reports the 429s the server sent, the requests it received and those it
answered (200) against the iterations.

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


def campaign(args, in_flight: str) -> dict:
    """One `evolve run` against the fake server; in_flight is a number or "auto"."""
    auto = in_flight == "auto"
    with tempfile.TemporaryDirectory() as tmp, FakeLLM(latency=args.latency, max_concurrent=args.rate_limit,
                                                     slots=args.server_slots) as fake:
        config = Path(tmp) / "campaign.yaml"
        config.write_text(yaml.safe_dump({
            "llm": [{"provider": args.provider, "model": "bench", "timeout": 30}],
            "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
            "llm_options": {} if auto else {"concurrency": int(in_flight)}, "heldout_report": False}))
        db = str(Path(tmp) / "bench.db")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   OPENAI_API_KEY="bench", ANTHROPIC_API_KEY="bench",
                   OPENAI_BASE_URL=fake.openai_url, ANTHROPIC_BASE_URL=fake.anthropic_url)
        command = [sys.executable, "-m", "evolve", "run", "--task-dir", str(ROOT / "bench" / "tasks" / "sleep50"),
                   "--config", str(config), "--iterations", str(args.iterations), "--workers", str(args.workers),
                   "--db", db, "--json"] + ([] if auto else ["--proposals", str(in_flight)])
        started = time.monotonic()
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        total = time.monotonic() - started
        if run.returncode != 0:
            raise SystemExit(run.stderr)
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
        k = args.iterations if auto else int(in_flight)
        limit = args.iterations / k * args.latency + eval_total / cores
        return {
            "iterations": args.iterations, "in_flight": in_flight, "latency_s": args.latency,
            "workers": args.workers, "cores": cores, "provider": args.provider, "rate_limit": args.rate_limit,
            "llm_calls": calls[0], "call_outcomes": outcomes, "rate_limited": fake_429(fake),
            "mean_call_s": round(calls[1], 3), "max_call_s": round(calls[2], 3), "evaluations": evals,
            "mean_evaluation_s": round(eval_total / max(1, evals), 4), "evaluation_total_s": round(eval_total, 2),
            "limit_s": round(limit, 2), "loop_wall_s": round(loop, 2), "loop_vs_limit": round(loop / limit, 3),
            "command_wall_s": round(total, 2), "command_vs_limit": round(total / limit, 3),
            "target": "loop_wall_s within 1.5x limit_s", "met": loop <= 1.5 * limit,
            "state": summary["state"], "server_requests": len(fake.served()),
            "server_answered": sum(1 for entry in fake.served() if entry["status"] == 200),
        }


def fake_429(fake: FakeLLM) -> int:
    return sum(1 for entry in fake.served() if entry["status"] == 429)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def sweep(args) -> int:
    """Every setting once per round, rounds repeated (side by side: a load change hits all settings alike)."""
    settings = [s.strip() for s in args.sweep.split(",") if s.strip()]
    runs: dict[str, list[dict]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for setting in settings:
            runs[setting].append(campaign(args, setting))
    rows = [{"in_flight": s, "loop_wall_s": _median([r["loop_wall_s"] for r in rs]),
             "loops_s": [r["loop_wall_s"] for r in rs],
             "command_wall_s": _median([r["command_wall_s"] for r in rs]),
             "rate_limited": _median([r["rate_limited"] for r in rs]),
             "rate_limited_each": [r["rate_limited"] for r in rs],
             "server_requests": _median([r["server_requests"] for r in rs]),
             "server_answered": _median([r["server_answered"] for r in rs]),
             "mean_call_s": _median([r["mean_call_s"] for r in rs]),
             "other_outcomes": [{k: v for k, v in r["call_outcomes"].items() if k not in ("ok", "rate_limited")}
                                for r in rs]} for s, rs in runs.items()]
    fixed = [r for r in rows if r["in_flight"] != "auto"]
    best = min(fixed, key=lambda r: r["loop_wall_s"]) if fixed else None
    if args.json:
        print(json.dumps({"medians": rows, "best_fixed": best and best["in_flight"], "repeats": args.repeats,
                          "runs": runs}, indent=2))
        return 0
    print(f"{args.iterations} iterations at {args.latency:g} s per call, {args.workers} workers, "
          f"{args.repeats} rounds (medians)"
          + (f", server rate limit {args.rate_limit} concurrent" if args.rate_limit else "")
          + (f", server works on {args.server_slots} at a time" if args.server_slots else ""))
    print(f"{'in flight':>9} {'loop s':>8} {'each round':>24} {'command s':>10} {'429s':>6} {'429s each':>14} "
          f"{'requests':>9} {'answered':>9} {'call s':>7}")
    for r in rows:
        each = "/".join(f"{v:.2f}" for v in r["loops_s"])
        print(f"{r['in_flight']:>9} {r['loop_wall_s']:8.2f} {each:>24} {r['command_wall_s']:10.2f} "
              f"{r['rate_limited']:6g} {'/'.join(map(str, r['rate_limited_each'])):>14} {r['server_requests']:9g} "
              f"{r['server_answered']:9g} {r['mean_call_s']:7.2f}"
              + "".join(f"  round {i + 1}: {o}" for i, o in enumerate(r["other_outcomes"]) if o))
    auto = next((r for r in rows if r["in_flight"] == "auto"), None)
    if auto and best:
        print(f"default (auto) / best fixed ({best['in_flight']}): {auto['loop_wall_s'] / best['loop_wall_s']:.3f} "
              f"(target <= 1.10); median 429s auto {auto['rate_limited']:g} vs best fixed {best['rate_limited']:g}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--in-flight", default="16", help="LLM calls in flight (proposals), or auto")
    parser.add_argument("--sweep", help="comma-separated in-flight settings to compare, e.g. 2,4,8,16,32,auto")
    parser.add_argument("--rate-limit", type=int, default=None, help="server answers 429 beyond this many concurrent calls")
    parser.add_argument("--server-slots", type=int, default=None,
                        help="server works on this many calls at a time, the others queue (a local inference server)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the server takes per call")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluations in flight")
    parser.add_argument("--provider", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the sweep; medians are reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    if args.sweep:
        return sweep(args)
    result = campaign(args, args.in_flight)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['iterations']} iterations, {result['in_flight']} LLM calls in flight at {args.latency:g} s, "
              f"{result['workers']} workers on {result['cores']} cores ({args.provider} SDK)")
        print(f"  LLM calls {result['llm_calls']} {result['call_outcomes']}, mean {result['mean_call_s']} s, max {result['max_call_s']} s")
        print(f"  evaluations {result['evaluations']}, mean {result['mean_evaluation_s']} s, total {result['evaluation_total_s']} s")
        print(f"  limit {args.iterations}/{args.in_flight} x {args.latency:g} s + {result['evaluation_total_s']} s / "
              f"{result['cores']} = {result['limit_s']} s")
        print(f"  campaign loop {result['loop_wall_s']} s = {result['loop_vs_limit']}x the limit "
              f"({'within' if result['met'] else 'NOT within'} 1.5x); whole command incl. startup "
              f"{result['command_wall_s']} s = {result['command_vs_limit']}x")
    return 0 if result["met"] else 2


if __name__ == "__main__":
    sys.exit(main())
