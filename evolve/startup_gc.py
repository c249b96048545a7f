"""No garbage collection while a command starts up; what startup built is then frozen out of later collections.

Starting `evolve run` allocates over a hundred thousand objects that live as long as the process
(modules, classes, the SDK's pydantic models) and almost no garbage. The collector cannot know:
it runs hundreds of young collections and full ones over everything imported so far, a visible
share of the CPU `evolve run` uses before its first LLM request (bench/bench_loop.py). The CLI
pauses it first thing; `resume` freezes what exists (full collections skip it from then on: it is not
garbage) and switches collection back on. It is called when the LLM providers are built (the
last import before the first request), when an offline campaign starts its loop, and in any
case when the command returns. Only the CLI pauses; a library caller's collector is left alone.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_paused = False


def pause() -> None:
    global _paused
    with _lock:
        if gc.isenabled():
            gc.disable()
            _paused = True


def resume() -> None:
    """Undo `pause` (once; later calls and calls without a pause do nothing)."""
    global _paused
    with _lock:
        if _paused:
            gc.freeze()
            gc.enable()
            _paused = False
