"""Time every TUI screen's open on an archive of 100,000 programs (headless Pilot).

    python bench/bench_tui.py [--programs 100000] [--repeats 7] [--db PATH]

Builds the archive with bulk inserts through SQLAlchemy core (one binpack_online campaign:
programs with lineage, one train evaluation each, ~10 % failures, MAP-Elites cells on two
islands, events, QD snapshots every iterations/200 evaluations as the controller writes them), then for each screen pushes it and waits until its data is loaded and
rendered. Reports the median and max over the repeats; the target is < 300 ms per screen.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from archive import Archive, Grid  # noqa: E402
from archive.qd import QD_EVENT, archive_qd  # noqa: E402
from archive.schema import Cell, Evaluation, Event, Program  # noqa: E402

SEED_CODE = Path(__file__).resolve().parent.parent.joinpath("evaluators", "binpack_online", "seed.py").read_text()
STATUSES = ["ok"] * 90 + ["crashed"] * 5 + ["timeout"] * 2 + ["invalid"] * 3


def build(db: str, programs: int, seed: int = 0) -> int:
    from evolve.config import build_config

    rng = random.Random(seed)
    archive = Archive(db)
    config = build_config(None, {"task": "binpack_online", "iterations": programs, "workers": 2})
    campaign = archive.create_campaign(name="bench", task_name="binpack_online", task_dir=None,
                                       config=config.model_dump(mode="json"), seed=0, iterations=programs)
    grid = Grid.from_specs([d.model_dump() for d in __import__("evaluators.task", fromlist=["load_task"])
                            .load_task("binpack_online").spec.descriptors])
    base = dt.datetime(2026, 1, 1)
    cells: dict[tuple[int, str], tuple[int, float]] = {}
    best = None
    program_rows, eval_rows, event_rows = [], [], []
    generation = {0: 0}
    interval = max(1, programs // 200)  # evolve/loop/qd_snapshots.py HISTORY_POINTS
    for i in range(programs):
        if i and i % interval == 0 and best is not None:
            qd = archive_qd([(isl, k, sc) for (isl, k), (_, sc) in cells.items()], grid.size, 2, -5.0)
            event_rows.append({"campaign_id": campaign.id, "kind": QD_EVENT, "program_id": None,
                               "data": {"evaluations": i, "offset": -5.0, "offset_source": "seed", **qd},
                               "created_at": base + dt.timedelta(seconds=i * 0.5)})
        pid = i + 1
        parent = None if i == 0 else rng.randint(max(1, pid - 60), pid - 1)
        generation[pid] = 0 if parent is None else generation[parent] + 1
        code = SEED_CODE.replace("0.0 * (remaining == 0)", f"{rng.random():.4f} * (remaining == 0)")
        created = base + dt.timedelta(seconds=i * 0.5)
        program_rows.append({"id": pid, "campaign_id": campaign.id, "iteration": i, "parent_id": parent,
                             "inspiration_ids": [], "code": code, "code_hash": f"{pid:064x}", "mutator": "offline",
                             "operator": rng.choice(["tweak_constant", "swap_binop", "negate_condition"]),
                             "edit": {"parent_mode": "exploit"}, "generation": generation[pid], "island": i % 2,
                             "state": "evaluated", "created_at": created})
        status = "ok" if i == 0 else rng.choice(STATUSES)
        score = -5.0 + 0.8 * (i / programs) + rng.gauss(0, 0.3) if status == "ok" else None
        descriptors = {"or_excess_pct": rng.uniform(2, 8), "weibull_excess_pct": rng.uniform(0, 6)}
        eval_rows.append({"program_id": pid, "split": "train", "role": "train", "status": status, "score": score,
                          "metrics": {"excess_pct": -score if score is not None else None},
                          "descriptors": descriptors if score is not None else {},
                          "artifacts": {} if score is not None else {"message": "boom"},
                          "wall_time": 0.3, "cpu_time": 0.3, "created_at": created + dt.timedelta(seconds=0.4)})
        if score is None:
            event_rows.append({"campaign_id": campaign.id, "kind": "failure", "program_id": pid,
                               "data": {"status": status, "message": "boom"}, "created_at": created})
            continue
        key = grid.key(descriptors)
        old = cells.get((i % 2, key))
        if old is None or score > old[1]:
            cells[(i % 2, key)] = (pid, score)
            kind = "new_best" if best is None or score > best else "new_elite"
            best = score if kind == "new_best" else best
            event_rows.append({"campaign_id": campaign.id, "kind": kind, "program_id": pid,
                               "data": {"cell": key, "score": score, "island": i % 2}, "created_at": created})
    with archive.engine.begin() as c:
        for table, rows in ((Program, program_rows), (Evaluation, eval_rows), (Event, event_rows)):
            for start in range(0, len(rows), 20000):
                c.execute(insert(table), rows[start:start + 20000])
        c.execute(insert(Cell), [{"campaign_id": campaign.id, "island": island, "key": key, "program_id": pid,
                                  "score": score} for (island, key), (pid, score) in cells.items()])
    archive.set_state(campaign.id, "finished")
    archive.close()
    return campaign.id


async def measure(db: str, repeats: int) -> dict[str, list[float]]:
    """Wall time from push_screen until the screen's data is loaded and rendered."""
    from textual.screen import Screen
    from textual.widgets import Footer, Header, Static

    from evolve.tui import EvolveApp

    class EmptyScreen(Screen):  # the floor: what any screen costs to mount and paint on this machine
        def compose(self):
            yield Header()
            yield Static("nothing")
            yield Footer()

    app = EvolveApp(db, poll_interval=3600)
    archive = app.archive
    campaign_id = archive.campaigns()[0].id
    best_program = max(archive.elites(campaign_id), key=lambda e: e.score).program_id
    times: dict[str, list[float]] = {"campaigns": [], "dashboard": [], "elite map": [], "program": [],
                                     "(empty screen)": []}

    async def timed(pilot, name: str, push) -> None:
        started = time.perf_counter()
        push()
        await pilot.pause()
        screen = app.screen
        while getattr(screen, "loads", 1) < 1:
            await asyncio.sleep(0.001)
        await pilot.pause()  # rendered
        times[name].append(time.perf_counter() - started)
        app.pop_screen()
        await pilot.pause()

    async with app.run_test(size=(120, 40)) as pilot:
        while getattr(app.screen, "loads", 0) < 1:
            await asyncio.sleep(0.01)
        from evolve.tui.campaigns import CampaignsScreen
        for _ in range(repeats):
            await timed(pilot, "campaigns", lambda: app.push_screen(CampaignsScreen()))
            await timed(pilot, "dashboard", lambda: app.open_campaign(campaign_id))
            await timed(pilot, "elite map", lambda: app.open_elite_map(campaign_id))
            await timed(pilot, "program", lambda: app.open_program(best_program))
            await timed(pilot, "(empty screen)", lambda: app.push_screen(EmptyScreen()))
    return times


