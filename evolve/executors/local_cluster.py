"""A throwaway Ray cluster on this machine: a head and more raylets, all in one temp dir.

For trying the Ray executor without a cluster, and for the tests and benchmark: every node is
started with `ray start` (the second and later with `--address`), on loopback, with its own
resources, and stopped by PID — never `ray stop`, which would end every Ray process of the
machine. `python -m evolve.executors.local_cluster start|stop DIR` does the same from a shell.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Loopback, but not 127.0.0.1: Ray swaps 127.0.0.1 for the machine's outward address.
NODE_IP = "127.0.0.2"
# Dead raylets are noticed in ~3 s instead of ~15 s (GCS health checks).
FAST_FAILURE_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                    "RAY_health_check_initial_delay_ms": "1000"}
STATE_FILE = "cluster.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def descendants(roots: set[int], parents: dict[int, int] | None = None) -> set[int]:
    """Every process below `roots` (not the roots themselves)."""
    parents = parents if parents is not None else _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def job_server_available() -> bool:
    """Whether this Ray can run its dashboard, which serves `ray job submit` (the `ray[default]` install)."""
    try:
        import aiohttp  # noqa: F401
        import ray.dashboard.modules.job.job_head  # noqa: F401
    except ImportError:
        return False
    return True


class LocalRayCluster:
    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.extra_env = {**FAST_FAILURE_ENV, **(env or {})}
        self.env = {**os.environ, **self.extra_env}
        self.address: str | None = None
        self.dashboard: str | None = None  # http://HOST:PORT of the job server, when the head runs one
        self.nodes: list[dict] = []  # {"raylet_pid", "num_cpus", "resources"}

    @classmethod
    def create(cls, env: dict[str, str] | None = None) -> "LocalRayCluster":
        # Short path: Ray's Unix sockets live below it and socket paths are limited to 107 bytes.
        return cls(Path(tempfile.mkdtemp(prefix="evr-", dir="/tmp")), env)

    @classmethod
    def attach(cls, root: Path) -> "LocalRayCluster":
        state = json.loads((Path(root) / STATE_FILE).read_text())
        cluster = cls(Path(root), state.get("env"))
        cluster.address, cluster.nodes = state["address"], state["nodes"]
        cluster.dashboard = state.get("dashboard")
        return cluster

    # ---- nodes -------------------------------------------------------------------------------
    def start(self, nodes: list[dict], dashboard: bool | None = None) -> str:
        """Start a head (nodes[0]) and one raylet per further entry: {"num_cpus": N, "resources": {...}}.

        `dashboard` (default: when this Ray has it): the head also runs Ray's dashboard, whose job
        server takes `ray job submit --address http://...`; start() returns once it answers."""
        dashboard = job_server_available() if dashboard is None else dashboard
        port, dashboard_port = free_port(), free_port()
        self.address = f"{NODE_IP}:{port}"
        self._ray_start(["--head", "--port", str(port), "--temp-dir", str(self.root),
                         "--include-dashboard", "true" if dashboard else "false",
                         "--dashboard-host", NODE_IP, "--dashboard-port", str(dashboard_port)], nodes[0])
        if dashboard:
            self.dashboard = f"http://{NODE_IP}:{dashboard_port}"
            self._save()
            self._wait_for_job_server()
        for node in nodes[1:]:
            self.add_node(node)
        return self.address

    def _wait_for_job_server(self, timeout: float = 120.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.dashboard}/api/version", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray's job server at {self.dashboard} did not answer within {timeout:g} s")
            time.sleep(0.5)

    def add_node(self, node: dict) -> int:
        # Its own temp dir, as a machine of its own has: nodes sharing one would share one runtime_resources
        # dir, and one node dropping a job's unused working_dir would delete it under the others.
        temp_dir = self.root / f"n{len(self.nodes)}"
        temp_dir.mkdir(exist_ok=True)
        self._ray_start(["--address", self.address, "--temp-dir", str(temp_dir)], node)
        return len(self.nodes) - 1

    def _ray_start(self, args: list[str], node: dict) -> None:
        before = self._raylets()
        # The `ray` CLI of this interpreter (a PATH lookup could find another Python's).
        command = [sys.executable, "-m", "ray.scripts.scripts", "start", *args, "--node-ip-address", NODE_IP, "--num-cpus", str(node.get("num_cpus", 1)),
                   "--resources", json.dumps(node.get("resources", {})), "--object-store-memory", str(80 * 1024 ** 2),
                   "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"`ray start` failed: {(done.stderr or done.stdout).strip()[-600:]}")
        new = self._raylets() - before
        deadline = time.monotonic() + 10
        while not new and time.monotonic() < deadline:
            time.sleep(0.2)
            new = self._raylets() - before
        if len(new) != 1:
            raise RuntimeError(f"cannot tell which raylet `ray start` started (found {sorted(new)})")
        self.nodes.append({"raylet_pid": new.pop(), "num_cpus": node.get("num_cpus", 1),
                           "resources": node.get("resources", {})})
        self._save()

    def _raylets(self) -> set[int]:
        # A process that is exiting has an empty cmdline.
        return {pid for pid in self.pids() if (_cmdline(pid) or [""])[0].endswith("/raylet") and alive(pid)}

    def kill_node(self, index: int) -> int:
        """SIGKILL a node's raylet and every process below it (its Ray workers, their sandboxes) at once,
        as when the machine goes away; returns the raylet's PID. Killing only the raylet is a different
        event: its workers keep answering direct actor calls until they notice, seconds later."""
        pid = self.nodes[index]["raylet_pid"]
        for victim in [pid, *descendants({pid})]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        return pid

    # ---- processes ---------------------------------------------------------------------------
    def pids(self) -> set[int]:
        """This cluster's processes: those naming its directory, and everything below them."""
        parents = _parents()
        mine = {pid for pid in parents if str(self.root) in " ".join(_cmdline(pid))}
        return {pid for pid in mine | descendants(mine, parents) if pid != os.getpid()}

    def stop(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def _save(self) -> None:
        (self.root / STATE_FILE).write_text(json.dumps({"address": self.address, "dashboard": self.dashboard,
                                                        "nodes": self.nodes, "env": self.extra_env}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evolve.executors.local_cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a head and a second raylet; print the address and the directory")
    start.add_argument("--head-cpus", type=int, default=2)
    start.add_argument("--node-cpus", type=int, default=2)
    start.add_argument("--node-resources", default='{"node2": 4}', help="JSON of the second node's custom resources")
    start.add_argument("--no-dashboard", action="store_true", help="no dashboard (and so no `ray job submit`)")
    stop = sub.add_parser("stop", help="end every process of the cluster in DIR, by PID")
    stop.add_argument("dir")
    jobs = sub.add_parser("dashboard", help="print the address `ray job submit --address` takes for the cluster in DIR")
    jobs.add_argument("dir")
    args = parser.parse_args(argv)
    if args.command == "dashboard":
        cluster = LocalRayCluster.attach(Path(args.dir))
        if not cluster.dashboard:
            print(f"the cluster in {args.dir} runs no dashboard (started with --no-dashboard, or without "
                  f"ray[default])", file=sys.stderr)
            return 1
        print(cluster.dashboard)
        return 0
    if args.command == "start":
        cluster = LocalRayCluster.create()
        try:
            cluster.start([{"num_cpus": args.head_cpus}, {"num_cpus": args.node_cpus,
                                                          "resources": json.loads(args.node_resources)}],
                          dashboard=False if args.no_dashboard else None)
        except Exception:
            cluster.stop()
            raise
        print(cluster.address, cluster.root)
        return 0
    LocalRayCluster.attach(Path(args.dir)).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
