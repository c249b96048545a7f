"""Validation as the campaign goes: every program that enters the training top-k is scored on the validation split.

The top-k ranks the training verdicts applied so far (the loop applies verdicts in iteration
order; rank: score descending, then iteration), leaving out programs whose validation failed
(crashed, invalid, timed out): a program that breaks on data drawn like its training data is never
handed over, and the next one in training rank takes its place. A program *enters* the top-k when
its verdict ranks among the k best, or when a member's failure moves it up. Each entrant is
validated before the next verdict is ranked, so every member of the current top-k is always
validated, and the set of validated programs is a function of the training verdicts and the
validation outcomes alone, whatever order evaluations finished in: after a kill -9 the same scan
over the stored verdicts (a stored failure disqualifies its program when its verdict comes up
again) finds exactly the entrants that still lack their validation evaluation, so nothing is
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


class TrainingTopK:
    """The training top-k as verdicts arrive in order, without the programs disqualified by a failed validation."""

    def __init__(self, k: int):
        self.k = k
        self._ranked: list[tuple[float, int, int]] = []  # (-score, verdict order, program id), best first
        self._disqualified: set[int] = set()

    def add(self, score: float, order: int, program_id: int) -> bool:
        """Rank a verdict; whether its program is now a member."""
        bisect.insort(self._ranked, (-score, order, program_id))
        return program_id in self.members()

    def disqualify(self, program_id: int) -> None:
        self._disqualified.add(program_id)

    def members(self) -> list[int]:
        """The current top-k's programs, best first."""
        found = []
        for _, _, program_id in self._ranked:
            if program_id not in self._disqualified:
                found.append(program_id)
                if len(found) == self.k:
                    break
        return found


class ValidationSelection:
    """Scores the training top-k's entrants on the task's validation split; a no-op for a task without one."""

    def __init__(self, archive: Archive, campaign_id: int, task: Task, top_k: int, evaluate: Evaluate, db: Db):
        self.archive = archive
        self.campaign_id = campaign_id
        self.split = task.spec.validation_split
        self.evaluate = evaluate
        self.db = db
        self._top = TrainingTopK(top_k)
        self._scanned_through = -1  # the last iteration whose verdict was scanned
        self._validated: dict[int, str] | None = None  # loaded on first use: program id -> its validation status
        self._scan = asyncio.Lock()

    async def after_applying(self, through: int) -> None:
        """Validate every entrant not validated yet among the verdicts of iterations up to `through` (on the
        first call of a resumed run, also those an interrupted run left). Returns once they are stored."""
        if self.split is None:
            return
        async with self._scan:  # one caller at a time: verdicts are ranked, and entrants validated, in order
            if self._validated is None:
                self._validated = await self.db(self.archive.validation_statuses, self.campaign_id)
            verdicts = await self.db(self.archive.training_verdicts, self.campaign_id, self._scanned_through, through)
            self._scanned_through = max(self._scanned_through, through)
            for verdict in verdicts:
                if self._top.add(verdict.score, verdict.iteration, verdict.program_id):
                    await self._validate_members()

    async def _validate_members(self) -> None:
        """Validate the members not validated yet; a failure disqualifies its program and lets the next one in."""
        while True:
            for program_id in self._top.members():
                status = self._validated.get(program_id)
                if status is None:
                    status = self._validated[program_id] = await self._validate(program_id)
                if status != "ok":
                    self._top.disqualify(program_id)
                    break
            else:
                return

    async def _validate(self, program_id: int) -> str:
        program = await self.db(self.archive.program, program_id)
        result = await self.evaluate(program.code, self.split, None)
        return (await self.db(self.archive.record_validation, program_id, self.split, result)).status
