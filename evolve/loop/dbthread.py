"""One thread that runs a campaign's archive calls, in submission order, off the event loop.

The controller and the LLM call log share it: a call's log row is always written before the
program it produced links to it, and the event loop never waits on a database round trip
(a remote PostgreSQL server, a busy SQLite file).

It also rides out database outages shorter than `outage_grace_s`: a call that fails because the
connection is gone runs again, with backoff, on a fresh connection (the engine's pool pings before
reuse), unless it had already committed a transaction (running it again could write twice). A
COMMIT whose acknowledgement was lost is settled by asking the server (archive/resilience.py), so
nothing is lost or doubled. The grace counts from the first failure of the outage, across calls;
once it is spent, this call and every later one fail at once with `DatabaseUnavailable`.
A call that is a whole `with archive.transaction():` block (the controller's loop step) commits
once, at its end, so a connection lost inside it is retried like any call: the block runs again.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from typing import Any, Callable

from archive.resilience import (CommitOutcomeUnknown, backoff_delays, commits_so_far, is_connection_error,
                                set_outage_grace)

from ..errors import UserError

log = logging.getLogger(__name__)


class DatabaseUnavailable(UserError):
    """The archive's database stayed unreachable longer than the campaign's outage grace."""


class DatabaseThread:
    def __init__(self, outage_grace_s: float = 0.0) -> None:
        self.outage_grace_s = outage_grace_s
        self.outages = 0           # outages ridden through
        self.retries = 0           # calls run again after a lost connection
        self._down_since: float | None = None  # monotonic time of the current outage's first failure
        self._gave_up: str | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evolve-db",
                                                               initializer=set_outage_grace,
                                                               initargs=(outage_grace_s,))

    async def __call__(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(self._run, fn, args, kwargs))

    def submit(self, fn: Callable, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Queue a call without waiting for it (progress reports)."""
        return self._executor.submit(self._run, fn, args, kwargs)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # ---- on the thread ----------------------------------------------------------------------
    def _run(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        if self._gave_up is not None:
            raise DatabaseUnavailable(self._gave_up)
        delays = backoff_delays()
        while True:
            committed = commits_so_far()
            try:
                result = fn(*args, **kwargs)
            except CommitOutcomeUnknown as exc:
                self._give_up(f"{exc}; the campaign stopped: `evolve resume` continues it from what was stored")
            except Exception as exc:
                if self.outage_grace_s <= 0 or not is_connection_error(exc):
                    raise
                if commits_so_far() != committed:  # part of this call is stored: running it again would double it
                    self._give_up(f"the database connection was lost in the middle of an archive call "
                                  f"({_reason(exc)}); the campaign stopped: `evolve resume` continues it")
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                    log.info("archive database unreachable (%s); retrying for up to %g s", _reason(exc),
                                self.outage_grace_s)
                remaining = self._down_since + self.outage_grace_s - now
                if remaining <= 0:
                    self._give_up(f"the archive's database has been unreachable for {self.outage_grace_s:g} s "
                                  f"(archive.outage_grace_s): {_reason(exc)}; the campaign stopped: `evolve resume` "
                                  f"continues it once the server is back")
                self.retries += 1
                time.sleep(min(next(delays), remaining))
                continue
            if self._down_since is not None:
                log.info("archive database back after %.1f s", time.monotonic() - self._down_since)
                self._down_since = None
                self.outages += 1
            return result

    def _give_up(self, message: str):
        self._gave_up = message
        raise DatabaseUnavailable(message) from None


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split())
    return text[:200] or type(original).__name__
