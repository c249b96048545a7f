"""The MAP-Elites grid: descriptor axes, cell keys and neighbourhoods."""
from __future__ import annotations

import dataclasses
import itertools
import math


@dataclasses.dataclass(frozen=True)
class Axis:
    name: str
    low: float
    high: float
    bins: int

    def index(self, value: float) -> int:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return 0
        position = (float(value) - self.low) / (self.high - self.low)
        return min(self.bins - 1, max(0, int(math.floor(position * self.bins))))

    def edges(self, index: int) -> tuple[float, float]:
        width = (self.high - self.low) / self.bins
        return self.low + index * width, self.low + (index + 1) * width


@dataclasses.dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]

    @classmethod
    def from_specs(cls, specs) -> "Grid":
        return cls(tuple(Axis(s["name"], float(s["range"][0]), float(s["range"][1]), int(s["bins"])) for s in specs))

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]

    @property
    def size(self) -> int:
        return math.prod(a.bins for a in self.axes) if self.axes else 1

    def key(self, descriptors: dict[str, float]) -> str:
        return ",".join(str(a.index(descriptors.get(a.name))) for a in self.axes) or "0"

    @staticmethod
    def parse(key: str) -> tuple[int, ...]:
        return tuple(int(part) for part in key.split(","))

    def neighbours(self, key: str) -> list[str]:
        coords = self.parse(key)
        found = []
        for delta in itertools.product((-1, 0, 1), repeat=len(coords)):
            if not any(delta):
                continue
            moved = tuple(c + d for c, d in zip(coords, delta))
            if all(0 <= m < a.bins for m, a in zip(moved, self.axes)):
                found.append(",".join(map(str, moved)))
        return found

    def all_keys(self) -> list[str]:
        return [",".join(map(str, c)) for c in itertools.product(*(range(a.bins) for a in self.axes))]
