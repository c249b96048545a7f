"""The task contract's result types, and the interface the campaign evaluates programs through."""
from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any, Protocol

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


class Sandbox(Protocol):
    """What a campaign evaluates programs through (a local pool, a Ray cluster, ...)."""

    async def evaluate(self, task: Task, code: str, limits: Limits | None = None, split: str | None = None,
                       options: dict[str, Any] | None = None) -> EvaluationResult: ...

    async def close(self) -> None: ...


__all__ = ["EvaluationResult", "Limits", "Sandbox", "Status"]
