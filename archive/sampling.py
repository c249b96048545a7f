"""Parent and inspiration sampling over one island's elites.

A parent is the island's best elite (exploitation), a uniformly random elite (exploration),
or an elite next to empty cells (filling the map), in configured proportions. Inspirations
are the top elites plus elites from cells far from the parent's (diversity).
"""
from __future__ import annotations

import dataclasses
import random
from typing import Sequence

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
    top_inspirations: int = 2
    diverse_inspirations: int = 1


def choose_parent(elites: Sequence[Elite], grid: Grid, rng: random.Random, weights: SamplingWeights) -> tuple[Elite, str]:
    ordered = sorted(elites, key=lambda e: (-e.score, e.program_id))
    mode = rng.choices(["exploit", "explore", "frontier"], [weights.exploit, weights.explore, weights.frontier])[0]
    if mode == "exploit":
        return ordered[0], mode
    if mode == "frontier":
        filled = {e.key for e in elites}
        frontier = [e for e in ordered if any(n not in filled for n in grid.neighbours(e.key))]
        if frontier:
            return rng.choice(frontier), mode
    return rng.choice(ordered), "explore"


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
