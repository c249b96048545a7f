"""Acceptance: a binpack_online campaign with --sandbox docker runs, survives kill -9 of its
controller, resumes to the end, and leaves no container behind at either point."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from docker_support import docker_client, docker_image  # noqa: F401  (fixtures)
from sandbox.docker_backend import LABEL, LABEL_OWNER

ROOT = Path(__file__).resolve().parents[2]


def _containers(client, pid: int) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_OWNER}={os.uname().nodename}:{pid}"})


def _wait_gone(client, pid: int, seconds: float = 15) -> list:
    deadline = time.monotonic() + seconds
    while _containers(client, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _containers(client, pid)


def _evaluations(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_binpack_campaign_on_docker_resumes_after_kill9(docker_image, docker_client, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    db = tmp_path / "campaign.db"
    run = subprocess.Popen([sys.executable, "-m", "evolve", "run", "binpack_online", "--sandbox", "docker",
                            "--iterations", "6", "--workers", "2", "--seed", "3", "--db", str(db), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 240
        while _evaluations(db) < 2 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.poll() is None, "the campaign ended before it could be killed: " + run.stderr.read().decode()[-800:]
        assert len(_containers(docker_client, run.pid)) == 2, "one container per evaluation worker"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    assert _wait_gone(docker_client, run.pid) == [], "containers outlived the killed controller"

    resume = subprocess.run([sys.executable, "-m", "evolve", "resume", "1", "--db", str(db), "--json"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert resume.returncode == 0, resume.stderr[-1500:]
    json.loads(resume.stdout)
    with sqlite3.connect(db) as con:
        statuses = dict(con.execute("select status, count(*) from evaluations group by status").fetchall())
    assert statuses.get("ok", 0) >= 3, statuses
    leftovers = [c for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL}=1"})
                 if c.labels.get(LABEL_OWNER, "").startswith(f"{os.uname().nodename}:")
                 and not _pid_alive(int(c.labels[LABEL_OWNER].rpartition(":")[2]))]
    assert leftovers == [], "containers left behind by finished controllers"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
