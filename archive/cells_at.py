"""The MAP-Elites cells as they were once the verdicts of iterations up to some point were applied.

The cells table holds the campaign's cells now. A loop that resumes after a kill -9 may have applied
verdicts past the horizon of an iteration it has to propose again; that iteration must see the
cells of its own horizon (evolve/loop/schedule.py). They are rebuilt here by replaying the stored
training verdicts in iteration order exactly as the loop applies them: an ok verdict competes for
its cell on its island (the seed on every island), a strictly better score takes a held cell, and
after each training verdict the ring migrations owed are made (archive.Archive.migrate).
Mixed into Archive; uses its `session()`.
"""
from __future__ import annotations

from sqlalchemy import select

from .mapelites import Grid
from .sampling import Elite
from .schema import Evaluation, Program
from .states import EvaluationRole, ProgramState


class CellHistory:
    def elites_at(self, campaign_id: int, grid: Grid, islands: int, migration_interval: int,
                  through: int) -> dict[int, list[Elite]]:
        """{island: its elites} after applying the verdicts of iterations 0..through."""
        with self.session() as s:
            rows = s.execute(select(Program.id, Program.iteration, Evaluation.status, Evaluation.score,
                                    Evaluation.descriptors)
                             .join(Evaluation, (Evaluation.program_id == Program.id)
                                   & (Evaluation.role == EvaluationRole.TRAIN.value))
                             .where(Program.campaign_id == campaign_id, Program.iteration <= through,
                                    Program.state == ProgramState.EVALUATED.value)
                             .order_by(Program.iteration)).all()
        cells: dict[tuple[int, str], tuple[int, float]] = {}  # (island, key) -> (program id, score)
        trained = migrations = 0
        for program_id, iteration, status, score, descriptors in rows:
            if status == "ok":
                key = grid.key(descriptors or {})
                for island in (range(islands) if iteration == 0 else [iteration % islands]):
                    held = cells.get((island, key))
                    if held is None or score > held[1]:
                        cells[(island, key)] = (program_id, score)
            trained += 1
            if islands > 1:
                while migrations < max(0, trained - 1) // migration_interval:
                    _migrate(cells, islands)
                    migrations += 1
        found: dict[int, list[Elite]] = {island: [] for island in range(islands)}
        for (island, key), (program_id, score) in sorted(cells.items()):
            found[island].append(Elite(program_id, key, score))
        return found


def _migrate(cells: dict[tuple[int, str], tuple[int, float]], islands: int) -> None:
    """Ring migration, as Archive.migrate makes it: each island's best elite competes on the next island."""
    moved = []
    for island in range(islands):
        held = [(score, program_id, key) for (i, key), (program_id, score) in cells.items() if i == island]
        if held:
            score, program_id, key = min(held, key=lambda h: (-h[0], h[1]))
            moved.append((program_id, key, score, (island + 1) % islands))
    for program_id, key, score, target in moved:
        current = cells.get((target, key))
        if current is None or score > current[1]:
            cells[(target, key)] = (program_id, score)
