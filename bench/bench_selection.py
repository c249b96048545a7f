"""What selection by validation costs and what it buys: the selected best against the training best, on held-out.

    python bench/bench_selection.py [--task binpack_online | --task-dir DIR] [--seeds 0 1 2]
                                    [--iterations 100] [--workers 1] [--top-k 5] [--json]

For every seed, one offline campaign (`evolve run`, the task's held-out report on). From its archive:
the program the campaign hands the user (chosen on validation among the top-k training programs) and
the best training program; when they differ, the training best is scored on held-out too (stored
as a report evaluation, as `evolve` would). Per campaign: both held-out scores, validation
evaluations made and their share of the evaluation-seconds (validation counted, the held-out
report not). The summary: on how many seeds the choice differed, and when it did, wins / ties /
losses of the selected best on held-out and the mean margin.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_one(target: list[str], seed: int, iterations: int, workers: int, top_k: int, tmp: Path) -> dict:
    from archive import Archive, EvaluationRole
    from evolve.campaign import Campaign

    config = tmp / f"{seed}.yaml"
    config.write_text(json.dumps({"selection": {"top_k": top_k}}))
    db = tmp / f"{seed}.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "evolve", "run", *target, "--config", str(config), "--seed", str(seed),
                           "--iterations", str(iterations), "--workers", str(workers), "--db", str(db), "--json"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"seed {seed}: {done.stderr.strip()[-500:]}")
    summary = json.loads(done.stdout)
    report = summary.get("heldout") or {}
    if "best" not in report:
        raise SystemExit(f"seed {seed}: no held-out report (the task needs a held-out split)")
    archive = Archive(str(db))
    campaign = Campaign.open(archive, summary["id"])
    train_best, _ = archive.best(campaign.id)
    split = report["split"]
    heldout = archive.evaluation(train_best.id, split)
    if heldout is None:
        heldout = asyncio.run(campaign.evaluate_report(train_best.id, split))
    with archive.session() as s:
        from archive.schema import Evaluation, Program
        rows = s.query(Evaluation.role, Evaluation.wall_time).join(Program).filter(
            Program.campaign_id == campaign.id, Evaluation.role != EvaluationRole.REPORT.value).all()
    archive.close()
    validation_s = sum(w for role, w in rows if role == EvaluationRole.VALIDATION.value)
    return {"seed": seed, "selected": report["best"]["program_id"], "train_best": train_best.id,
            "selected_heldout": report["best"]["score"], "train_best_heldout": heldout.score,
            "validations": summary.get("validations", 0), "evaluations": summary["evaluated"],
            "validation_share": validation_s / max(1e-9, sum(w for _, w in rows))}


def summarise(rows: list[dict]) -> dict:
    differed = [r for r in rows if r["selected"] != r["train_best"]]
    margins = [r["selected_heldout"] - r["train_best_heldout"] for r in differed]
    return {"seeds": len(rows), "differed": len(differed), "wins": sum(m > 0 for m in margins),
            "ties": sum(m == 0 for m in margins), "losses": sum(m < 0 for m in margins),
            "mean_margin": statistics.mean(margins) if margins else None,
            "mean_validations": statistics.mean(r["validations"] for r in rows),
            "mean_evaluations": statistics.mean(r["evaluations"] for r in rows),
            "mean_validation_share": statistics.mean(r["validation_share"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--task")
    which.add_argument("--task-dir")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    target = [args.task] if args.task else ["--task-dir", args.task_dir]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_one(target, seed, args.iterations, args.workers, args.top_k, Path(tmp)) for seed in args.seeds]
    summary = summarise(rows)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    print(f"{'seed':>4} {'selected':>8} {'train best':>10} {'held-out sel.':>14} {'held-out tr.':>13} "
          f"{'validations':>11} {'evals':>6} {'val. share':>10}")
    for r in rows:
        print(f"{r['seed']:>4} {r['selected']:>8} {r['train_best']:>10} {r['selected_heldout']:>14.6g} "
              f"{r['train_best_heldout']:>13.6g} {r['validations']:>11} {r['evaluations']:>6} "
              f"{100 * r['validation_share']:>9.1f}%")
    margin = "-" if summary["mean_margin"] is None else f"{summary['mean_margin']:+.6g}"
    print(f"choice differed on {summary['differed']} of {summary['seeds']} seeds: held-out wins {summary['wins']}, "
          f"ties {summary['ties']}, losses {summary['losses']}, mean margin {margin}; "
          f"{summary['mean_validations']:.1f} validations per {summary['mean_evaluations']:.1f} training evaluations, "
          f"{100 * summary['mean_validation_share']:.1f}% of evaluation-seconds")


if __name__ == "__main__":
    main()
