"""Faults at the network's edge, through the real CLI in subprocesses: malformed --db URLs, and
--ray-address pointing at things that are not a Ray cluster (a silent listener, a PostgreSQL
server, a closed port, a gRPC-speaking server that never answers as Ray, a Ray Client URL)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from core_support import TOY_TASK, evolve_cmd

BAD_URLS = {
    "port not a number": ("postgresql+psycopg://evolve:s3cret-pw@127.0.0.1:abc/archive", "the port 'abc' is not a number"),
    "no dialect": ("://evolve:s3cret-pw@127.0.0.1/archive", "no database dialect before '://'"),
    "unknown dialect": ("nosuchdb://evolve:s3cret-pw@127.0.0.1/archive", "unknown database dialect 'nosuchdb'"),
    "unknown driver": ("postgresql+nosuch://h/archive", "unknown database dialect 'postgresql+nosuch'"),
    "garbage host": ("postgresql://evolve:s3cret-pw@[::1/archive", "not a database URL"),
    "port out of range": ("postgresql://h:99999/archive", "the port 99999 is out of range"),
    "spaces in the dialect": ("post gres://h/archive", "'post gres' is not a database dialect"),
}


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evolve: error: "), done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


COMMANDS = {"status": ["status"], "best": ["best"], "resume": ["resume", "1"],
            "run": ["run", "--task-dir", str(TOY_TASK), "--iterations", "1"]}
# every malformed URL through `status`; the two that used to print tracebacks through every command
CASES = [(case, "status") for case in sorted(BAD_URLS)] + [
    (case, command) for case in ("port not a number", "no dialect") for command in ("best", "resume", "run")]


@pytest.mark.parametrize("case,command", CASES)
def test_a_malformed_db_url_is_one_line_exit_2_and_writes_nothing(case, command, tmp_path, cli_env):
    url, expected = BAD_URLS[case]
    done = subprocess.run(evolve_cmd(*COMMANDS[command], "--db", url), capture_output=True, text=True, env=cli_env,
                          cwd=tmp_path, timeout=120)
    line = _one_line_error(done)
    assert expected in line and "s3cret-pw" not in done.stderr
    assert "file path or postgresql+psycopg://" in line  # what a good one looks like
    assert list(tmp_path.iterdir()) == []


# ---- --ray-address that is not Ray -------------------------------------------------------------

try:
    import ray  # noqa: F401
except ImportError:
    ray = None


def _need_ray() -> None:
    if ray is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("CI installs Ray (.ci/run)")
        pytest.skip("Ray is not installed (pip install 'evolve[ray]')")


class Listener:
    """A TCP server on loopback that accepts and then either says nothing or sends `greeting` and
    goes silent (holding every connection open)."""

    def __init__(self, greeting: bytes = b""):
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.greeting:
                try:
                    conn.sendall(self.greeting)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_listener():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def grpc_lookalike():
    """Answers the HTTP/2 preface with a SETTINGS frame, as a gRPC server does, then never says more:
    it passes the probe, so what bounds the wait is the abandoned `ray.init`."""
    listener = Listener(greeting=b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    yield listener
    listener.close()


def _run_against(address: str, tmp_path, cli_env, timeout_s: float) -> subprocess.Popen:
    config = tmp_path / "campaign.yaml"
    config.write_text(f"ray:\n  connect_timeout_s: {timeout_s}\n")
    return subprocess.Popen(evolve_cmd("run", "--task-dir", TOY_TASK, "--executor", "ray", "--ray-address", address,
                                       "--config", config, "--iterations", 2, "--db", tmp_path / "never.db"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env, cwd=tmp_path)


def _finish(process: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# Start-up of the CLI and Ray's import, on a loaded 2-core machine, beyond the connect timeout itself.
STARTUP_S = 30


@pytest.mark.parametrize("kind", ["silent listener", "grpc lookalike", "postgresql", "closed port"])
def test_a_ray_address_that_is_not_ray_is_one_line_exit_2_within_the_timeout(kind, tmp_path, cli_env, request):
    _need_ray()
    if kind == "silent listener":
        address, expected = request.getfixturevalue("silent_listener").address, "nothing answered as Ray within 4 s"
    elif kind == "grpc lookalike":
        address, expected = request.getfixturevalue("grpc_lookalike").address, "no answer within 4 s"
    elif kind == "postgresql":
        from sqlalchemy.engine import make_url
        admin = make_url(request.getfixturevalue("pg_admin_url"))
        address, expected = f"{admin.host}:{admin.port}", "not a Ray cluster"
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{sock.getsockname()[1]}"  # released: nothing listens there
        expected = "Connection refused"
    started = time.monotonic()
    done = _finish(_run_against(address, tmp_path, cli_env, timeout_s=4), timeout=4 + STARTUP_S + 30)
    elapsed = time.monotonic() - started
    line = _one_line_error(done)
    assert line.startswith(f"evolve: error: cannot connect to a Ray cluster at {address}: ") and expected in line
    assert elapsed < 4 + STARTUP_S
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("kind", ["silent listener", "grpc lookalike"])
def test_sigterm_ends_the_command_while_it_waits_for_a_ray_address(kind, tmp_path, cli_env, request):
    _need_ray()
    listener = request.getfixturevalue(kind.replace(" ", "_"))
    process = _run_against(listener.address, tmp_path, cli_env, timeout_s=120)
    # Wait until it is connected to the listener (then it waits on the probe or inside ray.init).
    deadline = time.monotonic() + STARTUP_S + 30
    while not listener.held and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert listener.held and process.poll() is None
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    done = _finish(process, timeout=15)
    assert time.monotonic() - stopped < 10
    assert done.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM, 2), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_a_ray_client_address_is_refused_in_one_line_naming_what_to_use(tmp_path, cli_env):
    _need_ray()
    done = _finish(_run_against("ray://127.0.0.1:10001", tmp_path, cli_env, timeout_s=4), timeout=STARTUP_S + 30)
    line = _one_line_error(done)
    assert "Ray Client (ray://) addresses are not supported" in line
    assert "ray job submit" in line and "--ray-address HOST:PORT" in line
