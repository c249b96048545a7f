"""What one iteration of a campaign may see of the archive: its horizon.

Iteration i sees the programs proposed by iterations up to `proposed_through` (their code, parent
and operator) and the outcomes (state, scores) of iterations up to `decided_through`; a program
proposed after the decided horizon shows as pending whatever became of it since. The loop fixes
both numbers from i alone (evolve/loop/schedule.py), so what i sees does not depend on which
evaluation finished first.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Horizon:
    proposed_through: int
    decided_through: int

    def __post_init__(self):
        if self.decided_through > self.proposed_through:
            raise ValueError("a horizon cannot decide iterations it has not proposed")

    def decided(self, iteration: int) -> bool:
        return iteration <= self.decided_through


EVERYTHING = Horizon(proposed_through=2**31 - 1, decided_through=2**31 - 1)  # the largest INTEGER a database stores
