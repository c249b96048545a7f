"""Database outages on a real PostgreSQL server of the test's own (so it can crash it):

- a COMMIT whose acknowledgement is lost (a proxy cuts the connection right after it) is neither
  lost nor doubled: the server is asked whether it committed;
- `pg_ctl stop -m immediate`, back a few seconds later, mid-campaign: ridden through, nothing lost
  or doubled, no traceback, exit 0 (five times over, to catch a one-in-four failure);
- an outage longer than the grace ends the campaign in one line, exit 2; `status` does not call it
  running, and `evolve resume` finishes it once the server is back.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import pg_support
from core_support import TOY_TASK, evolve_cmd


@pytest.fixture(scope="module")
def own_pg():
    """(root, admin URL) of a throwaway PostgreSQL cluster this module may crash and restart."""
    try:
        import psycopg  # noqa: F401
        missing = None if pg_support.find_bindir() else "PostgreSQL is not installed (apt-get install postgresql)"
    except ImportError:
        missing = "psycopg is not installed (pip install 'psycopg[binary]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    root = tempfile.mkdtemp(prefix="evolve-pg-outage-")
    try:
        yield root, pg_support.start_cluster(root)
    finally:
        pg_support.stop_cluster(root)


@pytest.fixture
def outage_db(own_pg):
    root, admin = own_pg
    url = pg_support.create_database(admin, prefix="evolve_outage")
    yield root, url
    try:
        pg_support.start_again(root)
    except subprocess.CalledProcessError:
        pass  # already running
    pg_support.drop_database(admin, url)


def _rows(url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(text(sql), params)]
    finally:
        engine.dispose()


# ---- a COMMIT whose acknowledgement is lost ------------------------------------------------------

class CommitCutter:
    """A loopback TCP proxy to PostgreSQL that, once armed, cuts the connection that sends COMMIT:
    `after` forwards the COMMIT and drops the server's answer; `before` drops the COMMIT itself."""

    def __init__(self, target: tuple[str, int], mode: str):
        self.target, self.mode = target, mode
        self.armed = False
        self.cuts = 0
        self.silenced: set[socket.socket] = set()  # clients whose server's answers are dropped
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.armed and b"COMMIT\x00" in data:
                    self.armed = False
                    self.cuts += 1
                    if self.mode == "after":
                        self.silenced.add(src)
                        dst.sendall(data)
                        time.sleep(0.5)  # the server commits; its answer never reaches the client
                    for sock in (src, dst):
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
                if not from_client and dst in self.silenced:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("mode", ["after", "before"])
def test_a_commit_whose_acknowledgement_is_lost_is_stored_exactly_once(mode, outage_db):
    from archive import Archive, ProgramState
    from evolve.loop.dbthread import DatabaseThread

    _root, url = outage_db
    direct = make_url(url)
    Archive(url).close()  # the schema, created directly
    proxy = CommitCutter((direct.host, direct.port), mode)
    archive = Archive(direct.set(port=proxy.port).render_as_string(hide_password=False))
    campaign = archive.create_campaign(name="cut", task_name="toy", task_dir=None, config={}, seed=0, iterations=1)
    db = DatabaseThread(outage_grace_s=20)

    async def main():
        proxy.armed = True
        await db(archive.log_event, campaign.id, "probe", None, n=1)
        proxy.armed = True
        return await db(archive.add_program, campaign.id, iteration=0, code="x = 1", code_hash="h", parent_id=None,
                        inspiration_ids=[], mutator="seed", operator="seed", edit={}, generation=0, island=0,
                        state=ProgramState.PENDING)

    try:
        program_id = asyncio.run(main())
    finally:
        db.close()
        archive.close()
        proxy.close()
    assert proxy.cuts == 2
    assert _rows(url, "SELECT count(*) FROM events WHERE kind = 'probe'") == [(1,)]
    assert _rows(url, "SELECT id FROM programs WHERE campaign_id = :c", c=campaign.id) == [(program_id,)]
    assert db.retries == (2 if mode == "before" else 0)  # rolled back: run again; committed: settled by asking


# ---- a crash of the server mid-campaign ----------------------------------------------------------

