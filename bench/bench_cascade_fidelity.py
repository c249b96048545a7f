"""What cascade evaluation and functional hashing got wrong in a real campaign, checked by brute force.

    python bench/bench_cascade_fidelity.py [--task binpack_online] [--seeds 0] [--iterations 100]
        [--workers 2] [--db-dir DIR]

Runs `evolve run TASK` (cascade and hashing on, as by default) once per seed, then evaluates on the
training split every child the campaign did not: each `functional_duplicate` and each `cut` child.
- A merged child whose training score differs from its twin's is a *false merge* (the probe set
  missed a behaviour that training sees). The twin is evaluated too when the campaign did not.
- A cut child that scores above the campaign's best training score at the time it was made is a
  *costly cut*: the stage stopped a child that would have been a new best.
Prints per seed the counts and each offending child, and exits 0 (it measures; it does not judge).
"""
from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_offline_tasks import campaign  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402


async def audit(db: Path, task_name: str, workers: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    code = dict(con.execute("select id, code from programs"))
    merged = con.execute("select id, duplicate_of from programs where state = 'functional_duplicate' "
                         "order by id").fetchall()
    cut = [pid for (pid,) in con.execute("select id from programs where state = 'cut' order by id")]
    train = dict(con.execute("select e.program_id, e.score from evaluations e where e.role = 'train' "
                             "and e.status = 'ok'"))
    failed = {pid for (pid,) in con.execute("select program_id from evaluations where role = 'train' "
                                            "and status != 'ok'")}
    con.close()
    task = load_task(task_name, None)
    sandbox = local_executor("process", workers=workers, jail="auto")
    scores: dict[int, float | None] = {pid: s for pid, s in train.items()}
    scores.update({pid: None for pid in failed})

    async def score(pid: int) -> float | None:
        if pid not in scores:
            result = await sandbox.evaluate(task, code[pid], task.limits, split=task.spec.train_split)
            scores[pid] = result.score if result.ok else None
        return scores[pid]

    try:
        await asyncio.gather(*(score(pid) for pid in {p for pair in merged for p in pair} | set(cut)))
    finally:
        await sandbox.close()
    false_merges = [(pid, twin, scores[pid], scores[twin]) for pid, twin in merged if scores[pid] != scores[twin]]
    costly_cuts = []
    for pid in cut:
        best_before = max((s for p, s in train.items() if p < pid and s is not None), default=None)
        if scores[pid] is not None and best_before is not None and scores[pid] > best_before:
            costly_cuts.append((pid, scores[pid], best_before))
    return {"merged": len(merged), "cut": len(cut), "false_merges": false_merges, "costly_cuts": costly_cuts,
            "best": max((s for s in train.values() if s is not None), default=None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="binpack_online")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db-dir", type=Path, help="keep the campaign archives here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        where = args.db_dir or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        totals = {"merged": 0, "cut": 0, "false_merges": 0, "costly_cuts": 0}
        for seed in (int(s) for s in args.seeds.split(",")):
            db = where / f"{args.task}-seed{seed}.db"
            db.unlink(missing_ok=True)
            campaign(ROOT, [args.task], db, seed, args.iterations, args.workers)
            found = asyncio.run(audit(db, args.task, args.workers))
            print(f"seed {seed}: best train {found['best']:.5g}; {found['merged']} merged, "
                  f"{len(found['false_merges'])} false merges; {found['cut']} cut, "
                  f"{len(found['costly_cuts'])} costly cuts", flush=True)
            for pid, twin, mine, theirs in found["false_merges"]:
                print(f"  false merge: program {pid} scores {mine} on train, its twin {twin} {theirs}")
            for pid, mine, best_before in found["costly_cuts"]:
                print(f"  costly cut: program {pid} scores {mine:.5g} on train, the best before it {best_before:.5g}")
            for key in totals:
                totals[key] += found[key] if isinstance(found[key], int) else len(found[key])
        print(f"total: {totals['merged']} merged, {totals['false_merges']} false merges; "
              f"{totals['cut']} cut, {totals['costly_cuts']} costly cuts")


if __name__ == "__main__":
    main()
