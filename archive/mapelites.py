"""The MAP-Elites grid: descriptor axes, cell keys and neighbourhoods."""
from __future__ import annotations

import bisect
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
        """The bin whose [low, high) edges contain the value; out of range clamps to the first/last bin."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return 0
        # counting the inner edges at or below the value agrees with edges() to the last bit and
        # never overflows (arithmetic on the value itself did, for inf or 1e308)
        return bisect.bisect_right([self._edge(i) for i in range(1, self.bins)], float(value))

    def edges(self, index: int) -> tuple[float, float]:
        return self._edge(index), self._edge(index + 1)

    def _edge(self, index: int) -> float:
        if index == self.bins:
            return self.high  # low + width * bins can miss high by an ulp
        return self.low + (self.high - self.low) * index / self.bins


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
        if not self.axes:  # the single cell "0" of a grid without descriptors
            return []
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
        if not self.axes:
            return ["0"]  # the key key() gives every program, not ""
        return [",".join(map(str, c)) for c in itertools.product(*(range(a.bins) for a in self.axes))]
