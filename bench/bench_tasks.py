"""Every built-in task's default offline campaign over seeds, against every baseline on held-out.

    python bench/bench_tasks.py [--tasks binpack_online,...] [--seeds 0,...,9] [--iterations 200]
                                [--workers 2] [--keep DIR [--reuse]] [--json FILE]

Per task and seed: one `evolve run TASK --iterations N --seed S` (a real subprocess, a fresh
archive). What counts is the program the campaign hands the user: the one its held-out report
evaluated (`heldout_report` event: chosen on the validation split among the top training programs).
Every baseline of the task is evaluated on the held-out split once
(`evolve eval TASK --baseline NAME --split heldout`); the strongest of them is what the best must beat.

Prints per task: wins / ties / losses of the selected best against the strongest baseline on
held-out (a tie: within 1e-9 relative; a best whose held-out run failed, or a campaign without a
report, is a loss), the mean margin with its spread (sd, min, max), the mean train / validation /
held-out scores of the selected best and its generalization gap (held-out minus train, as
`evolve best` prints it), evaluations (every role) and evaluation-seconds spent, wall time. Ends
with one markdown table row per task. Scores are the tasks' `score` (higher is always better).

`--keep DIR` keeps every archive (DIR/TASK-SEED.db) to study with sqlite3 or `evolve best --db`;
with `--reuse` a kept archive whose campaign finished is read instead of run again (campaigns are
deterministic: same code and seed, same campaign).
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


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def baselines_on_heldout(task) -> dict[str, float]:
    scores = {}
    for name in task.spec.baselines:
        done = evolve("eval", task.name, "--baseline", name, "--split", task.spec.heldout_split, "--json")
        try:
            result = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"{task.name}: baseline {name} failed: {done.stderr.strip()[-400:]}") from None
        if result.get("status") != "ok" or result.get("score") is None:
            # never compare against the weaker baselines instead: the table would flatter the search
            raise SystemExit(f"{task.name}: baseline {name} on held-out: {result.get('status')} "
                             f"({(result.get('artifacts') or {}).get('message', '')}); a loaded machine can push a "
                             f"model-backed baseline past its wall-clock limit: run it again when the load is lower")
        scores[name] = float(result["score"])
    return scores


def _score(row: dict | None) -> float | None:
    return row["score"] if row and row.get("status") == "ok" else None


def read_campaign(db: Path) -> dict | None:
    """The finished campaign's selected best on each split and what the campaign spent; None if unfinished."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        state = con.execute("select state from campaigns order by id desc limit 1").fetchone()
        if state is None or state[0] != "finished":
            return None
        report = con.execute("select data from events where kind = 'heldout_report' order by id desc limit 1").fetchone()
        data = json.loads(report[0]) if report else None
        evaluations, seconds = con.execute("select count(*), coalesce(sum(wall_time), 0) from evaluations").fetchone()
        programs = con.execute("select count(*) from programs where operator != 'seed'").fetchone()[0]
    finally:
        con.close()
    splits = (data or {}).get("best", {}).get("splits", {})
    return {"program_id": (data or {}).get("best", {}).get("program_id"),
            "selected_by": (data or {}).get("best", {}).get("selected_by"),
            "heldout_status": (splits.get("heldout") or {}).get("status", "no report"),
            "heldout": _score(splits.get("heldout")), "train": _score(splits.get("train")),
            "validation": _score(splits.get("validation")), "evaluations": evaluations, "evaluation_s": seconds,
            "children": programs}


