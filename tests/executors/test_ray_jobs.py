"""Ray the way Ray users run things, on the real two-raylet cluster (tests/ray_support.py) with a shared
PostgreSQL archive: a campaign submitted with `ray job submit --working-dir DIR -- evolve run
--task-dir ...`, watched with `evolve status` until it finishes; and `evolve resume --ray-address`
moving a campaign that ran locally onto the cluster."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from core_support import ROOT, evolve_cmd

try:
    import ray  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Ray is not installed (pip install 'evolve[ray]')", allow_module_level=True)

from ray_support import need_processes, processes_under, start_or_attach

pytestmark = pytest.mark.ray
SLOW_TASK = ROOT / "tests" / "fixtures" / "ray_slow_task"  # 0.4 s per evaluation on the trusted side


@pytest.fixture(scope="module")
def ray_cluster():
    cluster, started_here = start_or_attach()
    try:
        yield cluster
    finally:
        if started_here:
            cluster.stop()


def _status(env, db: str, campaign: str | None = None):
    done = subprocess.run(evolve_cmd("status", *([campaign] if campaign else []), "--db", db, "--json"),
                          capture_output=True, text=True, env=env, timeout=120)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _ray_cli(*args) -> subprocess.CompletedProcess:
    """The `ray` command of this interpreter (a PATH lookup could find another Python's)."""
    return subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args], capture_output=True, text=True,
                          timeout=300)


def _every_iteration_once(db: str, iterations: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.connect() as con:
        rows = con.execute(text("SELECT p.iteration, count(e.id) FROM programs p LEFT JOIN evaluations e ON "
                                "e.program_id = p.id AND e.role = 'train' GROUP BY p.iteration "
                                "ORDER BY p.iteration")).all()
    engine.dispose()
    assert [r[0] for r in rows] == list(range(iterations + 1)) and all(r[1] == 1 for r in rows), rows


def test_a_campaign_submitted_as_a_ray_job_is_watched_with_status_until_it_finishes(ray_cluster, pg_url, tmp_path,
                                                                                  cli_env):
    need_processes(ray_cluster)
    assert ray_cluster.dashboard, ("the cluster runs no job server: start it with "
                                   "`python -m evolve.executors.local_cluster start` and ray[default] installed")
    workdir = tmp_path / "job"
    shutil.copytree(SLOW_TASK, workdir / "my_task")
    iterations = 16
    # The job runs this checkout's evolve (a user's cluster has evolve installed on its nodes instead).
    runtime_env = json.dumps({"env_vars": {"PYTHONPATH": str(ROOT)}})
    submitted = _ray_cli("job", "submit", "--address", ray_cluster.dashboard, "--working-dir", str(workdir),
                         "--runtime-env-json", runtime_env, "--no-wait", "--",
                         sys.executable, "-m", "evolve", "run", "--task-dir", "my_task", "--executor", "ray",
                         "--iterations", str(iterations), "--workers", "3", "--name", "as-a-job",
                         "--db", pg_url, "--json")
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    job_id = next(word.strip("'") for line in (submitted.stdout + submitted.stderr).splitlines()
                  if "submitted successfully" in line for word in line.split() if word.strip("'").startswith("raysubmit_"))

    seen: list[tuple[str, int]] = []  # (liveness, iterations done) as `evolve status` showed them
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rows = _status(cli_env, pg_url) or []
        row = next((r for r in rows if r["name"] == "as-a-job"), None)
        if row is not None:
            seen.append((row["liveness"], row["iterations_done"]))
            if row["liveness"] == "finished":
                break
            assert row["liveness"] in ("created", "running"), row
        time.sleep(0.5)
    else:
        logs = _ray_cli("job", "logs", "--address", ray_cluster.dashboard, job_id)
        raise AssertionError(f"the job did not finish; seen {seen[-5:]}; logs: {logs.stdout[-3000:]}")
    running = [done for state, done in seen if state == "running"]
    assert running and min(running) < iterations, f"never seen running mid-way: {seen}"
    assert running == sorted(running), "progress went backwards"

    from ray.job_submission import JobStatus, JobSubmissionClient

    jobs = JobSubmissionClient(ray_cluster.dashboard)
    for _ in range(120):  # the job ends once its driver (`evolve run`) has exited
        if jobs.get_job_status(job_id).is_terminal():
            break
        time.sleep(0.5)
    logs = jobs.get_job_logs(job_id)
    assert jobs.get_job_status(job_id) == JobStatus.SUCCEEDED, logs[-3000:]
    assert '"state": "finished"' in logs and "Traceback" not in logs, logs[-3000:]
    detail = _status(cli_env, pg_url, "as-a-job")
    assert detail["iterations_done"] == iterations and detail["host"]
    _every_iteration_once(pg_url, iterations)


def test_resume_with_ray_address_moves_a_local_campaign_onto_the_cluster(ray_cluster, pg_url, tmp_path, cli_env):
    need_processes(ray_cluster)
    iterations = 14
    local = subprocess.Popen(evolve_cmd("run", "--task-dir", SLOW_TASK, "--iterations", iterations, "--workers", 1,
                                        "--name", "moved", "--db", pg_url, "--json"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and local.poll() is None:
        row = next((r for r in (_status(cli_env, pg_url) or []) if r["name"] == "moved"), None)
        if row and row["evaluated"] >= 3:
            break
        time.sleep(0.2)
    local.send_signal(signal.SIGINT)  # stop after the evaluation in flight
    out, err = local.communicate(timeout=120)
    assert local.returncode == 0 and json.loads(out)["state"] == "stopped", err[-3000:]

    bogus = subprocess.run(evolve_cmd("resume", "moved", "--ray-address", "ray://127.0.0.1:1", "--db", pg_url),
                           capture_output=True, text=True, env=cli_env, timeout=120)
    assert bogus.returncode == 2 and "Ray Client (ray://) addresses are not supported" in bogus.stderr

    resumed = subprocess.Popen(evolve_cmd("resume", "moved", "--ray-address", ray_cluster.address, "--workers", 4,
                                          "--db", pg_url, "--json"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
    busy = set()
    while resumed.poll() is None:
        for index, node in enumerate(ray_cluster.nodes):
            if processes_under(node["raylet_pid"], "evaluators.host"):
                busy.add(index)
        time.sleep(0.2)
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err[-3000:]
    assert json.loads(out)["state"] == "finished"
    assert busy, "no evaluation ran on the cluster's raylets"
    stored = _status(cli_env, pg_url, "moved")
    assert stored["iterations_done"] == iterations
    from sqlalchemy import create_engine, text
    engine = create_engine(pg_url)
    with engine.connect() as con:
        config = con.execute(text("SELECT config FROM campaigns WHERE name = 'moved'")).scalar()
    engine.dispose()
    config = config if isinstance(config, dict) else json.loads(config)
    assert config["executor"] == "ray" and config["ray"]["address"] == ray_cluster.address  # stored for later resumes
    _every_iteration_once(pg_url, iterations)
