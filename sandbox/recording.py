"""Recording a candidate's conversation at its handle, on the trusted side of the boundary.

What is recorded is exactly what crossed the boundary: the arguments as the candidate received
them (after a wire round trip) and the values it sent back. The recording is the prefix of the
conversation that fits the budget, so replaying it in order from a fresh program rebuilds any
state the program keeps between calls.
"""
from __future__ import annotations

from typing import Any, Protocol

from . import wire


class CallRecorder(Protocol):
    """What the candidate handle tells about each exchange (see Recorder; a hasher is another)."""

    def add(self, op: str, fn: str | None, args: Any, value: Any) -> None: ...

    def refuse(self, reason: str) -> None: ...


class RecordingComplete(BaseException):
    """The budget is full; raised out of the scorer (BaseException: a scorer's `except Exception`
    must not swallow it) so the run stops early."""


class Recorder:
    def __init__(self, max_bytes: int = 64_000, max_messages: int = 200, stop_when_full: bool = True):
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.stop_when_full = stop_when_full
        self.messages: list[dict[str, Any]] = []
        self.used = 0
        self.full = False
        self.refused: str | None = None  # why the conversation cannot be replayed standalone

    def add(self, op: str, fn: str | None, args: Any, value: Any) -> None:
        if self.full:
            return
        message = {"op": op, "fn": fn, "args": args, "result": value}
        size = len(wire.encode(message))
        if size + self.used > self.max_bytes or len(self.messages) >= self.max_messages:
            self.full = True
        else:
            self.messages.append(wire.decode(wire.encode(message)[4:]))
            self.used += size
        if self.full and self.stop_when_full and self.messages:
            raise RecordingComplete

    def refuse(self, reason: str) -> None:
        self.refused = self.refused or reason

    def to_plain(self) -> dict[str, Any]:
        return {"messages": self.messages, "bytes": self.used, "complete": not self.full, "refused": self.refused}
