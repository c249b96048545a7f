"""An asyncio pool of evaluation workers, each a process speaking the worker protocol.

Backends differ only in the command that starts a worker (a local process, a process in a
container); the pool handles requests, timeouts, dead workers and restarts. It knows nothing of
what the workers run: a request is a plain dict, a reply's result is a plain dict, and the pool's
own failures (a worker that died or overran) are `failures.failure(...)` dicts.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
from typing import Any, Callable, Sequence

from . import failures, reaper, wire
from .failures import SandboxUnavailable

# Time a worker gets beyond the candidate's wall limit for the scorer's own work and cleanup.
SCORER_GRACE_S = 30.0
_HEADER = struct.Struct(">I")


class WorkerStartError(SandboxUnavailable):
    pass


class WorkerProcess:
    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None):
        self.command = list(command)
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        # The protocol channel: frames go out on `stdin` and come back on `stdout` (asyncio
        # streams). Subclasses that reach a worker another way (a container's attach socket)
        # set these two and reuse `_read` / `request` unchanged.
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.evaluations = 0
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._stderr_task: asyncio.Task | None = None
        self._descendants: dict[int, int] = {}  # pid -> pidfd: the worker's children and theirs (the jail)

    async def start(self, timeout: float = 60.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env, limit=wire.MAX_FRAME + 16,
            # Its own session: Ctrl-C or a group SIGTERM reaches only the controller, which stops
            # gracefully and lets evaluations in flight finish. PDEATHSIG still ends the worker.
            start_new_session=True)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        await self._hello(timeout)

    async def _hello(self, timeout: float) -> None:
        try:
            hello = await asyncio.wait_for(self._read(), timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, wire.WireError):
            await self.kill()
            raise WorkerStartError("evaluation worker failed to start: " + " | ".join(self.stderr_tail)[-800:]) from None
        if hello.get("op") != "hello":
            await self.kill()
            raise WorkerStartError("evaluation worker sent an unexpected greeting")

    async def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while line := await self.proc.stderr.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip()[:500])

    async def _read(self) -> dict:
        assert self.stdout is not None
        (size,) = _HEADER.unpack(await self.stdout.readexactly(_HEADER.size))
        return wire.decode(await self.stdout.readexactly(size))

    async def request(self, message: dict, timeout: float) -> dict:
        assert self.stdin is not None
        self.stdin.write(wire.encode(message))
        await self.stdin.drain()
        reply = await asyncio.wait_for(self._read(), timeout)
        self._note_descendants()  # the jail a worker starts lazily exists after its first request
        return reply

    def _note_descendants(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            reaper.note_descendants(self.proc.pid, self._descendants)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self._note_descendants()
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        # Killed (or dead by itself), the worker could not reap its jail; those processes came to us.
        descendants, self._descendants = list(self._descendants.values()), {}
        await reaper.reap_descendants(descendants)
        if self._stderr_task:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stderr_task, 2)

    async def close(self) -> None:
        if self.proc and self.proc.returncode is None and self.proc.stdin:
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                pass
        await self.kill()


class WorkerPool:
    """`run(request, wall_s)` on the first idle worker; at most `size` requests at once."""

    name = "pool"

    def __init__(self, size: int, make_worker: Callable[[], WorkerProcess], recycle_after: int | None = None,
                 recycle_statuses: Sequence[str] = ()):
        """`recycle_after`: replace a worker after that many evaluations; `recycle_statuses`:
        replace it after any evaluation ending in one of these (replacement runs in the background)."""
        if size < 1:
            raise ValueError("a sandbox needs at least one worker")
        self.size = size
        self.recycle_after = recycle_after
        self.recycle_statuses = frozenset(recycle_statuses)
        self._recycling: set[asyncio.Task] = set()
        self._make_worker = make_worker
        self._idle: asyncio.Queue[WorkerProcess] | None = None
        self._all: list[WorkerProcess] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the workers now rather than at the first request (overlaps their start-up with other work)."""
        await self._ensure_started()

    async def _ensure_started(self) -> asyncio.Queue:
        async with self._lock:
            if self._idle is None:
                reaper.become_subreaper()  # what a killed worker leaves comes to us, not to PID 1
                idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
                workers = [self._make_worker() for _ in range(self.size)]
                try:
                    outcomes = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
                    failed = [o for o in outcomes if isinstance(o, BaseException)]
                    if failed:
                        raise failed[0]
                except BaseException:  # a failed or cancelled start leaves no worker behind
                    await asyncio.shield(asyncio.gather(*(w.kill() for w in workers), return_exceptions=True))
                    raise
                for worker in workers:
                    self._all.append(worker)
                    idle.put_nowait(worker)
                self._idle = idle
        return self._idle

    async def run(self, request: dict[str, Any], wall_s: float) -> dict[str, Any]:
        """Send one request to an idle worker; its reply's `result`, or a failure dict.

        `wall_s` is the candidate's wall limit: a worker silent for longer than that plus
        SCORER_GRACE_S is killed and replaced.
        """
        idle = await self._ensure_started()
        worker = await idle.get()
        recycle = False
        try:
            if not self._usable(worker):
                worker = await self._replace(worker)
            try:
                reply = await worker.request(request, timeout=wall_s + SCORER_GRACE_S)
            except asyncio.TimeoutError:
                worker = await self._replace(worker)
                return failures.failure(failures.TIMEOUT, f"evaluation did not finish within "
                                                          f"{wall_s + SCORER_GRACE_S:g} s; worker restarted")
            except (asyncio.IncompleteReadError, ConnectionError, wire.WireError):
                tail = " | ".join(worker.stderr_tail)[-800:]
                worker = await self._replace(worker)
                return failures.failure(failures.CRASHED, "evaluation worker died", stderr_tail=tail)
            if reply.get("op") != "result" or not isinstance(reply.get("result"), dict):
                recycle = bool(self.recycle_statuses)
                return failures.failure(failures.CRASHED, f"worker error: {reply.get('message')}")
            result = reply["result"]
            worker.evaluations += 1
            recycle = result.get("status") in self.recycle_statuses or (
                self.recycle_after is not None and worker.evaluations >= self.recycle_after)
            return result
        finally:
            if recycle:
                task_ = asyncio.create_task(self._recycle(worker, idle))
                self._recycling.add(task_)
                task_.add_done_callback(self._recycling.discard)
            else:
                idle.put_nowait(worker)

    def share_dir(self, host_path: str) -> str:
        """Make a host directory readable by the workers; returns its path as they see it."""
        return host_path

    def want_gpu(self, label: str, optional: bool) -> str | None:
        """Give workers a GPU where the backend can; a note when they run on CPU instead."""
        return None

    def _usable(self, worker: WorkerProcess) -> bool:
        """Whether an idle worker may take the next evaluation as it is."""
        return worker.alive

    async def _recycle(self, worker: WorkerProcess, idle: asyncio.Queue) -> None:
        try:
            worker = await self._replace(worker)
        except Exception:  # noqa: BLE001 - the dead worker goes back; the next evaluate retries the start
            pass
        idle.put_nowait(worker)

    async def _replace(self, worker: WorkerProcess) -> WorkerProcess:
        await worker.kill()
        fresh = self._make_worker()
        await fresh.start()
        self._all[self._all.index(worker)] = fresh
        return fresh

    async def close(self) -> None:
        if self._recycling:  # a replacement being started must not outlive the pool
            await asyncio.gather(*self._recycling, return_exceptions=True)
        await asyncio.gather(*(w.close() for w in self._all), return_exceptions=True)
        self._all.clear()
        self._idle = None
