"""Sections (c) and (d) of bench/bench_distributed.py: the archive on SQLite vs PostgreSQL.

  (c) archive write latency per committed evaluation: SQLite file vs PostgreSQL, direct and
      through bench/latency_proxy.py adding --delay-ms each way (median and p90 of `--writes`
      `record_training` calls, each one transaction, with its SQL statements counted);
  (d) event-loop stall: a short offline campaign on tests/fixtures/toy_task with a ticker
      coroutine beside the controller; the ticker's oversleep is how long the loop was blocked
      (max and p99), on SQLite, PostgreSQL, and PostgreSQL through the proxy;
  (e) latency sweep: the same toy campaign's wall time on SQLite (the reference: no network),
      PostgreSQL direct, and PostgreSQL behind the proxy at each of --sweep-ms added each way;
      `--sweep-runs` runs per target, interleaved so every target sees the same load; medians, the
      ratio of each median to SQLite's, and the archive's round trips per iteration
      (archive/round_trips.py).

PostgreSQL: $EVOLVE_TEST_PG_URL (an admin URL; fresh databases are created and dropped), else a
throwaway cluster from Debian's binaries in a temp dir (tests/pg_support.py), stopped at exit.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pg_support  # noqa: E402
from archive import Archive, Grid  # noqa: E402
from evaluators.contract import EvaluationResult, Status  # noqa: E402

TOY = ROOT / "tests" / "fixtures" / "toy_task"
GRID = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 10}, {"name": "b", "range": [0, 1], "bins": 10}])


# ---- PostgreSQL server, databases and the latency proxy -------------------------------------------
class Postgres:
    """The server the sections use: fresh databases on demand, proxied URLs, cleaned up on exit."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack = stack
        self.admin = os.environ.get(pg_support.ENV_URL)

    def database(self) -> str:
        if not self.admin:  # started on first use: sections that need no PostgreSQL never start one
            root = tempfile.mkdtemp(prefix="evolve-bench-pg-")
            self.stack.callback(pg_support.stop_cluster, root)
            self.admin = pg_support.start_cluster(root)
        url = pg_support.create_database(self.admin, prefix="evolve_bench")
        self.stack.callback(pg_support.drop_database, self.admin, url)
        return url

    def proxied(self, url: str, delay_ms: float) -> str:
        """`url` reached through a latency proxy (a subprocess, stopped by PID on exit)."""
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "latency_proxy.py"), "--target",
                                 f"{parsed.host}:{parsed.port}", "--delay-ms", str(delay_ms)],
                                stdout=subprocess.PIPE, text=True)
        self.stack.callback(_stop, proc)
        line = proc.stdout.readline().split()
        if not line or line[0] != "listening":
            raise RuntimeError("latency proxy did not start")
        host, port = line[1].rsplit(":", 1)
        return parsed.set(host=host, port=int(port)).render_as_string(hide_password=False)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _count_statements(archive: Archive) -> list[int]:
    from sqlalchemy import event

    counter = [0]

    def count(*_):
        counter[0] += 1

    event.listen(archive.engine, "before_cursor_execute", count)
    return counter


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---- (c) archive write latency ---------------------------------------------------------------------
def _write_latency(db: str, writes: int) -> tuple[list[float], float]:
    archive = Archive(db)
    cid = archive.create_campaign(name="bench", task_name="t", task_dir=None, config={}, seed=0,
                                  iterations=writes).id
    programs = [archive.add_program(cid, iteration=i, code=f"x = {i}", code_hash=str(i), parent_id=None,
                                    inspiration_ids=[], mutator="bench", operator="op", edit={}, generation=0,
                                    island=i % 2, state="pending") for i in range(writes)]
    statements = _count_statements(archive)
    times = []
    for i, program in enumerate(programs):
        result = EvaluationResult(Status.OK, score=float(i % 37), metrics={"mse": 1.0 / (i + 1)},
                                  descriptors={"a": (i % 10) / 10, "b": (i % 7) / 7}, wall_time=0.01)
        started = time.perf_counter()
        archive.record_training(program, "train", result, grid=GRID, islands=[i % 2])
        times.append(time.perf_counter() - started)
    archive.close()
    return times, statements[0] / writes


