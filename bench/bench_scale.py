"""How many evaluation slots one controller keeps busy: its ceiling on paper, then measured on Ray.

    python bench/bench_scale.py [--only ceiling,ray] [--iterations 200] [--in-flight 64,128]
                                [--waits 8,4,2,1,0.5] [--phase-s 20] [--json]
    python bench/bench_scale.py --paper CPU_MS ROUND_TRIPS   # only the table, from figures you give

The controller is one process: every iteration costs it some CPU (the event loop, the database
thread, the mutator, the executor's client side; one GIL) and some archive round trips (run one at
a time on the database thread). So it can run at most

    ceiling (iterations/s) = 1 / (CPU per iteration + round trips per iteration x network round trip)

(the sum: the loop awaits its archive calls in iteration order, so they add to its CPU rather than
hide behind it), and by Little's law the evaluations in flight it keeps busy are ceiling x
evaluation duration: a cluster with more evaluation slots than that waits on the controller.

(ceiling) the inputs, measured: a campaign on tests/fixtures/toy_task run in this process as `evolve
    run` runs it (Campaign.run), with the offline mutator and with an instant stand-in LLM (a real
    OpenAI SDK client against tests/llm_server.py in a process of its own), on a SQLite file and on
    PostgreSQL (a throwaway local server, or $EVOLVE_TEST_PG_URL). Controller CPU per iteration =
    this process's CPU time / iterations (evaluations, candidates and the stand-in LLM are other
    processes); archive round trips per iteration counted with SQLAlchemy events: statements
    (before_cursor_execute), transactions begun and committed, and connection checkouts; on PostgreSQL
    a round trip is each statement, each checkout's pre-ping and each transaction's BEGIN and its
    COMMIT or ROLLBACK (see round_trips). A 5-iteration campaign first pays the one-time imports.
(ray) the measurement: campaigns with the offline mutator on bench/tasks/wait_scale (a copy whose
    trusted scorer sleeps for as long as a file says, then makes one batch call) on a throwaway
    two-raylet Ray cluster (2 CPUs each; the task asks 0.01 CPU per evaluation), `workers` = N and
    `lag` = N - 1, so N evaluations can be in flight. Once every actor has started and N evaluations have
    finished, the wait is stepped down through --waits; each phase lets the old wait drain, then
    counts training evaluations, wall time, this process's CPU, the cluster's CPU and the evaluations in
    flight and the iterations between prepared and applied (sampled every 0.25 s) for --phase-s
    seconds: achieved evaluations/s against the ideal N / wait, controller CPU per iteration, the
    share of a core the controller got and how long its event-loop thread waited for a CPU while
    runnable (Linux schedstat). The controller limits throughput when fewer than N iterations are
    between prepared and applied (the schedule would let it prepare more) while its loop thread is
    running or waiting to run nearly all the time.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

TOY = ROOT / "tests" / "fixtures" / "toy_task"
WAIT_TASK = ROOT / "bench" / "tasks" / "wait_scale"
DURATIONS_S = {"1 s": 1.0, "30 s": 30.0, "5 min": 300.0}
NETWORK_RTT_MS = (0.0, 1.0)  # PostgreSQL on this machine; one realistic network hop away
# Ray gives a node's dashboard agent ~15 s to start (hard-coded in the raylet); on a loaded machine it takes longer
CLUSTER_ATTEMPTS = 8


# ---- on paper ------------------------------------------------------------------------------------
def ceiling_per_s(cpu_ms: float, round_trips: float, rtt_ms: float) -> float:
    """Iterations per second one controller can run at `cpu_ms` CPU and `round_trips` archive round trips of
    `rtt_ms` each per iteration."""
    return 1000.0 / (cpu_ms + round_trips * rtt_ms)


def paper(cpu_ms: float, round_trips: float, evaluated_per_iteration: float = 1.0) -> list[dict]:
    """One row per network round trip: the ceiling and, per evaluation duration, the evaluation slots at which
    the controller becomes the bottleneck (Little's law: in flight = rate x duration)."""
    rows = []
    for rtt in NETWORK_RTT_MS:
        per_s = ceiling_per_s(cpu_ms, round_trips, rtt)
        rows.append({"rtt_ms": rtt, "cpu_ms": cpu_ms, "round_trips": round_trips,
                     "iterations_per_s": round(per_s, 1),
                     "slots": {name: int(per_s * evaluated_per_iteration * seconds)
                               for name, seconds in DURATIONS_S.items()}})
    return rows


# ---- (ceiling) -----------------------------------------------------------------------------------
def count_round_trips(archive) -> dict[str, int]:
    from sqlalchemy import event

    counts = {"statements": 0, "begins": 0, "commits": 0, "checkouts": 0}

    def bump(name):
        return lambda *_: counts.__setitem__(name, counts[name] + 1)

    event.listen(archive.engine, "before_cursor_execute", bump("statements"))
    event.listen(archive.engine, "begin", bump("begins"))
    event.listen(archive.engine, "commit", bump("commits"))
    event.listen(archive.engine.pool, "checkout", bump("checkouts"))
    return counts


def round_trips(counts: dict[str, int], dialect: str) -> int:
    """Network round trips the counted events cost on `dialect`. PostgreSQL (psycopg 3, not in pipeline mode):
    each statement; each checkout's pre-ping; each transaction's BEGIN (psycopg sends it before the first
    statement) and its end (COMMIT, or the ROLLBACK with which the pool resets a connection that only read).
    SQLite has no network: statements and commits, the calls into the library."""
    if dialect == "postgresql":
        return counts["statements"] + counts["checkouts"] + 2 * counts["begins"]
    return counts["statements"] + counts["commits"]


def controller_run(db: str, config: dict, iterations: int) -> dict:
    """One campaign as `evolve run` runs it, in this process: CPU, wall, archive events per iteration."""
    from archive import Archive
    from evolve.campaign import Campaign
    from evolve.config import build_config

    archive = Archive(db)
    try:
        counts = count_round_trips(archive)
        campaign = Campaign.create(archive, build_config(None, {**config, "iterations": iterations}))
        for name in counts:
            counts[name] = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        outcome = asyncio.run(campaign.run())
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        dialect = archive.engine.dialect.name
    finally:
        archive.close()
    done = outcome.summary["iterations_done"]
    return {"iterations": done, "evaluated": outcome.summary["evaluated"], "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 2), "cpu_ms_per_iteration": round(1000 * cpu / done, 2),
            **{f"{name}_per_iteration": round(value / done, 2) for name, value in counts.items()},
            "round_trips_per_iteration": round(round_trips(counts, dialect) / done, 2)}


def section_ceiling(iterations: int, stack: contextlib.ExitStack) -> list[dict]:
    import archive_latency
    import bench_loop

    pg = archive_latency.Postgres(stack)
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    url, _served = stack.enter_context(bench_loop.stand_in_elsewhere())
    os.environ.update(OPENAI_API_KEY="bench", OPENAI_BASE_URL=url)
    base = {"task_dir": str(TOY), "workers": 2, "heldout_report": False}
    mutators = {"offline": {}, "LLM (instant stand-in)": dict(bench_loop.LLM)}
    rows = []
    for mutator, extra in mutators.items():
        for archive_name in ("SQLite", "PostgreSQL"):
            def db(tag: str) -> str:
                return str(tmp / f"{tag}-{len(rows)}.db") if archive_name == "SQLite" else pg.database()
            controller_run(db("warmup"), {**base, **extra}, 5)
            result = controller_run(db("measured"), {**base, **extra}, iterations)
            rows.append({"mutator": mutator, "archive": archive_name, **result})
    return rows


# ---- (ray) ---------------------------------------------------------------------------------------
def used_mib() -> int:
    """The machine's memory in use (MemTotal - MemAvailable), MiB."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) // 1024


def wait_task_copy(directory: Path, wait_file: Path) -> Path:
    """bench/tasks/wait_scale with its scorer reading its wait from `wait_file` at each evaluation."""
    task = directory / "wait_scale"
    shutil.copytree(WAIT_TASK, task)
    scorer = task / "scorer.py"
    text = scorer.read_text()
    assert "\nWAIT_S = " in text
    text = text.replace("time.sleep(WAIT_S)", f"time.sleep(float(open({str(wait_file)!r}).read()))")
    scorer.write_text(text)
    return task


def cluster_cpu_s(cluster) -> float:
    """CPU seconds used so far by the processes of the cluster started here (raylets, actors, sandboxes,
    candidates); 0 for a cluster elsewhere."""
    if cluster is None:
        return 0.0
    total = 0
    for pid in cluster.pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _sample_in_flight(controller, samples: list[int], window: list[int]) -> None:
    while True:
        samples.append(len(controller._evaluations))
        window.append(controller.schedule.next_prepare - 1 - controller.schedule.applied_through)
        await asyncio.sleep(0.25)


def thread_run_wait_s() -> tuple[float, float] | None:
    """This thread's time on a CPU and time runnable but waiting for one, in seconds (Linux schedstat)."""
    try:
        fields = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").read_text().split()
    except OSError:
        return None
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9


async def _sweep(campaign, wait_file: Path, in_flight: int, waits: list[float], phase_s: float,
                 cluster) -> list[dict]:
    """Beside the running campaign: step the wait down, measuring each phase; then ask the campaign to stop."""
    while campaign._controller is None:
        await asyncio.sleep(0.05)
    controller = campaign._controller
    started = time.perf_counter()
    # every actor up (a straggler still starting holds back the in-order application of verdicts, and with
    # it every iteration behind it) and N evaluations done
    while (len(getattr(controller.executor, "nodes_used", ())) < in_flight
           or controller.progress.evaluated_here < in_flight):
        await asyncio.sleep(0.1)
    warm_s = time.perf_counter() - started
    warm_used_mib = used_mib()
    phases = []
    previous = float(wait_file.read_text())
    for wait in waits:
        wait_file.write_text(repr(wait))
        await asyncio.sleep(previous + 2.0)  # evaluations started under the old wait finish
        previous = wait
        evaluated0, applied0 = controller.progress.evaluated_here, controller.schedule.applied_through
        samples: list[int] = []
        window: list[int] = []
        sampler = asyncio.create_task(_sample_in_flight(controller, samples, window))
        sched0 = thread_run_wait_s()  # the event loop's thread: this coroutine runs on it too
        cluster0, cpu0, wall0 = cluster_cpu_s(cluster), time.process_time(), time.perf_counter()
        await asyncio.sleep(max(phase_s, 3 * wait))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        cluster_cpu = cluster_cpu_s(cluster) - cluster0
        sched = thread_run_wait_s()
        run_wait = (sched[0] - sched0[0], sched[1] - sched0[1]) if sched and sched0 else None
        sampler.cancel()
        evaluated = controller.progress.evaluated_here - evaluated0
        applied = controller.schedule.applied_through - applied0
        rate, ideal = evaluated / wall, in_flight / wait
        phases.append({"in_flight": in_flight, "wait_s": wait, "seconds": round(wall, 1), "evaluations": evaluated,
                       "iterations": applied, "evals_per_s": round(rate, 2), "ideal_per_s": round(ideal, 2),
                       "ratio": round(rate / ideal, 3),
                       "cpu_ms_per_iteration": round(1000 * cpu / applied, 2) if applied else None,
                       "controller_core_share": round(cpu / wall, 2),
                       "iterations_per_s": round(applied / wall, 2),
                       "loop_thread_busy": round((run_wait[0] + run_wait[1]) / wall, 2) if run_wait else None,
                       "loop_thread_cpu_wait": round(run_wait[1] / wall, 2) if run_wait else None,
                       "mean_prepared_not_applied": round(sum(window) / max(1, len(window)), 1),
                       "cluster_cores": round(cluster_cpu / wall, 2) if cluster is not None else None,
                       "mean_in_flight": round(sum(samples) / max(1, len(samples)), 1),
                       "load_1m": round(os.getloadavg()[0], 2)})
        print(f"  {phases[-1]}", file=sys.stderr, flush=True)
    campaign.request_stop()
    return [{"warm_s": round(warm_s, 1), "warm_used_mib": warm_used_mib}] + phases


@contextlib.contextmanager
def start_boost(cluster):
    """Ray's raylet gives its node's dashboard agent about 15 s to come up (not configurable); on a machine
    loaded by other sessions the agent's imports take longer and the start fails. Linux shares the CPU
    between sessions (autogroups) before processes, so while the cluster starts, the autogroup of each of
    its processes gets nice -10 (as root, Linux with autogroups); once it is up every one is put back to 0,
    before anything is measured. Elsewhere a plain start."""
    if os.geteuid() != 0 or not Path("/proc/self/autogroup").exists():
        yield
        return
    done = threading.Event()

    def set_nice(value: int, pids) -> None:
        for pid in pids:
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/autogroup").write_text(str(value))

    def boost() -> None:
        while not done.wait(0.2):
            set_nice(-10, cluster.pids())

    booster = threading.Thread(target=boost, daemon=True)
    booster.start()
    try:
        yield
    finally:
        done.set()
        booster.join()
        set_nice(0, cluster.pids())


def section_ray(levels: list[int], waits: list[float], phase_s: float, address: str | None) -> list[dict]:
    from archive import Archive
    from evolve.campaign import Campaign
    from evolve.config import build_config
    from evolve.executors.local_cluster import LocalRayCluster

    rows = []
    cluster = None
    try:
        for attempt in range(CLUSTER_ATTEMPTS if address is None else 0):
            # no dashboard (the job server, unused here); a start that misses Ray's deadline is tried afresh
            cluster = LocalRayCluster.create(env={"PYTHONPATH": str(ROOT)})
            try:
                with start_boost(cluster):
                    address = cluster.start([{"num_cpus": 2}, {"num_cpus": 2}], dashboard=False)
                break
            except RuntimeError as exc:
                cluster.stop()
                cluster = None
                print(f"(ray) the cluster did not start ({str(exc).splitlines()[-1][:120]})", file=sys.stderr)
        if address is None:
            raise SystemExit(f"(ray) no Ray cluster started in {CLUSTER_ATTEMPTS} attempts")
        for n in levels:
            with tempfile.TemporaryDirectory() as tmp:
                wait_file = Path(tmp) / "wait_s"
                wait_file.write_text("1.0")
                task = wait_task_copy(Path(tmp), wait_file)
                archive = Archive(str(Path(tmp) / "scale.db"))
                config = build_config(None, {"task_dir": str(task), "iterations": 1_000_000, "workers": n,
                                             "lag": n - 1, "executor": "ray", "ray": {"address": address},
                                             "heldout_report": False})
                campaign = Campaign.create(archive, config)

                async def both():
                    sweep = asyncio.create_task(_sweep(campaign, wait_file, n, waits, phase_s, cluster))
                    await campaign.run()
                    return await sweep

                print(f"(ray) {n} in flight: starting {n} actors, load {os.getloadavg()[0]:.1f}", file=sys.stderr,
                      flush=True)
                before_mib = used_mib()
                measured = asyncio.run(both())
                archive.close()
            warm = measured[0]
            rows.append({"in_flight": n, "warm_s": warm["warm_s"], "actors_mib": warm["warm_used_mib"] - before_mib,
                         "mib_per_actor": round((warm["warm_used_mib"] - before_mib) / n), "phases": measured[1:]})
            print(f"  {rows[-1]['warm_s']} s to warm, {rows[-1]['mib_per_actor']} MiB per actor", file=sys.stderr,
                  flush=True)
    finally:
        if "ray" in sys.modules:
            import ray
            if ray.is_initialized():
                ray.shutdown()
        if cluster is not None:
            cluster.stop()
    return rows


# ---- report --------------------------------------------------------------------------------------
def print_paper(rows: list[dict], source: str) -> None:
    print(f"one controller's ceiling and the cluster size (evaluation slots) where it becomes the bottleneck ({source}):")
    print(f"{'round trip':>11}{'CPU ms/it':>10}{'trips/it':>9}{'it/s':>8}" + "".join(f"{name:>9}" for name in DURATIONS_S))
    for row in rows:
        print(f"{row['rtt_ms']:>9g}ms{row['cpu_ms']:>10}{row['round_trips']:>9}{row['iterations_per_s']:>8}"
              + "".join(f"{row['slots'][name]:>9}" for name in DURATIONS_S))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="ceiling,ray", help="comma-separated sections: ceiling, ray")
    parser.add_argument("--iterations", type=int, default=200, help="(ceiling) iterations per measured campaign")
    parser.add_argument("--in-flight", default="64,128", help="(ray) evaluations in flight, one campaign each")
    parser.add_argument("--waits", default="8,4,2,1,0.5", help="(ray) trusted-side waits in seconds, stepped down")
    parser.add_argument("--phase-s", type=float, default=20.0, help="(ray) seconds measured per wait (at least 3 waits)")
    parser.add_argument("--ray-address", help="(ray) an existing cluster (default: a two-raylet one started here)")
    parser.add_argument("--paper", nargs=2, type=float, metavar=("CPU_MS", "ROUND_TRIPS"),
                        help="print only the table for these per-iteration figures")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.paper:
        rows = paper(*args.paper)
        print(json.dumps(rows, indent=2)) if args.json else print_paper(rows, "figures given")
        return 0
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in ("ceiling", "ray")]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; sections: ceiling, ray")
    report: dict = {"load_1m_start": round(os.getloadavg()[0], 2)}
    if "ceiling" in wanted:
        with contextlib.ExitStack() as stack:
            report["ceiling"] = section_ceiling(args.iterations, stack)
        report["paper"] = {f"{r['mutator']}, {r['archive']}": paper(r["cpu_ms_per_iteration"],
                                                                     r["round_trips_per_iteration"])
                           for r in report["ceiling"]}
    if "ray" in wanted:
        report["ray"] = section_ray([int(n) for n in args.in_flight.split(",")],
                                    [float(w) for w in args.waits.split(",")], args.phase_s, args.ray_address)
    report["load_1m_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for row in report.get("ceiling", []):
        print(f"(ceiling) {row['mutator']}, {row['archive']}: {row['cpu_ms_per_iteration']} ms CPU and "
              f"{row['round_trips_per_iteration']} archive round trips per iteration ({row['statements_per_iteration']} "
              f"statements, {row['begins_per_iteration']} begins, {row['commits_per_iteration']} commits, "
              f"{row['checkouts_per_iteration']} checkouts; {row['iterations']} iterations, {row['evaluated']} "
              f"evaluated, wall {row['wall_s']} s)")
    for source, rows in report.get("paper", {}).items():
        print_paper(rows, source)
    for level in report.get("ray", []):
        print(f"(ray) {level['in_flight']} evaluations in flight on two raylets (all actors up after "
              f"{level['warm_s']} s; the machine's memory in use grew {level['actors_mib']} MiB by then, "
              f"{level['mib_per_actor']} MiB per actor):")
        print(f"{'wait s':>7}{'in flight':>10}{'evals':>7}{'seconds':>8}{'evals/s':>9}{'ideal':>7}{'ratio':>7}"
              f"{'CPU ms/it':>10}{'it/s':>6}{'window':>7}{'loop busy':>10}{'cpu wait':>9}{'controller cores':>17}"
              f"{'cluster cores':>14}{'load':>8}")
        for p in level["phases"]:
            print(f"{p['wait_s']:>7g}{p['mean_in_flight']:>10}{p['evaluations']:>7}{p['seconds']:>8}{p['evals_per_s']:>9}"
                  f"{p['ideal_per_s']:>7}{p['ratio']:>7}{p['cpu_ms_per_iteration']!s:>10}{p['iterations_per_s']:>6}"
                  f"{p['mean_prepared_not_applied']:>7}{p['loop_thread_busy']!s:>10}{p['loop_thread_cpu_wait']!s:>9}"
                  f"{p['controller_core_share']:>17}{p['cluster_cores']!s:>14}{p['load_1m']:>8}")
    print(f"load average (1 min): {report['load_1m_start']} at start, {report['load_1m_end']} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