def _evaluated(url: str) -> int:
    try:
        return _rows(url, "SELECT count(*) FROM evaluations")[0][0]
    except Exception:  # noqa: BLE001 - the server is down, or the schema not made yet
        return -1


def _start_campaign(url: str, tmp_path, cli_env, archive_options: str, iterations: int) -> subprocess.Popen:
    config = tmp_path / "campaign.yaml"
    config.write_text(f"archive:\n{archive_options}")
    return subprocess.Popen(evolve_cmd("run", "--task-dir", TOY_TASK, "--config", config, "--iterations", iterations,
                                       "--workers", 2, "--seed", 7, "--db", url, "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)


def _wait_evaluated(url: str, process: subprocess.Popen, at_least: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        count = _evaluated(url)
        if count >= at_least:
            return count
        time.sleep(0.05)
    raise AssertionError(f"the campaign ended or stalled before {at_least} evaluations: "
                         f"{process.poll()} {process.stderr.read()[-2000:] if process.poll() is not None else ''}")


def _assert_every_iteration_once(url: str, iterations: int) -> None:
    rows = _rows(url, "SELECT p.iteration, count(e.id) FROM programs p LEFT JOIN evaluations e ON "
                      "e.program_id = p.id AND e.role = 'train' GROUP BY p.iteration ORDER BY p.iteration")
    assert [r[0] for r in rows] == list(range(iterations + 1)), "an iteration is missing or doubled"
    states = dict(_rows(url, "SELECT state, count(*) FROM programs GROUP BY state"))
    assert "pending" not in states, states
    evaluated = states.get("evaluated", 0)
    assert sum(1 for r in rows if r[1] == 1) == evaluated and all(r[1] <= 1 for r in rows), rows
    total, distinct = _rows(url, "SELECT count(*), count(DISTINCT (program_id, split)) FROM evaluations")[0]
    assert total == distinct, "an evaluation was stored twice"


RIDE = "  heartbeat_s: 1\n  outage_grace_s: 30\n  stale_after_s: 45\n"


@pytest.mark.parametrize("round_", range(10))  # a one-in-four failure slips through 10 rounds 6 % of the time
def test_a_postgresql_crash_mid_campaign_is_ridden_through(round_, outage_db, tmp_path, cli_env):
    root, url = outage_db
    iterations = 100
    run = _start_campaign(url, tmp_path, cli_env, RIDE, iterations)
    try:
        before = _wait_evaluated(url, run, at_least=10 + 5 * round_)
        pg_support.crash(root)
        crashed_at = time.monotonic()
        time.sleep(3)
        assert run.poll() is None, "the campaign ended during the outage"
        pg_support.start_again(root)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "never retrieved" not in err, err[-3000:]
    summary = json.loads(out)
    assert summary["state"] == "finished" and summary["iterations_done"] == iterations
    assert _evaluated(url) > before and time.monotonic() - crashed_at > 3
    _assert_every_iteration_once(url, iterations)


def test_an_outage_longer_than_the_grace_ends_the_campaign_in_one_line(outage_db, tmp_path, cli_env):
    root, url = outage_db
    iterations = 100
    run = _start_campaign(url, tmp_path, cli_env, "  heartbeat_s: 1\n  outage_grace_s: 3\n  stale_after_s: 8\n",
                          iterations)
    try:
        _wait_evaluated(url, run, at_least=10)
        pg_support.crash(root)
        crashed_at = time.monotonic()
        out, err = run.communicate(timeout=120)
        ended_after = time.monotonic() - crashed_at
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 2, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert lines[0].startswith("evolve: error: ") and "unreachable for 3 s (archive.outage_grace_s)" in lines[0]
    assert "`evolve resume` continues it" in lines[0]
    assert 3 <= ended_after < 60
    pg_support.start_again(root)
    status = json.loads(subprocess.run(evolve_cmd("status", "1", "--db", url, "--json"), capture_output=True,
                                       text=True, env=cli_env, timeout=120).stdout)
    assert status["liveness"] != "running", status  # its process is gone: stale, not running
    resumed = subprocess.run(evolve_cmd("resume", "1", "--db", url, "--json"), capture_output=True, text=True,
                             env=cli_env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_every_iteration_once(url, iterations)
