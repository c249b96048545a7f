"""What the deterministic schedule costs in wall time, from a finished campaign's own evaluation times.

    python bench/bench_schedule_cost.py ARCHIVE.db [ARCHIVE.db ...] [--workers 2] [--lags 0,1,2,4,8,16]

A wall-time ratio measured on a shared machine follows its load more than the loop. This replays a
campaign's recorded work on W simulated workers: iteration i's work is the CPU seconds of its
evaluations (cascade stages, training, validation: CPU time, so the load that slowed the recording
does not count), and the real `Schedule` (evolve/loop/schedule.py) decides when each iteration may
start (its horizon applied) with lag L. The reference is the same work with no order at all: any
waiting iteration starts as soon as a worker is free. Prints the makespan ratio per lag, and how
busy the workers were. What it leaves out: the controller's own time per iteration (milliseconds:
bench/bench_loop.py) and a functional duplicate's probe run, which the archive does not time.
"""
from __future__ import annotations

import argparse
import heapq
import sqlite3
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.loop.schedule import Schedule  # noqa: E402


def work_per_iteration(db: Path) -> list[float]:
    """CPU seconds of each iteration's evaluations, by iteration (0 = the seed)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("select p.iteration, coalesce(sum(e.cpu_time), 0) from programs p left join evaluations e "
                       "on e.program_id = p.id and e.role in ('stage', 'train', 'validation') "
                       "group by p.iteration order by p.iteration").fetchall()
    con.close()
    work = [0.0] * (rows[-1][0] + 1)
    for iteration, seconds in rows:
        work[iteration] = float(seconds)
    return work


def makespan(work: list[float], workers: int, lag: int | None) -> float:
    """Wall time of `work` on `workers`; lag None: no order (an iteration starts whenever a worker is free)."""
    last = len(work) - 1
    if lag is None:
        free = [0.0] * workers
        for seconds in work:
            start = heapq.heappop(free)
            heapq.heappush(free, start + seconds)
        return max(free)
    schedule = Schedule(lag, last, sees_earlier_proposals=True)
    now, running, ready, idle = 0.0, [], [], workers
    while not schedule.finished:
        moved = True
        while moved:  # preparing j+lag lets j apply, which lets the next iteration be prepared
            moved = False
            while schedule.may_prepare():
                i = schedule.prepared()
                schedule.committed(i)
                heapq.heappush(ready, i)
                moved = True
            while schedule.may_apply():
                schedule.applied()
                moved = True
        if schedule.finished:
            break
        while ready and idle:
            i = heapq.heappop(ready)
            heapq.heappush(running, (now + work[i], i))
            idle -= 1
        if not running:
            raise RuntimeError("the schedule stalled with nothing running")
        now, i = heapq.heappop(running)
        idle += 1
        schedule.decide(i)
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archives", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lags", default="0,1,2,4,8,16")
    args = parser.parse_args()
    lags = [int(x) for x in args.lags.split(",")]
    ratios: dict[int, list[float]] = {lag: [] for lag in lags}
    print(f"{'archive':<28} {'iters':>5} {'work s':>8} {'no order s':>10} " + " ".join(f"{'lag ' + str(l):>8}" for l in lags))
    for db in args.archives:
        work = work_per_iteration(db)
        free = makespan(work, args.workers, None)
        row = []
        for lag in lags:
            ratio = makespan(work, args.workers, lag) / free
            ratios[lag].append(ratio)
            row.append(f"{ratio:8.3f}")
        print(f"{db.name:<28} {len(work) - 1:>5} {sum(work):8.1f} {free:10.1f} " + " ".join(row))
    print(f"median makespan ratio to no order, {args.workers} workers: "
          + ", ".join(f"lag {lag} {statistics.median(r):.3f}" for lag, r in ratios.items()))


if __name__ == "__main__":
    main()