def campaign(task: str, seed: int, iterations: int, workers: int, db: Path, reuse: bool) -> dict:
    if reuse and db.exists():
        kept = read_campaign(db)
        if kept is not None:
            return {"seed": seed, "wall_s": None, "reused": True, **kept}
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)  # a fresh archive: never a second campaign beside an old one
    started = time.monotonic()
    done = evolve("run", task, "--iterations", str(iterations), "--workers", str(workers), "--seed", str(seed),
                  "--db", str(db), "--json")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{task} seed {seed}: evolve run failed: {done.stderr.strip()[-800:]}")
    figures = read_campaign(db)
    if figures is None:
        raise SystemExit(f"{task} seed {seed}: the campaign in {db} did not finish")
    return {"seed": seed, "wall_s": wall, "reused": False, **figures}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def summarize(task: str, rows: list[dict], baselines: dict[str, float]) -> dict:
    strongest = max(baselines, key=baselines.get)
    reference = baselines[strongest]
    tol = TIE * max(1.0, abs(reference))
    margins = [r["heldout"] - reference if r["heldout"] is not None else None for r in rows]
    scored = [m for m in margins if m is not None]
    wins = sum(m > tol for m in scored)
    ties = sum(abs(m) <= tol for m in scored)
    for row, margin in zip(rows, margins):
        row["margin"] = margin
        row["gap"] = row["heldout"] - row["train"] if None not in (row["heldout"], row["train"]) else None
    return {"task": task, "seeds": len(rows), "strongest_baseline": strongest, "baseline_heldout": reference,
            "baselines": baselines, "wins": wins, "ties": ties, "losses": len(rows) - wins - ties,
            "failed_heldout": len(rows) - len(scored),
            "mean_margin": _mean(scored), "sd_margin": statistics.pstdev(scored) if len(scored) > 1 else 0.0,
            "min_margin": min(scored, default=None), "max_margin": max(scored, default=None),
            "mean_train": _mean(r["train"] for r in rows), "mean_validation": _mean(r["validation"] for r in rows),
            "mean_heldout": _mean(r["heldout"] for r in rows), "mean_gap": _mean(r["gap"] for r in rows),
            "evaluations": _mean(r["evaluations"] for r in rows), "evaluation_s": _mean(r["evaluation_s"] for r in rows),
            "wall_s": _mean(r["wall_s"] for r in rows), "rows": rows}


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def table_row(s: dict) -> str:
    return (f"| {s['task']} | {s['seeds']} | {s['strongest_baseline']} {_fmt(s['baseline_heldout'])} | "
            f"{s['wins']}/{s['ties']}/{s['losses']} | {_fmt(s['mean_margin'], '+.4g')} (sd {_fmt(s['sd_margin'], '.3g')}; "
            f"{_fmt(s['min_margin'], '+.3g')} .. {_fmt(s['max_margin'], '+.3g')}) | {_fmt(s['mean_train'])} / "
            f"{_fmt(s['mean_validation'])} / {_fmt(s['mean_heldout'])} | {_fmt(s['mean_gap'], '+.4g')} | "
            f"{_fmt(s['evaluations'], '.0f')} | {_fmt(s['evaluation_s'], '.0f')} | {_fmt(s['wall_s'], '.0f')} |")


TABLE_HEAD = ("| task | seeds | strongest baseline (held-out) | W/T/L | mean margin (sd; min .. max) | "
              "train / validation / held-out | gap | evaluations | eval-s | wall s |\n"
              "|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", help="comma-separated (default: every built-in task)")
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the archives here (DIR/TASK-SEED.db)")
    parser.add_argument("--reuse", action="store_true", help="read a finished kept archive instead of running it again")
    parser.add_argument("--json", type=Path, help="also write the figures here (rewritten after every task)")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        raise SystemExit("--reuse reads kept archives: give --keep DIR too")
    sys.path.insert(0, str(ROOT))
    from evaluators.task import builtin_task_names, load_builtin

    names = args.tasks.split(",") if args.tasks else builtin_task_names()
    unknown = sorted(set(names) - set(builtin_task_names()))
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(unknown)}: see `evolve tasks`")
    seeds = [int(s) for s in args.seeds.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"{len(names)} tasks x {len(seeds)} seeds, {args.iterations} iterations, {args.workers} workers, "
          f"{os.cpu_count()} cores, commit {commit}, load {load()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            task = load_builtin(name)
            baselines = baselines_on_heldout(task)
            rows = []
            for seed in seeds:
                r = campaign(name, seed, args.iterations, args.workers, folder / f"{name}-{seed}.db", args.reuse)
                rows.append(r)
                print(f"  {name} seed {seed}: held-out {_fmt(r['heldout'])} ({r['heldout_status']}), validation "
                      f"{_fmt(r['validation'])}, train {_fmt(r['train'])}, selected by {r['selected_by']}, "
                      f"{r['children']} children, {r['evaluations']} evaluations, "
                      f"{'reused' if r['reused'] else format(r['wall_s'], '.0f') + ' s'}; load {load()}", flush=True)
            s = summarize(name, rows, baselines)
            results.append({**s, "commit": commit, "iterations": args.iterations})
            print(f"{name}: vs {s['strongest_baseline']} ({s['baseline_heldout']:.4g}) on held-out: "
                  f"{s['wins']} wins / {s['ties']} ties / {s['losses']} losses; margin {_fmt(s['mean_margin'], '+.4g')} "
                  f"(sd {_fmt(s['sd_margin'], '.3g')}); train {_fmt(s['mean_train'])} -> held-out "
                  f"{_fmt(s['mean_heldout'])} (gap {_fmt(s['mean_gap'], '+.4g')}); {_fmt(s['evaluations'], '.0f')} "
                  f"evaluations, {_fmt(s['evaluation_s'], '.0f')} eval-s, {_fmt(s['wall_s'], '.0f')} s per campaign; "
                  f"all baselines {json.dumps({k: round(v, 4) for k, v in baselines.items()})}; load {load()}", flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
    print(TABLE_HEAD)
    for s in results:
        print(table_row(s))


if __name__ == "__main__":
    main()
