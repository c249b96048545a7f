"""The Ray executor on a real two-raylet cluster (tests/ray_support.py): placement by resources,
task directories shipped through the object store, a killed raylet, a kill -9 of the
controller then `evolve resume`, and the doctor."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core_support import ROOT, evolve_cmd

try:
    import ray  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Ray is not installed (pip install 'evolve[ray]')", allow_module_level=True)

from evaluators.task import load_task_dir
from evolve.config import build_config
from evolve.errors import UserError
from evolve.executors.local_cluster import alive
from evolve.executors.ray import RayExecutor, alive_nodes, connect
from evolve.executors.resources import check_fits, resource_request
from evaluators.contract import Status
from sandbox.failures import SandboxUnavailable
from sandbox.limits import Limits

from ray_support import (evaluation_processes, need_processes, processes_under, restore_node, start_or_attach,
                         wait_until)

pytestmark = pytest.mark.ray

SLOW_TASK = ROOT / "tests" / "fixtures" / "ray_slow_task"
TOY_TASK = ROOT / "tests" / "fixtures" / "toy_task"


@pytest.fixture(scope="session")
def ray_cluster():
    cluster, started_here = start_or_attach()
    try:
        yield cluster
    finally:
        import ray as ray_module
        if ray_module.is_initialized():
            ray_module.shutdown()
        if started_here:
            cluster.stop()


def _task_copy(tmp_path: Path, source: Path, **spec_changes) -> Path:
    target = tmp_path / f"task-{source.name}"
    shutil.copytree(source, target)
    spec = yaml.safe_load((target / "task.yaml").read_text())
    spec.update(spec_changes)
    (target / "task.yaml").write_text(yaml.safe_dump(spec))
    return target


def _db_state(db: Path) -> dict:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        programs = con.execute("select id, iteration, state from programs order by iteration").fetchall()
        evaluations = con.execute("select program_id, split, status from evaluations").fetchall()
        state = con.execute("select state from campaigns").fetchone()[0]
    return {"programs": programs, "evaluations": evaluations, "state": state}


def _assert_exactly_once(db: Path, iterations: int) -> dict:
    state = _db_state(db)
    assert [p[1] for p in state["programs"]] == list(range(iterations + 1)), "budget not honoured exactly"
    train = [(pid, split) for pid, split, _ in state["evaluations"] if split == "train"]
    assert len(train) == len(set(train)), "a program was recorded twice"
    assert not [p for p in state["programs"] if p[2] == "pending"], "a program was left unevaluated"
    evaluated = {p[0] for p in state["programs"] if p[2] == "evaluated"}
    assert evaluated == {pid for pid, _ in train}, "an evaluated program has no recorded result"
    lost = [row for row in state["evaluations"] if row[2] != "ok"]
    return {**state, "failures": lost}


def _run(db: Path, task_dir: Path, address: str, env: dict, *extra) -> subprocess.Popen:
    command = evolve_cmd("run", "--task-dir", task_dir, "--executor", "ray", "--ray-address", address,
                         "--db", db, "--json", "--seed", 3, *extra)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _recorded(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("select count(*) from evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


# ---- without a cluster ----------------------------------------------------------------------

def test_config_and_flags_name_the_executor(tmp_path):
    config = build_config(None, {"task": "binpack_online", "executor": "ray", "ray": {"address": "10.0.0.1:6379"}})
    assert (config.executor, config.ray.address, config.ray.retries) == ("ray", "10.0.0.1:6379", 2)
    assert build_config(None, {"task": "binpack_online"}).executor == "local"
    with pytest.raises(UserError, match=r"^config error: executor: 'slurm' is not allowed"):
        build_config(None, {"task": "binpack_online", "executor": "slurm"})
    with pytest.raises(UserError, match=r"ray.adress: unknown key; allowed keys: address, retries"):
        build_config(None, {"task": "binpack_online", "ray": {"adress": "x"}})


def test_resource_request_and_fit(tmp_path):
    task = load_task_dir(_task_copy(tmp_path, TOY_TASK, resources={"cpus": 0.5, "memory_mb": 256,
                                                                   "custom": {"node2": 1}}))
    nodes = [{"CPU": 2.0, "memory": 2e9}, {"CPU": 2.0, "memory": 2e9, "node2": 4.0}]
    request = resource_request(task, nodes)
    assert request == {"num_cpus": 0.5, "num_gpus": 0.0, "memory": 256 * 1024 * 1024, "resources": {"node2": 1}}
    check_fits(task, request, nodes, "here")
    with pytest.raises(SandboxUnavailable, match=r"no node of the Ray cluster at here fits .* \(needs CPU 0.5"):
        check_fits(task, request, nodes[:1], "here")
    gpu_task = load_task_dir(_task_copy(tmp_path / "g", TOY_TASK, wants_gpu=True))
    assert resource_request(gpu_task, nodes)["num_gpus"] == 0.0  # no GPU anywhere: CPU, as the task allows
    assert resource_request(gpu_task, [*nodes, {"CPU": 8.0, "GPU": 4.0}])["num_gpus"] == 1.0


def test_no_cluster_at_the_address_is_one_line_and_nothing_stored(tmp_path, cli_env):
    from evolve.executors.local_cluster import free_port

    db = tmp_path / "never.db"
    address = f"127.0.0.2:{free_port()}"  # just released: nothing listens there
    done = subprocess.run(evolve_cmd("run", "--task-dir", TOY_TASK, "--executor", "ray", "--ray-address", address,
                                     "--db", db, "--iterations", 2), capture_output=True, text=True, env=cli_env,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"evolve: error: cannot connect to a Ray cluster at {address}: "
                                                f"Connection refused (start one with `ray start --head`, then pass "
                                                f"--ray-address HOST:PORT)"]
    assert not db.exists()


# ---- on the cluster, in this process ----------------------------------------------------------

def test_custom_resource_places_evaluations_only_on_node2(ray_cluster, tmp_path):
    task = load_task_dir(_task_copy(tmp_path, TOY_TASK, resources={"cpus": 0.5, "custom": {"node2": 1}}))
    ray_module = connect(ray_cluster.address)
    node2 = {n["NodeID"] for n in alive_nodes(ray_module) if n.get("node2")}
    assert len(node2) == 1

    async def run():
        executor = RayExecutor(ray_cluster.address, workers=3)
        try:
            return await asyncio.gather(*(executor.evaluate(task, task.seed_code) for _ in range(6))), executor
        finally:
            await executor.close()

    results, executor = asyncio.run(run())
    assert [r.status for r in results] == [Status.OK] * 6
    assert set(executor.placements) == node2 and sum(executor.placements.values()) == 6


def test_user_task_dir_reaches_nodes_through_the_object_store(ray_cluster, tmp_path):
    task_dir = _task_copy(tmp_path, TOY_TASK)
    (task_dir / "data.txt").write_text("0.25\n")
    (task_dir / "scorer.py").write_text((task_dir / "scorer.py").read_text().replace(
        'return {"score": -mse,',
        'from pathlib import Path\n'
        '    here = Path(__file__).resolve().parent\n'
        '    offset = float((here / "data.txt").read_text())\n'
        '    return {"artifacts": {"task_dir": str(here)}, "score": -mse - offset,'))
    task = load_task_dir(task_dir)

    async def run():
        executor = RayExecutor(ray_cluster.address, workers=1)
        try:
            return await executor.evaluate(task, task.seed_code)
        finally:
            await executor.close()

    result = asyncio.run(run())
    assert result.status is Status.OK, result.artifacts
    shipped = Path(result.artifacts["task_dir"])
    assert shipped != task_dir.resolve() and shipped.parent.name == "evolve-task-bundles"
    assert result.score < -0.25  # the data file came along


def test_candidate_failures_are_results_not_retries(ray_cluster):
    task = load_task_dir(TOY_TASK)

    async def run():
        executor = RayExecutor(ray_cluster.address, workers=2)
        try:
            crashed, slept = await asyncio.gather(
                executor.evaluate(task, "def f(x):\n    import os\n    os._exit(3)\n"),
                executor.evaluate(task, "def f(x):\n    while True:\n        pass\n", Limits(wall_s=1.0, cpu_s=1.0)))
            return crashed, slept, executor.lost
        finally:
            await executor.close()

    crashed, slept, lost = asyncio.run(run())
    assert crashed.status is Status.CRASHED and "exited with code 3" in crashed.artifacts["message"]
    assert slept.status is Status.TIMEOUT
    assert lost == 0


def test_a_sandbox_that_cannot_run_on_a_node_fails_the_evaluation_in_one_line(ray_cluster):
    task = load_task_dir(TOY_TASK)

    async def run():
        executor = RayExecutor(ray_cluster.address, workers=1, sandbox="docker",
                               sandbox_options={"image": "evolve-sandbox:absent-on-purpose"})
        try:
            await executor.evaluate(task, task.seed_code)
        finally:
            await executor.close()

    with pytest.raises(SandboxUnavailable, match=r"^node [^:]+: .*evolve-sandbox:absent-on-purpose"):
        asyncio.run(run())


# ---- campaigns on the cluster, through the CLI -----------------------------------------------

def test_no_fitting_node_fails_in_one_line_before_anything_is_stored(ray_cluster, tmp_path, cli_env):
    task_dir = _task_copy(tmp_path, TOY_TASK, resources={"cpus": 1, "custom": {"tpu_pod": 1}})
    db = tmp_path / "never.db"
    done = subprocess.run(evolve_cmd("run", "--task-dir", task_dir, "--executor", "ray", "--ray-address",
                                     ray_cluster.address, "--db", db, "--iterations", 3),
                          capture_output=True, text=True, env=cli_env, timeout=180)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no node of the Ray cluster" in lines[0] and "tpu_pod 1" in lines[0], done.stderr
    assert not db.exists()


def test_doctor_reports_every_node_and_its_sandboxes(ray_cluster, cli_env):
    done = subprocess.run(evolve_cmd("sandbox", "doctor", "--executor", "ray", "--ray-address", ray_cluster.address),
                          capture_output=True, text=True, env=cli_env, timeout=180)
    assert done.returncode == 0, done.stderr
    nodes = [line for line in done.stdout.splitlines() if line.startswith("node ")]
    assert len(nodes) == 2 and any("node2 4" in line for line in nodes), done.stdout
    assert done.stdout.count("process sandbox: ") == 2 and done.stdout.count("docker sandbox: ") == 2


def test_campaign_runs_across_both_raylets(ray_cluster, tmp_path, cli_env):
    need_processes(ray_cluster)
    db = tmp_path / "two.db"
    proc = _run(db, SLOW_TASK, ray_cluster.address, cli_env, "--iterations", 12, "--workers", 4)
    busy = set()
    while proc.poll() is None:
        for index, node in enumerate(ray_cluster.nodes):
            if processes_under(node["raylet_pid"], "evaluators.host"):
                busy.add(index)
        time.sleep(0.2)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out)["state"] == "finished"
    assert busy == {0, 1}, "evaluations did not run on both raylets"
    assert not _assert_exactly_once(db, 12)["failures"]


def test_controller_kill9_ends_its_ray_work_and_resume_continues(ray_cluster, tmp_path, cli_env):
    need_processes(ray_cluster)
    db = tmp_path / "killed.db"
    proc = _run(db, SLOW_TASK, ray_cluster.address, cli_env, "--iterations", 20, "--workers", 4)
    assert wait_until(lambda: _recorded(db) >= 3 or proc.poll() is not None, 180)
    assert proc.poll() is None, "the campaign finished before the kill: " + proc.stderr.read()
    family = evaluation_processes(ray_cluster)
    assert family, "no evaluation process found on the raylets"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_until(lambda: not [p for p in family if alive(p)], 60, 0.25), \
        f"evaluation processes outlived the killed controller: {[p for p in family if alive(p)]}"
    assert _db_state(db)["state"] == "running"  # killed, not stopped: resume must take it over

    done = subprocess.run(evolve_cmd("resume", "1", "--db", db, "--json"), capture_output=True, text=True,
                          env=cli_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "finished"
    assert not _assert_exactly_once(db, 20)["failures"]


def test_killed_raylet_mid_campaign_loses_and_doubles_nothing(ray_cluster, tmp_path, cli_env):
    need_processes(ray_cluster)
    db = tmp_path / "raylet.db"
    node2 = ray_cluster.nodes[1]["raylet_pid"]
    marks = tmp_path / "in-flight"
    marks.mkdir()
    task_dir = _task_copy(tmp_path, SLOW_TASK)
    scorer = task_dir / "scorer.py"
    scorer.write_text(scorer.read_text().replace("MARK_DIR = None", f"MARK_DIR = {str(marks)!r}"))

    def evaluating_on_node2() -> bool:
        in_flight = set()
        for mark in marks.iterdir():
            with contextlib.suppress(OSError, ValueError):  # it may end while we look
                in_flight.add(int(mark.read_text()))
        return bool(in_flight & processes_under(node2, "evaluators.host"))

    proc = _run(db, task_dir, ray_cluster.address, cli_env, "--iterations", 24, "--workers", 4)
    try:
        assert wait_until(lambda: (_recorded(db) >= 2 and evaluating_on_node2()) or proc.poll() is not None,
                          180, 0.02)
        assert proc.poll() is None, "the campaign finished before the kill: " + proc.stderr.read()
        ray_cluster.kill_node(1)  # mid-evaluation: that evaluation must run again elsewhere
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert json.loads(out)["state"] == "finished"
        assert "re-running it on another actor" in err, err
        assert not _assert_exactly_once(db, 24)["failures"]
    finally:
        if proc.poll() is None:
            proc.kill()
        restore_node(ray_cluster, 1)



LOSING_SCRIPT = """
import asyncio, json, os, signal, sys
from evaluators.task import load_task_dir
from evolve.executors.ray import RayExecutor

