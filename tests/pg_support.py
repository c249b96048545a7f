"""A throwaway PostgreSQL server for tests, benchmarks and CI.

`EVOLVE_TEST_PG_URL` (an admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5433/postgres)
points at a running server; otherwise `start_cluster` makes one with Debian's binaries in a temp
dir (initdb as user `postgres` when we are root: the server refuses to run as root), listening on
a free localhost port with its unix socket in that dir. `stop_cluster` stops it by its PID.

Also a command line, used by `.ci/run` so CI and the tests share one implementation:
    python tests/pg_support.py start DIR   # prints the admin URL
    python tests/pg_support.py stop DIR
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ENV_URL = "EVOLVE_TEST_PG_URL"


def find_bindir() -> Path | None:
    """Debian installs the server under /usr/lib/postgresql/<major>/bin; the newest one wins."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_cluster(root: str | Path) -> str:
    """Create and start a cluster under `root` (made if needed); return its admin URL."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data, sockets = root / "data", root / "sock"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                              "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
    port = _free_port()
    # fsync off: a throwaway test server; durability across power loss is not what is tested here
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    (root / "options").write_text(options)  # start_again() brings the server back with them
    _pg_ctl_start(bindir, root)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def _pg_ctl_start(bindir: Path, root: Path) -> None:
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"),
                              "-o", (root / "options").read_text(), "-w", "-t", "60", "start"]),
                   check=True, capture_output=True)


def crash(root: str | Path) -> None:
    """`pg_ctl stop -m immediate`: every server process ends at once, as when its machine loses power
    (connections drop mid-statement, mid-COMMIT; the next start recovers from the WAL)."""
    bindir = find_bindir()
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(Path(root) / "data"), "-m", "immediate", "-w",
                              "stop"]), check=True, capture_output=True)


def start_again(root: str | Path) -> None:
    """Start a stopped (or crashed) cluster made by start_cluster, on its port."""
    _pg_ctl_start(find_bindir(), Path(root))


def stop_cluster(root: str | Path) -> None:
    """Fast-shutdown the server whose data dir is under `root`, by the PID it wrote; remove `root`."""
    pid_file = Path(root) / "data" / "postmaster.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _admin(url: str):
    import psycopg

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
                           dbname=parsed.database or "postgres", autocommit=True)


def create_database(admin_url: str, prefix: str = "evolve_test") -> str:
    """A fresh, empty database on the server; returns its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin(admin_url) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with _admin(admin_url) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python tests/pg_support.py start|stop DIR")
    if sys.argv[1] == "start":
        print(start_cluster(sys.argv[2]))
    else:
        stop_cluster(sys.argv[2])
