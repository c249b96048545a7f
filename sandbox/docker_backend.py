"""Docker backend: each evaluation worker runs in a locked-down container on a real engine.

The container runs the caller's worker module (`python -m MODULE --jail none`; the container
is the jail) and the pool talks the ordinary worker protocol to it over the container's
attached stdin/stdout. Inside, two identities:

  scorer     uid 0 with every capability dropped except SETUID/SETGID; reads /opt/evolve (0700):
             the worker, scorers, task data, user task dirs mounted read-only beneath it.
  candidate  a per-container uid with no capabilities, set by `setpriv` when the worker starts
             the zygote. It reads /opt/jail (fork server + numpy) and the stdlib, and writes
             only /scratch and /run/evolve, both wiped after every evaluation.

Every container: no network, read-only root, tmpfs scratch, memory/CPU/pids limits, all
capabilities dropped but the two above, no-new-privileges, auto-removed when it stops. The
worker exits when its stdin closes; the engine closes it when our attach connection drops
(`stdin_once`), so containers die with the controller, even after a kill -9.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import socket
import struct
import time
from pathlib import Path
from typing import Any

from . import wire
from .pool import WorkerPool, WorkerProcess, WorkerStartError
from . import failures
from .failures import SandboxUnavailable

LABEL = "org.evolve.sandbox"          # every container we start carries LABEL=1
LABEL_OWNER = "org.evolve.owner"      # "<hostname>:<pid>" of the controller that started it
LABEL_POOL = "org.evolve.pool"        # one value per DockerPool instance
VENV_PYTHON = "/opt/evolve/venv/bin/python"
JAIL_LIB = "/opt/jail/lib"
JAIL_SITE = "/opt/jail/site"
TASK_MOUNTS = "/opt/evolve/tasks"
SCRATCH = "/scratch"
RUN_DIR = "/run/evolve"
SCORER_TMP = "/run/evolve-scorer"     # the worker's TMPDIR; /tmp itself stays on the read-only root
WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": SCORER_TMP,
    "TMPDIR": SCORER_TMP,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Evaluations ending like this may have left the container in an unknown state: replace it.
ANOMALIES = (failures.TIMEOUT, failures.OOM, failures.CRASHED)
_MUX_HEADER = struct.Struct(">BxxxI")


class DockerUnavailable(SandboxUnavailable):
    """The Docker engine, the SDK or the sandbox image is missing; the message says which."""


class GpuUnavailable(SandboxUnavailable):
    """A task requires a GPU the engine cannot provide."""


# --- engine ---------------------------------------------------------------------------------
def connect(timeout: float = 30.0):
    """A docker SDK client for the engine in DOCKER_HOST (default: the local socket)."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable("the docker Python SDK is not installed: pip install 'docker>=7'") from None
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing to the user
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerUnavailable(f"Docker engine unreachable at {where}: {_one_line(exc)}"
                                " (start dockerd or set DOCKER_HOST)") from None
    return client


def engine_runtimes(client) -> set[str]:
    return set((client.info().get("Runtimes") or {}).keys())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def gpu_device_requests(task_name: str, wants_gpu: bool, gpu_optional: bool, runtimes: set[str],
                        gpus: str = "all") -> list:
    """Device requests giving a container the GPUs a task wants.

    `gpus` is "all", "none" or a comma-separated list of device ids/UUIDs. Returns [] when the
    task wants no GPU, when `gpus` is "none", or when the task may fall back to CPU and the
    engine has no NVIDIA runtime; raises GpuUnavailable when the task requires one.
    """
    if not wants_gpu or gpus == "none":
        return []
    if "nvidia" not in runtimes:
        if gpu_optional:
            return []
        have = ", ".join(sorted(runtimes)) or "none"
        raise GpuUnavailable(f"task {task_name!r} requires a GPU but the Docker engine has no NVIDIA runtime "
                             f"(runtimes: {have}); install nvidia-container-toolkit and restart dockerd")
    from docker.types import DeviceRequest
    if gpus == "all":
        return [DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])]
    ids = [part.strip() for part in gpus.split(",") if part.strip()]
    if not ids:
        raise ValueError(f"gpus={gpus!r}: expected 'all', 'none' or a comma-separated list of device ids")
    return [DeviceRequest(driver="nvidia", device_ids=ids, capabilities=[["gpu"]])]


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sandbox_containers(client, all_owners: bool = True) -> list:
    """Containers started by any evolve sandbox (running or not); optionally only orphans."""
    found = client.containers.list(all=True, filters={"label": f"{LABEL}=1"})
    if all_owners:
        return found
    return [c for c in found if _orphaned(c.labels.get(LABEL_OWNER, ""))]


def _orphaned(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's controller, or unlabelled: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_containers(containers) -> int:
    removed = 0
    for container in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True)
            removed += 1
    return removed


# --- container configuration -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ContainerLimits:
    """Container-wide caps (per-evaluation limits are applied to the candidate by the zygote)."""
    memory_mb: int = 4096
    cpus: float = 1.0
    pids: int = 256
    scratch_mb: int = 64
    tmp_mb: int = 64