address, task_dir, raylet = sys.argv[1], sys.argv[2], int(sys.argv[3])
task = load_task_dir(task_dir)

async def run():
    executor = RayExecutor(address, workers=2, retries=5)
    try:
        await executor.warm_up(task)
        # Kill after the first finishes, with 16 s of work left: actor calls go worker to worker, so the
        # actors on a killed raylet keep answering until they notice it is gone (seconds, on a loaded machine).
        evaluations = [asyncio.ensure_future(executor.evaluate(task, task.seed_code)) for _ in range(80)]
        await asyncio.wait(evaluations, return_when=asyncio.FIRST_COMPLETED)
        os.kill(raylet, signal.SIGKILL)
        return await asyncio.wait_for(asyncio.gather(*evaluations, return_exceptions=True), 120)
    finally:
        await executor.close()

outcomes = asyncio.run(run())
print(json.dumps([{"error": type(o).__name__, "message": str(o)} if isinstance(o, BaseException)
                  else {"status": o.status.value} for o in outcomes]))
"""


def test_losing_the_only_node_that_fits_fails_in_one_line_instead_of_waiting(ray_cluster, tmp_path, cli_env):
    """A raylet of its own with a resource no other node has (other tests kill and replace node 2), and a
    driver process of its own (this test process has been a Ray driver for the tests before)."""
    need_processes(ray_cluster)
    index = ray_cluster.add_node({"num_cpus": 1, "resources": {"lonely": 2}})
    task_dir = _task_copy(tmp_path, SLOW_TASK, resources={"cpus": 0.5, "custom": {"lonely": 1}})
    try:
        done = subprocess.run([sys.executable, "-c", LOSING_SCRIPT, ray_cluster.address, str(task_dir),
                               str(ray_cluster.nodes[index]["raylet_pid"])], capture_output=True, text=True,
                              env=cli_env, timeout=300)
    finally:
        if alive(ray_cluster.nodes[index]["raylet_pid"]):
            ray_cluster.kill_node(index)
        ray_cluster.nodes.pop(index)  # the lonely node is gone for good
        ray_cluster._save()
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    failures = [o for o in outcomes if o.get("error") == "SandboxUnavailable"]
    assert failures, outcomes
    assert all("no node of the Ray cluster" in f["message"] and "lonely 1" in f["message"] for f in failures)
    assert all(o.get("error") == "SandboxUnavailable" or o.get("status") == "ok" for o in outcomes), outcomes

def _pg_state(url: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as con:
            programs = [tuple(r) for r in con.execute(text("select id, iteration, state from programs order by iteration"))]
            evaluations = [tuple(r) for r in con.execute(text("select program_id, split, status, role from evaluations"))]
            state = con.execute(text("select state from campaigns")).scalar()
    finally:
        engine.dispose()
    return {"programs": programs, "evaluations": evaluations, "state": state}


def test_two_raylets_postgresql_raylet_killed_then_controller_killed_every_iteration_once(
        ray_cluster, pg_url, tmp_path, cli_env):
    """The issue's acceptance: a campaign on two raylets with a PostgreSQL archive survives losing a raylet
    and a kill -9 of its controller, and ends with every iteration exactly once."""
    need_processes(ray_cluster)
    iterations = 24
    proc = _run(pg_url, SLOW_TASK, ray_cluster.address, cli_env, "--iterations", iterations, "--workers", 4)
    try:
        def recorded() -> int:
            from sqlalchemy.exc import DBAPIError
            try:
                return len(_pg_state(pg_url)["evaluations"])
            except DBAPIError:  # the campaign has not created the schema yet
                return 0

        assert wait_until(lambda: recorded() >= 3 or proc.poll() is not None, 180)
        assert proc.poll() is None, "the campaign finished before the raylet kill: " + proc.stderr.read()
        ray_cluster.kill_node(1)
        at_raylet_kill = recorded()
        assert wait_until(lambda: recorded() >= at_raylet_kill + 3 or proc.poll() is not None, 180)
        assert proc.poll() is None, "the campaign finished before the controller kill: " + proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        restore_node(ray_cluster, 1)
    assert _pg_state(pg_url)["state"] == "running"  # killed, not stopped: resume takes it over
    done = subprocess.run(evolve_cmd("resume", "1", "--db", pg_url, "--json"), capture_output=True, text=True,
                          env=cli_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "finished"
    state = _pg_state(pg_url)
    assert [p[1] for p in state["programs"]] == list(range(iterations + 1)), "an iteration is missing or doubled"
    train = [(pid, split) for pid, split, _, role in state["evaluations"] if role == "train"]
    assert len(train) == len(set(train)) and len({pid for pid, _ in train}) == len(train), "a verdict was recorded twice"
    assert not [p for p in state["programs"] if p[2] == "pending"], "a program was left unevaluated"
    evaluated = {p[0] for p in state["programs"] if p[2] == "evaluated"}
    assert evaluated == {pid for pid, _ in train}, "an evaluated program has no recorded verdict"
    assert not [e for e in state["evaluations"] if e[2] != "ok"], "a lost node's evaluation was recorded as a failure"
