"""Parent and inspiration sampling over one island's elites.

A parent is the island's best elite (exploitation), a uniformly random elite (exploration),
an elite next to empty cells (filling the map), or, on tasks with objectives, a member of the
elites' Pareto front drawn by crowding distance (spreading along the front: isolated members
and the front's two ends are drawn most), in configured proportions. Inspirations
are the top elites plus elites from cells far from the parent's (diversity).
"""
from __future__ import annotations

import dataclasses
import math
import random
from typing import Iterable, Sequence

from .mapelites import Grid


@dataclasses.dataclass(frozen=True)
class Elite:
    program_id: int
    key: str
    score: float


@dataclasses.dataclass(frozen=True)
class SamplingWeights:
    exploit: float = 0.4
    explore: float = 0.4
    frontier: float = 0.2
    pareto: float = 0.0
    top_inspirations: int = 2
    diverse_inspirations: int = 1


def best_per_cell(elites: Iterable[Elite]) -> list[Elite]:
    """One elite per cell over the islands: the best, ties to the lowest program id (as `Archive.best`)."""
    best: dict[str, Elite] = {}
    for elite in elites:
        held = best.get(elite.key)
        if held is None or (-elite.score, elite.program_id) < (-held.score, held.program_id):
            best[elite.key] = elite
    return list(best.values())


def choose_parent(elites: Sequence[Elite], grid: Grid, rng: random.Random, weights: SamplingWeights,
                  front: Sequence[tuple[Elite, float]] | None = None) -> tuple[Elite, str]:
    """`front`: the elites on the Pareto front with their crowding distances (None: the task has no front)."""
    ordered = sorted(elites, key=lambda e: (-e.score, e.program_id))
    modes, mode_weights = ["exploit", "explore", "frontier"], [weights.exploit, weights.explore, weights.frontier]
    if front and weights.pareto > 0:
        modes.append("pareto")
        mode_weights.append(weights.pareto)
    if sum(mode_weights) <= 0:  # only pareto is weighted and there is no front yet (the seed is being evaluated)
        return rng.choice(ordered), "explore"
    mode = rng.choices(modes, mode_weights)[0]
    if mode == "pareto":
        return _by_crowding(front, rng), mode
    if mode == "exploit":
        return ordered[0], mode
    if mode == "frontier":
        filled = {e.key for e in elites}
        frontier = [e for e in ordered if any(n not in filled for n in grid.neighbours(e.key))]
        if frontier:
            return rng.choice(frontier), mode
    return rng.choice(ordered), "explore"


def _by_crowding(front: Sequence[tuple[Elite, float]], rng: random.Random) -> Elite:
    """A front member with probability proportional to its crowding distance; the ends (infinite
    distance) weigh twice the largest finite distance, and a front of equally crowded points is uniform."""
    members = sorted(front, key=lambda pair: pair[0].program_id)
    finite = [d for _, d in members if math.isfinite(d)]
    top = 2 * max(finite) if finite and max(finite) > 0 else 1.0
    weights = [d if math.isfinite(d) else top for _, d in members]
    if sum(weights) <= 0:
        weights = [1.0] * len(members)
    return rng.choices([e for e, _ in members], weights)[0]


def choose_inspirations(elites: Sequence[Elite], parent: Elite, grid: Grid, rng: random.Random,
                        weights: SamplingWeights) -> list[Elite]:
    others = sorted((e for e in elites if e.program_id != parent.program_id), key=lambda e: (-e.score, e.program_id))
    top = others[: weights.top_inspirations]
    rest = [e for e in others if e not in top]
    if not rest or weights.diverse_inspirations <= 0:
        return top
    origin = grid.parse(parent.key)

    def distance(elite: Elite) -> int:
        return sum(abs(a - b) for a, b in zip(grid.parse(elite.key), origin))

    far = sorted(rest, key=lambda e: (-distance(e), e.program_id))[: max(4, weights.diverse_inspirations * 2)]
    return top + rng.sample(far, min(weights.diverse_inspirations, len(far)))