def container_config(image: str, uid: int, limits: ContainerLimits, mounts: dict[str, str] | None = None,
                     device_requests: list | None = None, owner: str | None = None,
                     pool: str = "", *, worker_module: str) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create` of one sandbox worker container."""
    zygote_options = {
        "lib_dir": JAIL_LIB,
        "scratch_mb": limits.scratch_mb,
        # The worker is uid 0 with CAP_SETUID/SETGID only; setpriv drops the zygote, and so every
        # candidate it forks, to the candidate uid before python starts. exec then clears all caps.
        "command_prefix": ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"],
        # kill_all: kill(-1) as the candidate uid reaches the candidate's strays and nothing else.
        "extra_config": {"scratch": SCRATCH, "log_dir": RUN_DIR, "kill_all": True, "drop_uid": None,
                         "sys_path": [JAIL_SITE]},
    }
    owned_tmpfs = f"rw,nosuid,nodev,uid={uid},gid={uid},mode=0700"
    return {
        "image": image,
        "command": [VENV_PYTHON, "-I", "-m", worker_module, "--jail", "none",
                    "--zygote-options", json.dumps(zygote_options)],
        "user": "0:0",
        "environment": dict(WORKER_ENV),
        "working_dir": "/",
        "hostname": "sandbox",
        "labels": {LABEL: "1", LABEL_OWNER: owner or owner_label(), LABEL_POOL: pool},
        # stdin_open without detach makes the SDK set StdinOnce: when our attach connection
        # closes (close(), or the controller dies), the engine closes the worker's stdin.
        "stdin_open": True,
        "detach": False,
        "tty": False,
        "auto_remove": True,
        # The worker is pid 1 (it exits at once when its parent is an init). Orphans can only
        # appear when a candidate kills the zygote; that evaluation is an anomaly and the
        # container is replaced, so pid 1 never has to reap for long.
        "init": False,
        "network_mode": "none",
        "ipc_mode": "none",          # no /dev/shm to leave data in between evaluations
        "read_only": True,
        # Only paths absent from the image: the engine copies an existing directory's mode onto
        # its tmpfs (a tmpfs on /tmp would be 1777 whatever mode= says).
        "tmpfs": {
            SCRATCH: f"size={limits.scratch_mb}m,{owned_tmpfs}",
            RUN_DIR: f"size=8m,{owned_tmpfs}",
            SCORER_TMP: f"size={limits.tmp_mb}m,rw,nosuid,nodev,mode=0700",
            "/dev/mqueue": "ro,size=4k,mode=0555",  # no POSIX message queues to leave data in
        },
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "cap_add": ["SETUID", "SETGID"],
        "security_opt": ["no-new-privileges"],
        "oom_score_adj": 1000,
        "log_config": {"type": "none"},
        "volumes": {host: {"bind": inside, "mode": "ro"} for host, inside in (mounts or {}).items()},
        "device_requests": list(device_requests or []),
    }


def candidate_uid() -> int:
    """A uid of its own per container, so RLIMIT_NPROC and kill(-1) never reach another container."""
    return random.randrange(200_000, 900_000)


# --- one worker in one container ------------------------------------------------------------
class DockerWorker(WorkerProcess):
    """A worker process inside a container, reached through the container's attach socket."""

    def __init__(self, client, config: dict[str, Any], generation: int = 0):
        super().__init__(command=config["command"])
        self.client = client
        self.config = config
        self.generation = generation
        self.container_id: str | None = None
        self._attach = None
        self._demux_task: asyncio.Task | None = None
        self._eof = False

    async def start(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._attach = await loop.run_in_executor(None, self._create_and_start)
        except DockerUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            await self.kill()
            raise WorkerStartError(f"sandbox container failed to start: {_one_line(exc)}") from None
        raw = self._attach._sock
        reader, writer = await asyncio.open_unix_connection(sock=raw, limit=wire.MAX_FRAME + 16) \
            if raw.family == socket.AF_UNIX else await asyncio.open_connection(sock=raw, limit=wire.MAX_FRAME + 16)
        self.stdin = writer
        self.stdout = asyncio.StreamReader(limit=wire.MAX_FRAME + 16)
        self._demux_task = asyncio.create_task(self._demux(reader))
        await self._hello(timeout)

    def _create_and_start(self):
        container = self.client.containers.create(**self.config)
        self.container_id = container.id
        # Attach before start: nothing is missed, and stdin_once binds the container to this connection.
        sock = self.client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                                   "stream": 1})
        container.start()
        return sock

    async def _demux(self, reader: asyncio.StreamReader) -> None:
        """Split the engine's multiplexed stream: stdout feeds the protocol, stderr the tail."""
        partial = b""
        try:
            while True:
                stream, size = _MUX_HEADER.unpack(await reader.readexactly(_MUX_HEADER.size))
                payload = await reader.readexactly(size)
                if stream == 1:
                    self.stdout.feed_data(payload)
                else:
                    *lines, partial = (partial + payload).split(b"\n")
                    partial = partial[-2000:]
                    for line in lines:
                        self.stderr_tail.append(line.decode("utf-8", "replace").rstrip()[:500])
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._eof = True
            self.stdout.feed_eof()

    @property
    def alive(self) -> bool:
        return self._demux_task is not None and not self._eof

    async def kill(self) -> None:
        """Kill the container now (the engine removes it) and wait until it is gone."""
        await asyncio.get_running_loop().run_in_executor(None, self._kill_and_wait)
        await self._close_streams()

    def _kill_and_wait(self, grace: float = 0.0) -> None:
        if self.container_id is None:
            return
        import docker.errors
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self._exists():
                return
            time.sleep(0.02)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.api.kill(self.container_id)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._exists():
            time.sleep(0.02)
        if self._exists():  # auto-remove did not happen (engine hiccup): remove by force
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_container(self.container_id, force=True)

    def _exists(self) -> bool:
        import docker.errors
        try:
            self.client.api.inspect_container(self.container_id)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            return True
        return True

    async def _close_streams(self) -> None:
        if self.stdin is not None:
            self.stdin.close()
            with contextlib.suppress(Exception):
                await self.stdin.wait_closed()
        if self._demux_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._demux_task, 2)
        if self._attach is not None:
            with contextlib.suppress(Exception):
                self._attach.close()

    async def close(self) -> None:
        """Close the worker's stdin so it exits by itself; kill the container if it lingers."""
        if self.stdin is not None and not self._eof:
            with contextlib.suppress(Exception):
                self.stdin.write_eof()
        await asyncio.get_running_loop().run_in_executor(None, lambda: self._kill_and_wait(grace=5.0))
        await self._close_streams()


# --- the backend ------------------------------------------------------------------------------
class DockerPool(WorkerPool):
    """A warm pool of sandbox containers, each running the caller's worker module.

    Options: memory_mb / cpus / pids / scratch_mb (container caps), recycle_after (evaluations
    per container, default 100; 1 = a fresh container every time), gpus ("all", "none" or
    device ids). `image` is required: the caller knows which image carries its worker.
    """

    name = "docker"

    def __init__(self, workers: int = 1, *, image: str, worker_module: str, memory_mb: int = 4096,
                 cpus: float = 1.0, pids: int = 256, scratch_mb: int = 64, recycle_after: int | None = 100,
                 gpus: str = "all", client=None, **unknown):
        if unknown:
            raise TypeError(f"unknown docker sandbox option(s): {', '.join(sorted(unknown))}")
        self.client = client or connect()
        self.image = image
        self.worker_module = worker_module
        self._check_image()
        self.container_limits = ContainerLimits(memory_mb=int(memory_mb), cpus=float(cpus), pids=int(pids),
                                                scratch_mb=int(scratch_mb))
        self.gpus = gpus
        self._runtimes: set[str] | None = None
        self._mounts: dict[str, str] = {}
        self._device_requests: list = []
        self._generation = 0
        self._owner = owner_label()
        self._pool_id = os.urandom(6).hex()
        remove_containers(sandbox_containers(self.client, all_owners=False))  # leftovers of dead controllers
        super().__init__(workers, self._new_worker, recycle_after=recycle_after, recycle_statuses=ANOMALIES)

    def _check_image(self) -> None:
        import docker.errors
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"sandbox image {self.image} is absent; build it with `evolve sandbox build`") from None

    def _new_worker(self) -> DockerWorker:
        config = container_config(self.image, candidate_uid(), self.container_limits, self._mounts,
                                  self._device_requests, owner=self._owner, pool=self._pool_id,
                                  worker_module=self.worker_module)
        return DockerWorker(self.client, config, generation=self._generation)

    def _usable(self, worker: WorkerProcess) -> bool:
        return worker.alive and getattr(worker, "generation", 0) == self._generation

    def share_dir(self, host_path: str) -> str:
        """Mount a host directory read-only in every container (idle ones are replaced when next used)."""
        host = str(Path(host_path).resolve())
        if host not in self._mounts:
            self._mounts[host] = f"{TASK_MOUNTS}/{hashlib.sha256(host.encode()).hexdigest()[:12]}"
            self._generation += 1
        return self._mounts[host]

    def want_gpu(self, label: str, optional: bool) -> str | None:
        if self.gpus == "none":
            return None
        if self._runtimes is None:
            self._runtimes = engine_runtimes(self.client)
        requests = gpu_device_requests(label, True, optional, self._runtimes, self.gpus)
        if not requests:
            return "no NVIDIA runtime on the Docker engine: ran on CPU"
        if not self._device_requests:
            self._device_requests = requests
            self._generation += 1
        return None

    async def close(self) -> None:
        await super().close()
        # Anything of ours still there (a start that failed half-way): remove it.
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: remove_containers(self.client.containers.list(
                all=True, filters={"label": f"{LABEL_POOL}={self._pool_id}"})))
