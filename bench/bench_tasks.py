"""Every built-in task's default offline campaign over seeds, against every baseline on held-out.

    python bench/bench_tasks.py [--tasks binpack_online,...] [--seeds 0,...,9] [--iterations 200]
                                [--workers 2] [--keep DIR] [--json FILE]

Per task and seed: one `evolve run TASK --iterations N --seed S` (a real subprocess, a fresh
archive). What counts is the program the campaign hands the user: the one its held-out report
evaluated (chosen on the validation split where the task has one). Every baseline of the task is
evaluated on the held-out split once (`evolve eval TASK --baseline NAME --split heldout`).

Prints per task: wins / ties / losses of the selected best against the strongest baseline on
held-out (a tie: within 1e-9 relative), the mean margin and its spread, the mean training and
held-out scores and the train -> held-out gap, evaluations and evaluation-seconds spent, wall time.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIE = 1e-9


def evolve(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "evolve", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def baselines_on_heldout(task) -> dict[str, float]:
    scores = {}
    for name in task.spec.baselines:
        done = evolve("eval", task.name, "--baseline", name, "--split", task.spec.heldout_split, "--json")
        if done.returncode != 0:
            raise SystemExit(f"{task.name}: baseline {name} failed: {done.stderr.strip()[-400:]}")
        result = json.loads(done.stdout)
        scores[name] = result.get("score") if isinstance(result, dict) else None
    return {k: v for k, v in scores.items() if v is not None}


def campaign(task: str, seed: int, iterations: int, workers: int, db: Path) -> dict:
    started = time.monotonic()
    done = evolve("run", task, "--iterations", str(iterations), "--workers", str(workers), "--seed", str(seed),
                  "--db", str(db), "--json")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{task} seed {seed}: evolve run failed: {done.stderr.strip()[-800:]}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    report = con.execute("select data from events where kind = 'heldout_report' order by id desc limit 1").fetchone()
    data = json.loads(report[0]) if report else None
    best_id = data["best"]["program_id"] if data else None
    train = con.execute("select score from evaluations where program_id = ? and role = 'train'",
                        (best_id,)).fetchone() if best_id else None
    evaluations, seconds = con.execute("select count(*), coalesce(sum(wall_time), 0) from evaluations").fetchone()
    con.close()
    return {"seed": seed, "wall_s": wall, "heldout": data["best"]["score"] if data else None,
            "train": train[0] if train else None, "evaluations": evaluations, "evaluation_s": seconds}


def summarize(task: str, rows: list[dict], baselines: dict[str, float]) -> dict:
    strongest = max(baselines, key=baselines.get)
    reference = baselines[strongest]
    margins = [r["heldout"] - reference for r in rows if r["heldout"] is not None]
    tol = TIE * max(1.0, abs(reference))
    wins = sum(m > tol for m in margins)
    ties = sum(abs(m) <= tol for m in margins)
    gap = [r["train"] - r["heldout"] for r in rows if r["train"] is not None and r["heldout"] is not None]
    return {"task": task, "seeds": len(rows), "strongest_baseline": strongest, "baseline_heldout": reference,
            "baselines": baselines, "wins": wins, "ties": ties, "losses": len(margins) - wins - ties,
            "mean_margin": statistics.mean(margins) if margins else None,
            "sd_margin": statistics.pstdev(margins) if len(margins) > 1 else 0.0,
            "mean_train": statistics.mean(r["train"] for r in rows if r["train"] is not None),
            "mean_heldout": statistics.mean(r["heldout"] for r in rows if r["heldout"] is not None),
            "mean_gap": statistics.mean(gap) if gap else None,
            "evaluations": statistics.mean(r["evaluations"] for r in rows),
            "evaluation_s": statistics.mean(r["evaluation_s"] for r in rows),
            "wall_s": statistics.mean(r["wall_s"] for r in rows), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", help="comma-separated (default: every built-in task)")
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the archives here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from evaluators.task import builtin_task_names, load_builtin

    names = args.tasks.split(",") if args.tasks else builtin_task_names()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{len(names)} tasks x {len(seeds)} seeds, {args.iterations} iterations, {args.workers} workers, "
          f"{os.cpu_count()} cores, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            task = load_builtin(name)
            baselines = baselines_on_heldout(task)
            rows = []
            for seed in seeds:
                rows.append(campaign(name, seed, args.iterations, args.workers, folder / f"{name}-{seed}.db"))
                r = rows[-1]
                print(f"  {name} seed {seed}: held-out {r['heldout']}, train {r['train']}, {r['evaluations']} "
                      f"evaluations, {r['wall_s']:.0f} s", flush=True)
            summary = summarize(name, rows, baselines)
            results.append(summary)
            print(f"{name}: vs {summary['strongest_baseline']} ({summary['baseline_heldout']:.4g}) on held-out: "
                  f"{summary['wins']} wins / {summary['ties']} ties / {summary['losses']} losses; margin "
                  f"{summary['mean_margin']:+.4g} (sd {summary['sd_margin']:.3g}); train {summary['mean_train']:.4g} "
                  f"-> held-out {summary['mean_heldout']:.4g} (gap {summary['mean_gap']:+.4g}); "
                  f"{summary['evaluations']:.0f} evaluations, {summary['evaluation_s']:.0f} eval-s, "
                  f"{summary['wall_s']:.0f} s per campaign; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
