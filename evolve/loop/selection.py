"""Validation as the campaign goes: every program that enters the training top-k is scored on the validation split.

A program *enters* the top-k when its training verdict ranks among the k best verdicts applied
so far (the loop applies verdicts in iteration order; rank: score descending, then iteration).
Membership only changes by such entries, so validating every entrant keeps every member of the
current top-k validated, and the set of validated programs is a function of the training verdicts
alone, whatever order evaluations finished in: after a kill -9 the same scan over the stored
verdicts finds exactly the entrants that still lack their validation evaluation, so nothing is
evaluated twice and nothing is missed.

The search never sees these results: they are stored with the `validation` role, which no query
behind parent sampling, the cascade or the operators reads (archive/selection.py).
"""
from __future__ import annotations

import asyncio
import bisect
from typing import Any, Awaitable, Callable

from archive import Archive
from evaluators.contract import EvaluationResult
from evaluators.task import Task

Evaluate = Callable[[str, str, dict[str, Any] | None], Awaitable[EvaluationResult]]  # (code, split, options)
Db = Callable[..., Awaitable[Any]]  # runs an archive call on the campaign's database thread


class TopKEntrants:
    """The training top-k as verdicts arrive in order; `add` says whether a verdict entered it."""

    def __init__(self, k: int):
        self.k = k
        self._ranked: list[tuple[float, int]] = []  # (-score, verdict order), best first

    def add(self, score: float, order: int) -> bool:
        key = (-score, order)
        position = bisect.bisect_left(self._ranked, key)
        if position >= self.k:
            return False
        self._ranked.insert(position, key)
        del self._ranked[self.k:]
        return True


class ValidationSelection:
    """Scores the training top-k's entrants on the task's validation split; a no-op for a task without one."""

    def __init__(self, archive: Archive, campaign_id: int, task: Task, top_k: int, evaluate: Evaluate, db: Db):
        self.archive = archive
        self.campaign_id = campaign_id
        self.split = task.spec.validation_split
        self.evaluate = evaluate
        self.db = db
        self._entrants = TopKEntrants(top_k)
        self._scanned_through = -1  # the last iteration whose verdict was scanned
        self._validated: set[int] | None = None  # loaded on first use: the programs with a validation evaluation
        self._scan = asyncio.Lock()

    async def after_applying(self, through: int) -> None:
        """Validate every entrant not validated yet among the verdicts of iterations up to `through` (on the
        first call of a resumed run, also those an interrupted run left). Returns once they are stored."""
        if self.split is None:
            return
        async with self._scan:  # concurrent callers: each verdict is scanned once, each entrant claimed once
            if self._validated is None:
                self._validated = await self.db(self.archive.validated_program_ids, self.campaign_id)
            verdicts = await self.db(self.archive.training_verdicts, self.campaign_id, self._scanned_through, through)
            self._scanned_through = max(self._scanned_through, through)
            todo = []
            for verdict in verdicts:
                if self._entrants.add(verdict.score, verdict.iteration) and \
                        verdict.program_id not in self._validated:
                    self._validated.add(verdict.program_id)
                    todo.append(verdict.program_id)
        for program_id in todo:
            await self._validate(program_id)

    async def _validate(self, program_id: int) -> None:
        program = await self.db(self.archive.program, program_id)
        result = await self.evaluate(program.code, self.split, None)
        await self.db(self.archive.record_validation, program_id, self.split, result)
