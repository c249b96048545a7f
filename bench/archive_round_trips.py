"""Database round trips per iteration of a toy campaign, by loop step (a count, not a time).

    python bench/archive_round_trips.py [--db URL] [--iterations 60] [--workers 2] [--json]

Runs an offline campaign on tests/fixtures/toy_task through `Campaign.run` (heartbeat, database
thread, local evaluation workers: the real path) on PostgreSQL (--db, else $EVOLVE_TEST_PG_URL,
else a throwaway server from tests/pg_support.py) and counts round trips with
archive/round_trips.py, grouped into the loop's steps. Each round trip costs a full network
round trip on a remote server: this is the number the latency sweep in
bench/archive_latency.py (section e) multiplies.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from archive import Archive  # noqa: E402
from archive.round_trips import RoundTrips  # noqa: E402

TOY = ROOT / "tests" / "fixtures" / "toy_task"

# which loop step each archive call belongs to (anything unlisted: "other")
STEPS = {
    "prepare": {"elites_by_island", "elites_at", "program_views", "recent_attempts", "operator_states",
                "children_by_operator", "recent_children_by_operator", "occupied_keys", "prepare_reads",
                "front_points"},
    "commit": {"add_program", "add_programs"},
    "record_training": {"record_training", "record_stage", "set_fingerprint", "find_fingerprint",
                        "mark_functional_duplicate", "mark_cut", "program"},
    "apply": {"apply", "apply_through", "quality_diversity", "log_event", "migrate", "qd_snapshots",
              "commit_iteration"},
    "validation": {"validation_statuses", "training_verdicts", "record_validation"},
    "heartbeat": {"beat", "claim_campaign", "holder"},
    "progress and stop polling": {"progress_counts", "state"},
    # BEGIN and COMMIT of the loop's batched steps (Archive.transaction), made outside any one call
    "step transactions": {"other"},
}


def step_of(method: str) -> str:
    return next((step for step, methods in STEPS.items() if method in methods), "start and end")


def count_campaign(db: str, iterations: int, workers: int, name: str = "round-trips") -> dict:
    from evolve.campaign import Campaign
    from evolve.config import build_config

    config = build_config(None, {"task_dir": str(TOY), "iterations": iterations, "workers": workers,
                                 "heldout_report": False, "name": name})
    archive = Archive(db)
    try:
        campaign = Campaign.create(archive, config)
        trips = RoundTrips().attach(archive)
        asyncio.run(campaign.run())
    finally:
        archive.close()
    steps: dict[str, int] = {}
    for method, count in trips.by_label().items():
        steps[step_of(method)] = steps.get(step_of(method), 0) + count
    loop_steps = {k: v for k, v in steps.items() if k not in ("start and end",)}
    return {"iterations": iterations, "total": trips.total(),
            "per_iteration": round(sum(loop_steps.values()) / iterations, 2),
            "steps_per_iteration": {k: round(v / iterations, 2) for k, v in sorted(steps.items())},
            "methods": {m: {"calls": trips.calls[m], **dict(c)} for m, c in sorted(trips.counts.items())}}


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import pg_support

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="archive URL (default: a fresh PostgreSQL database)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        db = args.db
        if db is None:
            import os
            import tempfile
            admin = os.environ.get(pg_support.ENV_URL)
            if not admin:
                root = tempfile.mkdtemp(prefix="evolve-bench-pg-")
                stack.callback(pg_support.stop_cluster, root)
                admin = pg_support.start_cluster(root)
            db = pg_support.create_database(admin, prefix="evolve_bench")
            stack.callback(pg_support.drop_database, admin, db)
        report = count_campaign(db, args.iterations, args.workers)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['iterations']} iterations, {report['total']} round trips in all, "
          f"{report['per_iteration']} per iteration in the loop's steps")
    for step, count in report["steps_per_iteration"].items():
        print(f"  {step:<28}{count:>8} per iteration")
    print("by archive call (calls; statement / begin / commit / rollback / ping round trips):")
    for method, c in report["methods"].items():
        print(f"  {method:<28}{c['calls']:>5}  " + " / ".join(str(c.get(k, 0)) for k in
                                                        ("statement", "begin", "commit", "rollback", "ping")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
