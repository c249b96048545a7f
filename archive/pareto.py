"""Pareto dominance, the non-dominated set, crowding distance and the exact hypervolume.

Pure functions over plain numbers. Every objective is first turned into a value to minimise
(`Objective.cost`): maximised metrics are negated and log10 objectives take the logarithm, so
dominance, crowding and hypervolume all work in one orientation. Dominance does not depend on
the scale; crowding distance and hypervolume do, which is why an objective declares one.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class Objective:
    metric: str
    maximize: bool
    log10: bool = False

    def cost(self, value: float) -> float:
        """The value on the scale the hypervolume is measured in, turned so that lower is better."""
        if self.log10:
            value = math.log10(value) if value > 0 else -math.inf
        return -value if self.maximize else value


@dataclasses.dataclass(frozen=True)
class Point:
    """A program (or a baseline) and its objective values, in the objectives' order and own units."""
    key: int | str
    values: tuple[float, ...]


def costs(point: Point, objectives: Sequence[Objective]) -> tuple[float, ...]:
    return tuple(o.cost(v) for o, v in zip(objectives, point.values))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Cost vector a is no worse than b everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated(points: Sequence[Point], objectives: Sequence[Objective]) -> tuple[list[Point], dict]:
    """The front and its ties: (members, {member key: [keys of later points with the same values]}).

    Points equal on every objective are one front point: the first in `points` order stands for
    it (callers pass programs in id order, so the earliest program), the others are its ties.
    """
    first: dict[tuple[float, ...], Point] = {}
    ties: dict[int | str, list] = {}
    for point in points:
        c = costs(point, objectives)
        if c in first:
            ties.setdefault(first[c].key, []).append(point.key)
        else:
            first[c] = point
    ordered = sorted(first.items())  # lexicographic on costs: no later point dominates an earlier one
    members: list[tuple[tuple[float, ...], Point]] = []
    if len(objectives) == 2:  # sweep: a point is on the front iff its second cost beats every earlier one
        best = math.inf
        for c, point in ordered:
            if c[1] < best:
                members.append((c, point))
                best = c[1]
    else:
        for c, point in ordered:
            if not any(dominates(m, c) for m, _ in members):
                members.append((c, point))
    front = [p for _, p in members]
    return front, {k: v for k, v in ties.items() if any(p.key == k for p in front)}


def crowding_distances(points: Sequence[Point], objectives: Sequence[Objective]) -> list[float]:
    """NSGA-II crowding distance of each point within `points` (a front); the extremes get infinity."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    vectors = [costs(p, objectives) for p in points]
    for axis in range(len(objectives)):
        order = sorted(range(n), key=lambda i: vectors[i][axis])
        low, high = vectors[order[0]][axis], vectors[order[-1]][axis]
        distance[order[0]] = distance[order[-1]] = math.inf
        if not (high > low) or not math.isfinite(high - low):
            continue
        for j in range(1, n - 1):
            distance[order[j]] += (vectors[order[j + 1]][axis] - vectors[order[j - 1]][axis]) / (high - low)
    return distance


def hypervolume(points: Sequence[Point], objectives: Sequence[Objective], reference: Sequence[float]) -> float:
    """The volume dominated by `points` and bounded by `reference` (in the objectives' own units).

    Points not strictly better than the reference on every objective add nothing, nor do points
    at zero on a log10 objective (no finite volume). Exact in any dimension (slicing along the
    last objective); fronts here hold tens of points.
    """
    ref = tuple(o.cost(r) for o, r in zip(objectives, reference))
    inside = [c for c in (costs(p, objectives) for p in points)
              if all(math.isfinite(x) and x < r for x, r in zip(c, ref))]
    return _slice_volume(inside, ref)


def _slice_volume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    ordered = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, point in enumerate(ordered):
        upper = ordered[i + 1][-1] if i + 1 < len(ordered) else ref[-1]
        if upper > point[-1]:
            volume += (upper - point[-1]) * _slice_volume([p[:-1] for p in ordered[: i + 1]], ref[:-1])
    return volume
