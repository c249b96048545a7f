"""Selection by validation: which program a campaign hands the user, and the evaluations that decide it.

The search ranks programs by their training score only. What the user takes home is chosen
among the `top_k` training programs by their score on the task's validation split (the
`validation` role: such an evaluation never competes for a cell and no query the loop's search
makes reads it). Mixed into Archive; uses its `session()` and `_evaluation_row`.

Training rank order is (score descending, iteration): of two equal training scores the earlier
iteration ranks first, so a later twin never displaces a program from the top-k.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from .errors import ArchiveError
from .schema import Evaluation, Program
from .states import EvaluationRole


@dataclasses.dataclass(frozen=True)
class Verdict:
    """An ok training evaluation, as the selection sees it."""
    iteration: int  # the loop applies verdicts in iteration order
    program_id: int
    score: float


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One of the top-k training programs with its validation result (None: not validated yet)."""
    program_id: int
    train_rank: int
    train_score: float
    validation_status: str | None
    validation_score: float | None

    @property
    def validated_ok(self) -> bool:
        return self.validation_status == "ok" and self.validation_score is not None


@dataclasses.dataclass(frozen=True)
class Selected:
    """The campaign's best: the program, its training evaluation, its validation evaluation (None when the
    choice fell back to the training score), how it was chosen, and the top-k it was chosen among."""
    program: Program
    train: Evaluation
    validation: Evaluation | None
    selected_by: str  # "validation" | "train"
    candidates: list[Candidate]

    def describe(self) -> dict[str, Any]:
        return {"selected_by": self.selected_by, "program_id": self.program.id,
                "top_k": [dataclasses.asdict(c) for c in self.candidates]}


class SelectionQueries:
    def record_validation(self, program_id: int, split: str, result) -> Evaluation:
        """Store a program's validation evaluation; there is at most one per program and split, never redone."""
        with self.session() as s:
            if s.get(Program, program_id) is None:
                raise ArchiveError(f"no program {program_id}")
            existing = s.scalar(select(Evaluation).where(Evaluation.program_id == program_id,
                                                         Evaluation.split == split))
            if existing is not None and existing.role == EvaluationRole.REPORT.value:
                s.delete(existing)  # a report someone asked for on this split gives way to the validation row
                s.flush()
            evaluation = self._evaluation_row(program_id, split, EvaluationRole.VALIDATION, result)
            s.add(evaluation)
            try:
                s.commit()
            except IntegrityError:
                raise ArchiveError(f"program {program_id} already has a {split} evaluation") from None
            return evaluation

    def training_verdicts(self, campaign_id: int, after_iteration: int = -1,
                          through_iteration: int = 2**31 - 1) -> list[Verdict]:
        """The campaign's ok training evaluations of iterations after `after_iteration` up to `through_iteration`,
        in iteration order."""
        with self.session() as s:
            rows = s.execute(select(Program.iteration, Evaluation.program_id, Evaluation.score)
                             .join(Program, Program.id == Evaluation.program_id)
                             .where(Program.campaign_id == campaign_id, Program.iteration > after_iteration,
                                    Program.iteration <= through_iteration,
                                    Evaluation.role == EvaluationRole.TRAIN.value, Evaluation.status == "ok")
                             .order_by(Program.iteration)).all()
        return [Verdict(r[0], r[1], float(r[2])) for r in rows]

    def validation_statuses(self, campaign_id: int) -> dict[int, str]:
        """Programs of the campaign that have a validation evaluation, with its status."""
        with self.session() as s:
            return dict(s.execute(select(Evaluation.program_id, Evaluation.status)
                                  .join(Program, Program.id == Evaluation.program_id)
                                  .where(Program.campaign_id == campaign_id,
                                         Evaluation.role == EvaluationRole.VALIDATION.value)).all())

    def count_validations(self, campaign_id: int) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Evaluation)
                            .join(Program, Program.id == Evaluation.program_id)
                            .where(Program.campaign_id == campaign_id,
                                   Evaluation.role == EvaluationRole.VALIDATION.value)) or 0

    def top_training(self, campaign_id: int, k: int) -> list[Candidate]:
        """The k best training programs in rank order, leaving out those whose validation failed (as the loop's
        top-k does: evolve/loop/selection.py), each with its validation result if it has one."""
        failed = aliased(Evaluation)
        with self.session() as s:
            rows = s.execute(select(Evaluation.program_id, Evaluation.score)
                             .join(Program, Program.id == Evaluation.program_id)
                             .where(Program.campaign_id == campaign_id, Evaluation.role == EvaluationRole.TRAIN.value,
                                    Evaluation.status == "ok",
                                    ~exists().where(failed.program_id == Evaluation.program_id,
                                                    failed.role == EvaluationRole.VALIDATION.value,
                                                    failed.status != "ok"))
                             .order_by(Evaluation.score.desc(), Program.iteration).limit(k)).all()
            ids = [r[0] for r in rows]
            validation = {r[0]: (r[1], r[2]) for r in s.execute(
                select(Evaluation.program_id, Evaluation.status, Evaluation.score)
                .where(Evaluation.program_id.in_(ids), Evaluation.role == EvaluationRole.VALIDATION.value))} \
                if ids else {}
        return [Candidate(pid, rank, float(score), *validation.get(pid, (None, None)))
                for rank, (pid, score) in enumerate(rows)]

    def selected_best(self, campaign_id: int, top_k: int) -> Selected | None:
        """Among the top-k training programs, the best validation score (ties: the better training rank).

        A program whose validation failed is never chosen. With no ok validation among them (a task
        without a validation split, or none validated yet) the best is the best training program,
        exactly as `best()` picks it, unless its validation failed: then the best-ranked candidate.
        """
        candidates = self.top_training(campaign_id, top_k)
        validated = [c for c in candidates if c.validated_ok]
        if not validated:
            found = self.best(campaign_id)
            if found is None:
                return None
            program, train = found
            validation = self._validation_of(program.id)
            if validation is not None and validation.status != "ok" and candidates:
                program = self.program(candidates[0].program_id)
                train, validation = self.training_evaluation(program.id), self._validation_of(program.id)
            return Selected(program, train, validation, "train", candidates)
        chosen = max(validated, key=lambda c: (c.validation_score, -c.train_rank))
        program = self.program(chosen.program_id)
        return Selected(program, self.training_evaluation(program.id), self._validation_of(program.id),
                        "validation", candidates)

    def _validation_of(self, program_id: int) -> Evaluation | None:
        with self.session() as s:
            return s.scalar(select(Evaluation).where(Evaluation.program_id == program_id,
                                                     Evaluation.role == EvaluationRole.VALIDATION.value))
