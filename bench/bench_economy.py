"""What cascade evaluation and functional hashing save: the same campaigns with and without them.

    python bench/bench_economy.py [--tasks binpack_online spot_scheduling] [--seeds 0 1 2]
                                  [--iterations 200] [--workers 2] [--json]

For every task and seed, four offline campaigns (`evolve run`, same seed and iterations) differ
only in `cascade:` and `functional_hashing:`. Per campaign it reads the archive: evaluation-seconds
(sum of the wall time of every evaluation of the children: probe runs, stages, training, validation;
the held-out report is not counted), best train score, the held-out score of the best program, and the
share of children cut, functionally merged and crashed. The summary gives, per task, the mean over
seeds and the saving of each variant against the plain one (goal for cascade + hashing: at least
40 % fewer evaluation-seconds for a best score at least as good).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"plain": (False, False), "cascade": (True, False), "hashing": (False, True), "both": (True, True)}


def run_one(task: str, seed: int, iterations: int, workers: int, variant: str, tmp: Path) -> dict:
    cascade, hashing = VARIANTS[variant]
    config = tmp / f"{task}-{seed}-{variant}.yaml"
    config.write_text(json.dumps({"cascade": cascade, "functional_hashing": hashing}))
    db = tmp / f"{task}-{seed}-{variant}.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "evolve", "run", task, "--config", str(config), "--seed", str(seed),
                           "--iterations", str(iterations), "--workers", str(workers), "--db", str(db), "--json"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{task} seed {seed} {variant}: {done.stderr.strip()[-500:]}")
    summary = json.loads(done.stdout)
    with sqlite3.connect(db) as con:
        seconds = con.execute("select coalesce(sum(e.wall_time), 0) from evaluations e join programs p "
                              "on p.id = e.program_id where p.iteration > 0 and e.role != 'report'").fetchone()[0]
        states = dict(con.execute("select state, count(*) from programs where iteration > 0 group by state"))
        crashed = con.execute("select count(*) from evaluations e join programs p on p.id = e.program_id "
                              "where p.iteration > 0 and e.role = 'train' and e.status != 'ok'").fetchone()[0]
    children = max(1, sum(states.values()))
    heldout = (summary.get("heldout") or {}).get("best") or {}
    return {"task": task, "seed": seed, "variant": variant, "evaluation_s": round(seconds, 2),
            "best_train": summary["best_score"], "heldout": heldout.get("score"),
            "cut": states.get("cut", 0) / children, "merged": states.get("functional_duplicate", 0) / children,
            "failed": crashed / children}


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        plain = [r for r in rows if r["task"] == task and r["variant"] == "plain"]
        base_s = statistics.mean(r["evaluation_s"] for r in plain)
        base_best = statistics.mean(r["best_train"] for r in plain)
        for variant in VARIANTS:
            mine = [r for r in rows if r["task"] == task and r["variant"] == variant]
            if not mine:
                continue
            mean = lambda key: statistics.mean(r[key] for r in mine if r[key] is not None)  # noqa: E731
            out.append({"task": task, "variant": variant, "seeds": len(mine), "evaluation_s": round(mean("evaluation_s"), 2),
                        "saving": round(1 - mean("evaluation_s") / base_s, 3) if base_s else None,
                        "best_train": round(mean("best_train"), 5), "best_vs_plain": round(mean("best_train") - base_best, 5),
                        "heldout": round(mean("heldout"), 5) if any(r["heldout"] is not None for r in mine) else None,
                        "cut": round(mean("cut"), 3), "merged": round(mean("merged"), 3), "failed": round(mean("failed"), 3)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["binpack_online", "spot_scheduling"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            for seed in args.seeds:
                for variant in args.variants:
                    rows.append(run_one(task, seed, args.iterations, args.workers, variant, Path(tmp)))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    table = summarise(rows)
    if args.json:
        print(json.dumps({"runs": rows, "summary": table}, indent=2))
        return 0
    print(f"{args.iterations} iterations, {args.workers} workers, seeds {args.seeds}; means over seeds")
    print(f"{'task':16} {'variant':8} {'eval s':>8} {'saving':>7} {'best train':>11} {'Δ vs plain':>11} "
          f"{'held-out':>9} {'cut':>6} {'merged':>7} {'failed':>7}")
    for r in table:
        print(f"{r['task']:16} {r['variant']:8} {r['evaluation_s']:8.1f} {r['saving']:7.1%} {r['best_train']:11.5g} "
              f"{r['best_vs_plain']:11.4g} {r['heldout'] if r['heldout'] is not None else '-':>9} "
              f"{r['cut']:6.1%} {r['merged']:7.1%} {r['failed']:7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
