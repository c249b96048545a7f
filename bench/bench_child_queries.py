"""What the offline search's per-iteration reads of earlier children cost as a campaign grows.

    python bench/bench_child_queries.py [--programs 1000 10000] [--parents-share 0.1] [--repeats 200]

Each offline iteration reads, on the database thread (evolve/loop/controller.py `_prepare`):
  children_by_operator          the parent's children by program-level operators (constant tuning)
  recent_children_by_operator   the campaign's latest 200 children by learning operators (grow_expression)
  operator_states               how the parent's and the campaign's children ended, per operator
This builds a SQLite archive of `--programs` children (parents: the first `--parents-share` of them,
operators and states drawn like a real binpack campaign's), then times each query for random parents
(median and p90 in ms). An index on programs (campaign_id, parent_id) was tried with this bench and
gained next to nothing (decoding the rows, not finding them, is the cost), so the archive does not
have it (the figures: BENCHMARKS.md, "The core").
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive import Archive  # noqa: E402
from evolve.mutators import HISTORY_OPERATORS, LEARNING_OPERATORS  # noqa: E402

OPERATORS = {"grow_expression": 0.4, "perturb_constant": 0.2, "tune_constants": 0.15, "swap_binop": 0.1,
             "duplicate_statement": 0.06, "crossover_statement": 0.06, "delete_statement": 0.03}
STATES = {"functional_duplicate": 0.5, "evaluated": 0.3, "cut": 0.2}


def build(path: Path, programs: int, parents_share: float, seed: int = 0) -> tuple[int, list[int]]:
    rng = random.Random(seed)
    archive = Archive(str(path))
    try:
        campaign = archive.create_campaign(name="bench", task_name="t", task_dir=None, config={}, seed=0,
                                           iterations=programs).id
        seed_id = archive.add_program(campaign, iteration=0, code="x = 0", code_hash="0", parent_id=None,
                                      inspiration_ids=[], mutator="seed", operator="seed", edit={}, generation=0,
                                      island=0, state="evaluated")
    finally:
        archive.close()
    parents = [seed_id]
    with sqlite3.connect(path) as con:  # one transaction: the Archive API commits per program
        next_id = con.execute("select max(id) from programs").fetchone()[0] + 1
        rows = []
        for i in range(1, programs + 1):
            operator = rng.choices(list(OPERATORS), list(OPERATORS.values()))[0]
            state = rng.choices(list(STATES), list(STATES.values()))[0]
            rows.append((next_id, campaign, i, rng.choice(parents), "[]", f"x = {i}", str(i), "offline", operator,
                         '{"details": {"term": [5, "remaining"]}}', 1, 0, state))
            if i <= programs * parents_share:
                parents.append(next_id)
            next_id += 1
        con.executemany("insert into programs (id, campaign_id, iteration, parent_id, inspiration_ids, code, "
                        "code_hash, mutator, operator, edit, generation, island, state, created_at) "
                        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, datetime('now'))", rows)
    return campaign, parents


def time_queries(path: Path, campaign: int, parents: list[int], repeats: int) -> dict[str, list[float]]:
    archive = Archive(str(path))
    rng = random.Random(1)
    times: dict[str, list[float]] = {"children_by_operator": [], "recent_children_by_operator": [],
                                     "operator_states": []}
    try:
        for _ in range(repeats):
            parent = rng.choice(parents)
            for name, call in (("children_by_operator",
                                lambda: archive.children_by_operator(campaign, parent, HISTORY_OPERATORS)),
                               ("recent_children_by_operator",
                                lambda: archive.recent_children_by_operator(campaign, LEARNING_OPERATORS)),
                               ("operator_states", lambda: archive.operator_states(campaign, parent))):
                started = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - started) * 1000)
    finally:
        archive.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--parents-share", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"{'programs':>8} {'query':28} {'median':>10} {'p90':>9}")
    for programs in args.programs:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            campaign, parents = build(path, programs, args.parents_share)
            times = time_queries(path, campaign, parents, args.repeats)
        for name, values in times.items():
            ordered = sorted(values)
            print(f"{programs:8d} {name:28} {statistics.median(ordered):7.3f} ms {ordered[len(ordered) * 9 // 10]:6.3f} ms",
                  flush=True)


if __name__ == "__main__":
    main()
