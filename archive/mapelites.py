"""The MAP-Elites grid: descriptor axes, cell keys and neighbourhoods."""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from typing import Iterable


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

    # ---- niche geometry --------------------------------------------------------------------
    def empty_cells(self, occupied: Iterable[str], limit: int = 4096) -> list[str]:
        """Every key no elite holds, in key order; [] for grids larger than `limit` cells (too many to list)."""
        if self.size > limit:
            return []
        filled = set(occupied)
        return [k for k in self.all_keys() if k not in filled]

    def same_bins(self, a: dict[str, float], b: dict[str, float], axes: Iterable[str]) -> bool:
        """Whether two descriptor sets fall in the same bins on the grid's axes named in `axes`."""
        names = set(axes)
        return all(axis.index(a.get(axis.name)) == axis.index(b.get(axis.name))
                   for axis in self.axes if axis.name in names)

    def opens_column(self, descriptors: dict[str, float], occupied: Iterable[str], axes: Iterable[str]) -> bool:
        """Whether no occupied cell shares the bins of `descriptors` on the grid's axes named in `axes`
        (the column those axes span is empty, so a program there lands in an empty cell whatever its
        other descriptors); False on a grid with none of those axes."""
        names = set(axes)
        positions = [i for i, axis in enumerate(self.axes) if axis.name in names]
        if not positions:
            return False
        column = tuple(self.axes[i].index(descriptors.get(self.axes[i].name)) for i in positions)
        return all(tuple(self.parse(key)[i] for i in positions) != column for key in occupied)
