"""What the cascade writes: stage and probe evaluations, cuts, functional duplicates, fingerprints.

Mixed into Archive; uses its `session()` and `_evaluation_row()`. Every write is its own transaction.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from .errors import ArchiveError
from .horizon import EVERYTHING, Horizon
from .schema import Evaluation, Event, Program
from .states import EvaluationRole, ProgramState


class CascadeLog:
    def record_stage(self, program_id: int, split: str, result) -> Evaluation:
        """Store (or redo, after a resume) a cascade stage's or the probe run's evaluation of a program."""
        with self.session() as s:
            existing = s.scalar(select(Evaluation).where(Evaluation.program_id == program_id,
                                                         Evaluation.split == split))
            if existing is not None:
                if existing.role != EvaluationRole.STAGE.value:
                    raise ArchiveError(f"program {program_id} already has a {existing.role} evaluation on {split}")
                s.delete(existing)
                s.flush()
            evaluation = self._evaluation_row(program_id, split, EvaluationRole.STAGE, result)
            s.add(evaluation)
            s.commit()
            return evaluation

    def mark_cut(self, program_id: int, stage: str, **details: Any) -> None:
        """A cascade stage stopped the program: it never competes for a cell."""
        self._end_program(program_id, ProgramState.CUT, "cut", None, {"stage": stage, **details})

    def mark_functional_duplicate(self, program_id: int, duplicate_of: int) -> None:
        """Its outputs on the probe inputs equal those of `duplicate_of`: not evaluated further."""
        self._end_program(program_id, ProgramState.FUNCTIONAL_DUPLICATE, "functional_duplicate", duplicate_of,
                          {"duplicate_of": duplicate_of})

    def _end_program(self, program_id: int, state: ProgramState, kind: str, duplicate_of: int | None,
                     data: dict[str, Any]) -> None:
        with self.session() as s:
            program = s.get(Program, program_id)
            program.state = state.value
            if duplicate_of is not None:
                program.duplicate_of = duplicate_of
            s.add(Event(campaign_id=program.campaign_id, kind=kind, program_id=program_id,
                        data={"iteration": program.iteration, **data}))
            s.commit()

    def set_fingerprint(self, program_id: int, fingerprint: str) -> None:
        with self.session() as s:
            s.execute(update(Program).where(Program.id == program_id).values(fingerprint=fingerprint))
            s.commit()

    def find_fingerprint(self, campaign_id: int, fingerprint: str, exclude: int | None = None,
                         horizon: Horizon = EVERYTHING) -> int | None:
        """The earliest other program of the campaign with this fingerprint that was not itself merged, among
        the iterations the horizon has decided."""
        with self.session() as s:
            query = select(Program.id).where(Program.campaign_id == campaign_id, Program.fingerprint == fingerprint,
                                             Program.state != ProgramState.FUNCTIONAL_DUPLICATE.value,
                                             Program.iteration <= horizon.decided_through)
            if exclude is not None:
                query = query.where(Program.id != exclude)
            return s.scalar(query.order_by(Program.iteration).limit(1))

    def recent_stage_scores(self, campaign_id: int, split: str, limit: int,
                            horizon: Horizon = EVERYTHING) -> list[float]:
        """Scores of the ok evaluations on a stage split of the campaign's latest `limit` decided iterations
        that have one, newest iteration first."""
        with self.session() as s:
            return list(s.scalars(select(Evaluation.score).join(Program, Program.id == Evaluation.program_id)
                                  .where(Program.campaign_id == campaign_id, Evaluation.split == split,
                                         Evaluation.role == EvaluationRole.STAGE.value,
                                         Evaluation.status == "ok",
                                         Program.iteration <= horizon.decided_through)
                                  .order_by(Program.iteration.desc()).limit(limit)))
