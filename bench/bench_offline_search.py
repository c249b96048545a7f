"""Figures of an offline campaign from its archive: crash share, where the time went, what tuning did.

    python bench/bench_offline_search.py evolve.db [more.db ...] [--campaign ID]

Run it on the archives of `evolve run binpack_online --iterations 200 --workers 2 --db X.db`
(with and without a change, same `--seed`) to compare them. It prints, per campaign:
- the share of evaluated offline children that failed (crashed / timeout / oom / invalid /
  rejected), by operator, and the share that failed on a name (NameError, UnboundLocalError,
  a missing entry point) — what def-use-safe edits remove;
- wall clock from the first to the last training evaluation, the summed evaluation seconds and
  the held-out report's evaluations (evaluation seconds vs orchestration);
- constant tuning: probes, duplicates among them, and how often a probe beat its parent;
- the best training score and the held-out report (best program vs the reference baseline).
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sqlite3

LOAD_FAILURES = ("NameError", "UnboundLocalError", "MissingEntryPoint")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def report(db: str, campaign: int | None) -> None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    cid = campaign or con.execute("select max(id) from campaigns").fetchone()[0]
    rows = con.execute(
        "select p.id, p.parent_id, p.operator, p.state, e.status, e.score, e.artifacts, e.wall_time, e.created_at,"
        " e.role from programs p left join evaluations e on e.program_id = p.id where p.campaign_id = ?"
        " order by p.iteration", (cid,)).fetchall()
    train = [r for r in rows if r[9] == "train"]
    children = [r for r in train if r[2] != "seed"]
    failed = [r for r in children if r[4] != "ok"]
    on_a_name = [r for r in failed if any(k in (json.loads(r[6] or "{}").get("message") or "") for k in LOAD_FAILURES)]
    by_operator = collections.Counter(r[2] for r in children)
    failed_by_operator = collections.Counter(r[2] for r in failed)
    print(f"== {db} (campaign {cid})")
    states = dict(con.execute("select state, count(*) from programs where campaign_id = ? group by state",
                              (cid,)).fetchall())
    print(f"programs by state: {states}")
    share = len(failed) / max(1, len(children))
    statuses = collections.Counter(r[4] for r in children)
    print(f"children by status: {dict(statuses)}; crashed: {100 * statuses['crashed'] / max(1, len(children)):.1f} %")
    print(f"evaluated children: {len(children)}; failed: {len(failed)} ({100 * share:.1f} %); "
          f"failed on a name: {len(on_a_name)} ({100 * len(on_a_name) / max(1, len(children)):.1f} %)")
    print("  by operator (failed/evaluated): " + ", ".join(
        f"{op} {failed_by_operator[op]}/{n}" for op, n in by_operator.most_common()))
    times = sorted(_time(r[8]) for r in train)
    evaluation_s = sum(r[7] or 0.0 for r in train)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    reports = [r for r in rows if r[9] == "report"]
    stages = [r for r in rows if r[9] == "stage"]
    print(f"training evaluations: {len(train)} in {span:.0f} s wall (first to last); summed evaluation "
          f"seconds {evaluation_s:.0f} (mean {evaluation_s / max(1, len(train)):.1f} s); "
          f"cascade stage and probe runs: {len(stages)}, {sum(r[7] or 0 for r in stages):.0f} s; "
          f"held-out evaluations of the best: {sum(r[7] or 0 for r in reports):.0f} s")
    scores = {r[0]: r[5] for r in train}
    tuned = [r for r in rows if r[2] == "tune_constants" and r[9] in (None, "train")]
    beat = sum(1 for r in tuned if r[5] is not None and scores.get(r[1]) is not None and r[5] > scores[r[1]])
    print(f"tune_constants probes: {len(tuned)} (duplicates {sum(r[3] == 'duplicate' for r in tuned)}); "
          f"beat their parent: {beat}")
    best = max((r for r in train if r[4] == "ok"), key=lambda r: r[5], default=None)
    if best is not None:
        print(f"best training score: {best[5]:.4f} (program {best[0]}, {best[2]})")
    event = con.execute("select data from events where campaign_id = ? and kind = 'heldout_report' "
                        "order by id desc limit 1", (cid,)).fetchone()
    if event:
        data = json.loads(event[0])
        for who in ("best", "baseline"):
            metrics = data.get(who, {}).get("metrics", {})
            shown = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k.endswith("_pct"))
            print(f"held-out {who}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+")
    parser.add_argument("--campaign", type=int)
    args = parser.parse_args()
    for db in args.db:
        report(db, args.campaign)


if __name__ == "__main__":
    main()
