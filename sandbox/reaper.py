"""Reap what a killed worker leaves behind.

A worker killed with SIGKILL cannot reap its own children (bwrap, the zygote). They die with it
(PDEATHSIG) but, as orphans, are re-parented to the nearest child subreaper, by default the
machine's PID 1, which in a container often never reaps: zombies accumulate. The pool that
starts workers therefore marks its process a child subreaper and, when it kills a worker, reaps
the worker's descendants itself. Only those processes: pidfds taken before the kill name them
exactly, so nothing another part of the program waits for is ever taken from it.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children rather than PID 1's."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except (OSError, ValueError):
            pass
    return found


def note_descendants(pid: int, known: dict[int, int]) -> None:
    """Add pidfds on the live descendants of `pid` to `known` (pid -> pidfd); drop those that ended.

    Kept up to date while `pid` runs: once it is dead its children are no longer listed under it.
    """
    for child, pidfd in list(known.items()):
        try:
            signal.pidfd_send_signal(pidfd, 0)
        except ProcessLookupError:  # reaped by its parent: nothing left to do for it
            os.close(known.pop(child))
        except OSError:
            pass
    queue = _children(pid)
    while queue:
        child = queue.pop()
        if child in known:
            queue += _children(child)
            continue
        with contextlib.suppress(OSError):
            known[child] = os.pidfd_open(child)
            queue += _children(child)


def _reap_once(pidfd: int) -> bool:
    """True once the process is gone: reaped here, or by its own parent."""
    try:
        if os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG) is not None:
            return True
    except ChildProcessError:  # not our child: still has its parent, or already reaped
        try:
            signal.pidfd_send_signal(pidfd, 0)
        except ProcessLookupError:
            return True
    return False


async def reap_descendants(pidfds: list[int], timeout: float = 5.0) -> int:
    """Wait (up to `timeout`) for the given processes to end, reaping those re-parented to us.

    Returns how many were still around at the deadline; closes the pidfds either way.
    """
    pending = list(pidfds)
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            pending = [fd for fd in pending if not _reap_once(fd)]
            if pending:
                await asyncio.sleep(0.02)
        return len(pending)
    finally:
        for fd in pidfds:
            os.close(fd)
