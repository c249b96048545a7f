"""The task contract's result types, and the executor: what a campaign evaluates programs through."""
from __future__ import annotations

import abc
import dataclasses
import enum
from typing import TYPE_CHECKING, Any

from sandbox.limits import Limits

if TYPE_CHECKING:
    from .task import Task


class Status(str, enum.Enum):
    OK = "ok"
    INVALID = "invalid"      # ran, but its output failed the scorer's validation
    CRASHED = "crashed"      # raised, exited, or was killed by a signal
    TIMEOUT = "timeout"      # wall-clock or CPU limit
    OOM = "oom"              # memory limit
    REJECTED = "rejected"    # refused before running (syntax error, no entry point)


@dataclasses.dataclass
class EvaluationResult:
    status: Status
    score: float | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    descriptors: dict[str, float] = dataclasses.field(default_factory=dict)
    artifacts: dict[str, Any] = dataclasses.field(default_factory=dict)
    wall_time: float = 0.0
    cpu_time: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluationResult":
        return cls(
            status=Status(data["status"]),
            score=data.get("score"),
            metrics=dict(data.get("metrics") or {}),
            descriptors=dict(data.get("descriptors") or {}),
            artifacts=dict(data.get("artifacts") or {}),
            wall_time=float(data.get("wall_time") or 0.0),
            cpu_time=float(data.get("cpu_time") or 0.0),
        )

    @classmethod
    def failure(cls, status: Status, message: str, **artifacts: Any) -> "EvaluationResult":
        return cls(status=status, artifacts={"message": message, **artifacts})


class Executor(abc.ABC):
    """Where a campaign's evaluations run: a pool of sandboxed workers on this machine, or on the nodes of
    a Ray cluster. Each evaluation runs the candidate in a sandbox (sandbox/: a jailed process or a
    Docker container) against the task's trusted scorer. Subclasses implement `evaluate`; every other
    member has a documented default.
    """

    name: str = "executor"
    workers: int = 1  # evaluations at once

    def check(self, task: Task) -> None:
        """Raise sandbox.SandboxUnavailable (one line) when this executor cannot run `task`, before a campaign
        is stored or resumed. Default: no check; problems surface at the first evaluation."""
        return None

    async def start(self) -> None:
        """Start the workers ahead of the first evaluation, which otherwise waits for them. Default: nothing
        to start. Failures are reported by the first evaluation."""
        return None

    @abc.abstractmethod
    async def evaluate(self, task: Task, code: str, limits: Limits | None = None, split: str | None = None,
                       options: dict[str, Any] | None = None) -> EvaluationResult:
        """Run `code` against the task's scorer on `split` (default: the training split) under `limits`
        (default: the task's). A candidate's failure is a result (status crashed, timeout, ...); raise
        sandbox.SandboxUnavailable only when no evaluation can run at all (no Docker engine, no node fits)."""

    async def close(self) -> None:
        """Stop the workers and free what they hold. Default: nothing to free."""
        return None


__all__ = ["EvaluationResult", "Executor", "Limits", "Status"]
