"""How a sandboxed run can fail, as plain data: the sandbox reports kinds, callers give them meaning.

A failure is the dict `{"status": KIND, "artifacts": {"message": ..., ...}}`; the kinds are the
non-ok statuses of the task contract (evaluators.contract.Status has the same values).
"""
from __future__ import annotations

from typing import Any

INVALID = "invalid"      # ran, but broke the call protocol or answered malformed data
CRASHED = "crashed"      # raised, exited, or was killed by a signal
TIMEOUT = "timeout"      # wall-clock or CPU limit
OOM = "oom"              # memory limit
REJECTED = "rejected"    # refused before running (no entry point, does not compile)
KINDS = (INVALID, CRASHED, TIMEOUT, OOM, REJECTED)


class SandboxUnavailable(RuntimeError):
    """The sandbox itself cannot run (no engine, no image, no GPU, workers fail to start): not the candidate's fault."""


def failure(kind: str, message: str, **artifacts: Any) -> dict[str, Any]:
    return {"status": kind, "artifacts": {"message": message, **artifacts}}