def load_times(db: str, repeats: int) -> dict[str, list[float]]:
    """The archive queries behind each screen alone (what runs in the screen's worker thread)."""
    from evolve.tui import data

    archive = Archive(db)
    campaign_id = archive.campaigns()[0].id
    best_program = max(archive.elites(campaign_id), key=lambda e: e.score).program_id
    loaders = {"campaigns": lambda: data.load_campaigns(archive),
               "dashboard": lambda: data.load_dashboard(archive, campaign_id),
               "elite map": lambda: data.load_elite_map(archive, campaign_id),
               "program": lambda: data.load_program(archive, best_program)}
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(repeats):
        for name, load in loaders.items():
            started = time.perf_counter()
            load()
            times[name].append(time.perf_counter() - started)
    archive.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--db", help="reuse (or create) this archive instead of a temporary one")
    args = parser.parse_args()
    db = args.db or os.path.join(tempfile.mkdtemp(prefix="bench-tui-"), "bench.db")
    if not os.path.exists(db):
        started = time.perf_counter()
        build(db, args.programs)
        print(f"built {args.programs:,} programs in {time.perf_counter() - started:.1f} s: {db}")
    archive = Archive(db)
    campaign = archive.campaigns()[0]
    lineage = len(archive.lineage_rows(max(archive.elites(campaign.id), key=lambda e: e.score).program_id))
    print(f"archive: {archive.stats(campaign.id)['evaluated']:,} evaluations, "
          f"{len(archive.elites(campaign.id))} elites, best program's lineage {lineage} rows shown")
    archive.close()
    loads = load_times(db, args.repeats)
    times = asyncio.run(measure(db, args.repeats))
    print(f"{'screen':<14} {'open median':>12} {'open max':>9} {'queries median':>15}  "
          f"(ms; target < 300 ms; {args.repeats} opens each; 120x40 headless)")
    worst = 0.0
    for name, values in times.items():
        median = statistics.median(values) * 1000
        worst = max(worst, median) if name in loads else worst
        query = statistics.median(loads[name]) * 1000 if name in loads else float("nan")
        print(f"{name:<14} {median:>12.1f} {max(values) * 1000:>9.1f} {query:>15.1f}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0 if worst < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
