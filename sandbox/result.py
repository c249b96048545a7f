"""What an evaluation returns, and the resource limits it ran under."""
from __future__ import annotations

import dataclasses
import enum
from typing import Any


class SandboxUnavailable(RuntimeError):
    """The sandbox itself cannot run (no engine, no image, no GPU, workers fail to start): not the candidate's fault."""


class Status(str, enum.Enum):
    OK = "ok"
    INVALID = "invalid"      # ran, but its output failed the scorer's validation
    CRASHED = "crashed"      # raised, exited, or was killed by a signal
    TIMEOUT = "timeout"      # wall-clock or CPU limit
    OOM = "oom"              # memory limit
    REJECTED = "rejected"    # refused before running (syntax error, no entry point, duplicate edit)


@dataclasses.dataclass(frozen=True)
class Limits:
    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_mb: int = 2048
    nproc: int = 32
    fsize_mb: int = 16
    nofile: int = 64

    def replace(self, **changes: Any) -> "Limits":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Limits":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in fields})


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