def section_c(args, pg: Postgres) -> list[list[str]]:
    targets = [("SQLite file", str(Path(args.tmp) / "writes.db"))]
    targets.append(("PostgreSQL, local TCP", pg.database()))
    targets.append((f"PostgreSQL, +{args.delay_ms:g} ms each way", pg.proxied(pg.database(), args.delay_ms)))
    rows = []
    for name, db in targets:
        times, statements = _write_latency(db, args.writes)
        rows.append(["(c) write latency per committed evaluation", name,
                     f"median {statistics.median(times) * 1e3:.2f} ms, p90 {_percentile(times, 0.9) * 1e3:.2f} ms "
                     f"({statements:.1f} statements each, {args.writes} writes)"])
    return rows


# ---- (d) event-loop stall ----------------------------------------------------------------------------
def _time_archive_calls(archive: Archive) -> dict[str, list[float]]:
    """Wall time of every public Archive call on this instance: where the database time goes."""
    calls: dict[str, list[float]] = {}

    def timed(name, method):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                calls.setdefault(name, []).append(time.perf_counter() - started)
        return call

    for name in dir(archive):
        method = getattr(archive, name)
        if not name.startswith("_") and callable(method) and name not in ("session", "close"):
            setattr(archive, name, timed(name, method))
    return calls


async def _toy_campaign(db: str, iterations: int, workers: int, name: str):
    """(archive, a maker of the campaign's controller, its sandbox) of an offline toy campaign, the sandbox's
    workers started (outside the measured region; the controller is made inside it, as `evolve run` does)."""
    from evaluators.task import load_task
    from evolve.campaign import Campaign
    from evolve.config import build_config
    from evolve.loop.controller import Controller
    from evolve.executors import local_executor
    from evolve.mutators import OfflineMutator

    config = build_config(None, {"task_dir": str(TOY), "iterations": iterations, "workers": workers,
                                 "heldout_report": False})
    task = load_task(task_dir=TOY)
    archive = Archive(db)
    campaign = Campaign.create(archive, config.model_copy(update={"name": name}))
    sandbox = local_executor("process", workers=workers)
    await sandbox.evaluate(task, task.seed_code)
    return archive, lambda: Controller(campaign.run_spec(), sandbox, OfflineMutator()), sandbox


async def _campaign_with_ticker(db: str, iterations: int, workers: int,
                                tick: float) -> tuple[list[float], float, dict[str, list[float]]]:
    archive, make_controller, sandbox = await _toy_campaign(db, iterations, workers, "stall")
    lags: list[float] = []
    done = asyncio.Event()
    calls = _time_archive_calls(archive)

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(tick)
            lags.append(time.perf_counter() - started - tick)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        await make_controller().run()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await ticking
        await sandbox.close()
        archive.close()
    return lags, elapsed, calls


def section_d(args, pg: Postgres) -> list[list[str]]:
    targets = [("SQLite file", str(Path(args.tmp) / "stall.db")), ("PostgreSQL, local TCP", pg.database()),
               (f"PostgreSQL, +{args.delay_ms:g} ms each way", pg.proxied(pg.database(), args.delay_ms))]
    rows = []
    for name, db in targets:
        lags, elapsed, calls = asyncio.run(_campaign_with_ticker(db, args.iterations, args.workers,
                                                                 args.tick_ms / 1000))
        slowest = sorted(calls.items(), key=lambda item: -max(item[1]))[:3]
        blocking = ", ".join(f"{n} {max(t) * 1e3:.0f} ms" for n, t in slowest)
        total = sum(sum(t) for t in calls.values())
        rows.append(["(d) event-loop stall, offline campaign", name,
                     f"max {max(lags) * 1e3:.1f} ms, p99 {_percentile(lags, 0.99) * 1e3:.1f} ms, "
                     f"median {statistics.median(lags) * 1e3:.2f} ms ({args.iterations} iterations in {elapsed:.1f} s; "
                     f"archive calls {total:.1f} s in all, longest: {blocking})"])
    return rows


