"""How many database round trips a campaign's loop makes per iteration on PostgreSQL: a count, not a time,
so a change that brings back one transaction (or one query) per archive call fails here, on any machine.

A real toy campaign through `Campaign.run` (heartbeat, database thread, evaluation workers) on a real
PostgreSQL database, counted with archive/round_trips.py. The heartbeat, the stop polling and the
progress reports run on a clock, not per iteration: they are left out of the count.

Measured at the commit that added this test (bench/archive_round_trips.py, 60 iterations): 53.1 round
trips per iteration before the loop batched its archive work, 22.5 after; the ceilings leave room for
the timing-dependent part (how many loop passes an iteration takes) and fail well before the old figure.
"""
from __future__ import annotations

import asyncio

from archive import Archive
from archive.round_trips import RoundTrips
from core_support import TOY_TASK
from evolve.campaign import Campaign
from evolve.config import build_config

ITERATIONS = 40
CLOCK_DRIVEN = {"beat", "claim_campaign", "holder", "state", "progress_counts"}
MAX_ROUND_TRIPS_PER_ITERATION = 26   # 22.5 measured (53.1 with a transaction per archive call)
MAX_TRANSACTIONS_PER_ITERATION = 2.5  # about 2: one loop step for the proposal, one for the verdict


def test_the_loop_makes_few_round_trips_per_iteration_on_postgresql(pg_url):
    archive = Archive(pg_url)
    try:
        config = build_config(None, {"task_dir": str(TOY_TASK), "iterations": ITERATIONS, "workers": 2,
                                     "heldout_report": False, "seed": 3})
        campaign = Campaign.create(archive, config)
        trips = RoundTrips().attach(archive)
        outcome = asyncio.run(campaign.run())
        assert outcome.summary["state"] == "finished" and outcome.summary["iterations_done"] == ITERATIONS
    finally:
        archive.close()
    counted = {label: counts for label, counts in trips.counts.items() if label not in CLOCK_DRIVEN}
    round_trips = sum(sum(c.values()) for c in counted.values()) / ITERATIONS
    transactions = sum(c["commit"] + c["rollback"] for c in counted.values()) / ITERATIONS
    assert round_trips <= MAX_ROUND_TRIPS_PER_ITERATION, (round_trips, {k: dict(v) for k, v in counted.items()})
    assert transactions <= MAX_TRANSACTIONS_PER_ITERATION, (transactions, {k: dict(v) for k, v in counted.items()})
    # every verdict was stored, and by the loop's steps, not by a transaction of its own
    assert trips.calls["record_training"] == ITERATIONS + 1
    assert sum(trips.counts["record_training"][k] for k in ("begin", "commit")) == 0
