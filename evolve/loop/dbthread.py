"""One thread that runs a campaign's archive calls, in submission order, off the event loop.

The controller and the LLM call log share it: a call's log row is always written before the
program it produced links to it, and the event loop never waits on a database round trip
(a remote PostgreSQL server, a busy SQLite file).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from typing import Any, Callable


class DatabaseThread:
    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evolve-db")

    async def __call__(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def submit(self, fn: Callable, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Queue a call without waiting for it (progress reports)."""
        return self._executor.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