SWEEP_TARGETS = ((5.0, 1.3), (20.0, 2.0))  # (added ms each way, wall time at most this many x SQLite's)


# ---- (e) latency sweep -----------------------------------------------------------------------------
async def _campaign_wall(db: str, iterations: int, workers: int) -> tuple[float, float]:
    """(wall seconds, archive round trips per iteration) of one offline toy campaign, workers warm."""
    from archive.round_trips import RoundTrips

    archive, make_controller, sandbox = await _toy_campaign(db, iterations, workers, "sweep")
    trips = RoundTrips().attach(archive)
    started = time.perf_counter()
    try:
        await make_controller().run()
        elapsed = time.perf_counter() - started
    finally:
        await sandbox.close()
        archive.close()
    return elapsed, trips.total() / iterations


def section_e(args, pg: Postgres) -> list[list[str]]:
    delays = [float(d) for d in str(args.sweep_ms).split(",") if d.strip()]
    targets = [("SQLite file", lambda i: str(Path(args.tmp) / f"sweep{i}.db")),
               ("PostgreSQL, local TCP", lambda i: pg.database())]
    targets += [(f"PostgreSQL, +{d:g} ms each way", lambda i, d=d: pg.proxied(pg.database(), d)) for d in delays]
    asyncio.run(_campaign_wall(str(Path(args.tmp) / "warm-up.db"), 3, args.workers))  # imports, caches: unmeasured
    walls: dict[str, list[float]] = {name: [] for name, _ in targets}
    trips: dict[str, list[float]] = {name: [] for name, _ in targets}
    for run in range(args.sweep_runs):
        for name, make in targets:
            wall, per_iteration = asyncio.run(_campaign_wall(make(run), args.iterations, args.workers))
            walls[name].append(wall)
            trips[name].append(per_iteration)
            print(f"(e) run {run + 1}: {name}: {wall:.2f} s, {per_iteration:.1f} round trips per iteration, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    reference = statistics.median(walls["SQLite file"])
    targets_x = dict(SWEEP_TARGETS)
    rows = []
    for name, _ in targets:
        median = statistics.median(walls[name])
        runs = ", ".join(f"{w:.2f}" for w in walls[name])
        rows.append(["(e) latency sweep, offline toy campaign", name,
                     f"median {median:.2f} s, {median / reference:.2f} x SQLite ({args.iterations} iterations, "
                     f"{args.workers} workers; runs {runs} s; {statistics.median(trips[name]):.1f} archive round "
                     f"trips per iteration)"])
        delay = next((d for d in delays if name == f"PostgreSQL, +{d:g} ms each way"), None)
        if delay in targets_x:
            rows[-1][-1] += (f"; target <= {targets_x[delay]:g} x: "
                             f"{'ok' if median / reference <= targets_x[delay] else 'MISSED'}")
    return rows


SECTIONS = {"c": section_c, "d": section_d, "e": section_e}


def add_arguments(parser) -> None:
    parser.add_argument("--writes", type=int, default=200, help="(c) record_training calls per backend")
    parser.add_argument("--iterations", type=int, default=60, help="(d) campaign iterations per backend")
    parser.add_argument("--workers", type=int, default=2, help="(d) evaluation workers")
    parser.add_argument("--tick-ms", type=float, default=5.0, help="(d) ticker period")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="(c, d) latency the proxy adds each way")
    parser.add_argument("--sweep-ms", default="0,1,5,20", help="(e) added latencies each way, comma-separated")
    parser.add_argument("--sweep-runs", type=int, default=3, help="(e) campaigns per target (medians)")


def run_sections(wanted: list[str], args) -> dict[str, list[list[str]]]:
    """Rows (section, backend, figure) of each wanted archive section; servers stopped before returning."""
    report = {}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        pg = Postgres(stack)
        for name in wanted:
            if name in SECTIONS:
                report[name] = SECTIONS[name](args, pg)
    return report
