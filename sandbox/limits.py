"""The resource limits a sandbox enforces on one evaluation's candidate."""
from __future__ import annotations

import dataclasses
from typing import Any


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
