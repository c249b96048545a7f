"""What a child goes through before its training evaluation: functional hashing, then cascade stages.

1. Functional hashing (task.yaml `fingerprint:`): the child runs on the task's probe inputs and its
   outputs are hashed; a child whose outputs equal a known program's is recorded as a
   `functional_duplicate` of it and costs only the probe run — unless its code puts it in another
   MAP-Elites niche (the grid has a code descriptor such as code_size): then it is evaluated, since
   a new niche is what the map is for.
2. Stages (task.yaml `stages:`): cheap splits, in order; after each, the stage's rule decides
   whether the child goes on. A child stopped there is `cut`: its stage evaluation (partial
   metrics) is kept, it never enters the MAP-Elites grid, and it costs only what it ran.
   A stage may only reject: the training evaluation stays the single judge of the score.
   A stage cuts only children that would compete for a cell an elite holds: one whose code
   descriptors (code_size, ...) put it in a column of the grid no elite occupies would open a new
   cell whatever it scores, so it goes on (MAP-Elites keeps the best of each cell, and a worse
   program with a new structure is the stepping stone constant tuning starts from).

Every step is stored as it completes; a child interrupted half-way runs the cascade again
on resume (stage evaluations are replaced, never doubled). What a rule compares against (the
parent's stage score, the recent stage scores, the known fingerprints, the occupied columns) is
what the child's iteration sees (archive/horizon.py), so the same child meets the same verdict
whichever evaluations finished first.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Awaitable, Callable, Iterable

from archive import Archive, Grid
from archive.horizon import Horizon
from evaluators.task import StageSpec, Task

from ..code import BUILTIN_DESCRIPTORS, builtin_descriptors
from .evaluation import Evaluator

Db = Callable[..., Awaitable[Any]]  # runs an archive call on the campaign's database thread


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Why the cascade ended a child early, or None fields when it goes on to training."""
    state: str | None = None       # "functional_duplicate" | "cut" | "failed"
    result: Any = None             # the failing stage's EvaluationResult (state "failed")
    split: str | None = None


GOES_ON = Verdict()


@dataclasses.dataclass(frozen=True)
class Seen:
    """What the child's iteration saw of the archive: its horizon, whether its parent was decided then
    (the seed may still be under evaluation), and the cells the elites held (all islands)."""
    horizon: Horizon
    parent_decided: bool
    occupied: frozenset[str]


def stage_threshold(rule, parent_score: float | None, recent: list[float]) -> float | None:
    """The lowest stage score that goes on (None: no evidence yet, everyone goes on).

    Either condition suffices, so the threshold is the lower of the two that apply.
    """
    candidates = []
    if rule.within_parent_pct is not None and parent_score is not None:
        candidates.append(parent_score - rule.within_parent_pct / 100.0 * abs(parent_score))
    if rule.top_fraction is not None and len(recent) >= max(2, rule.window // 2):
        ordered = sorted(recent, reverse=True)
        index = min(len(ordered) - 1, max(0, math.ceil(rule.top_fraction * len(ordered)) - 1))
        candidates.append(ordered[index])
    return min(candidates) if candidates else None


class Cascade:
    def __init__(self, archive: Archive, campaign_id: int, task: Task, evaluator: Evaluator, grid: Grid, db: Db, *,
                 fingerprints: bool = True, stages: bool = True):
        self.archive = archive
        self.campaign_id = campaign_id
        self.task = task
        self.evaluator = evaluator
        self.grid = grid
        self.db = db
        self.fingerprint_spec = task.spec.fingerprint if fingerprints else None
        self.stages: list[StageSpec] = list(task.spec.stages) if stages else []

    async def run(self, program_id: int, code: str, parent_id: int | None, seen: Seen) -> Verdict:
        """Probe and stage a child (the seed too: with no parent, no rule applies to it)."""
        if self.fingerprint_spec is not None:
            verdict = await self._fingerprint(program_id, code, parent_id is None, seen.horizon)
            if verdict is not GOES_ON:
                return verdict
        for stage in self.stages:
            result = await self.evaluator.evaluate(code, stage.split)
            if not result.ok:
                return Verdict("failed", result, stage.split)
            threshold = None if parent_id is None else await self.db(
                self._threshold, stage, parent_id if seen.parent_decided else None, seen.horizon)
            await self.db(self.archive.record_stage, program_id, stage.split, result)
            if threshold is not None and result.score < threshold and not self._opens_column(code, seen.occupied):
                await self.db(self.archive.mark_cut, program_id, stage.split, score=result.score,
                              threshold=threshold)
                return Verdict("cut", result, stage.split)
        return GOES_ON

    def _threshold(self, stage: StageSpec, parent_id: int | None, horizon: Horizon) -> float | None:
        parent = self.archive.evaluation(parent_id, stage.split) if parent_id is not None else None
        recent = self.archive.recent_stage_scores(self.campaign_id, stage.split, stage.rule.window, horizon)
        return stage_threshold(stage.rule, parent.score if parent is not None and parent.status == "ok" else None,
                               recent)

    def _opens_column(self, code: str, occupied: Iterable[str]) -> bool:
        """A child whose code descriptors (code_size, ...) fall in a column no elite occupies lands in an empty
        cell whatever it scores: a stage does not cut it."""
        return self.grid.opens_column(builtin_descriptors(code), occupied, BUILTIN_DESCRIPTORS)

    async def _same_niche(self, code: str, twin_id: int) -> bool:
        """Whether a child that behaves like `twin_id` would also land in its cell: its metrics would be the
        twin's, so only the code descriptors (code_size, ...) can differ."""
        twin = await self.db(self.archive.program, twin_id)
        return self.grid.same_bins(builtin_descriptors(code), builtin_descriptors(twin.code), BUILTIN_DESCRIPTORS)

    async def _fingerprint(self, program_id: int, code: str, is_seed: bool, horizon: Horizon) -> Verdict:
        spec = self.fingerprint_spec
        result = await self.evaluator.evaluate(code, spec.split, {"fingerprint": {"digits": spec.digits}})
        await self.db(self.archive.record_stage, program_id, spec.split, result)
        value = result.artifacts.get("fingerprint") if result.ok else None
        if not value:  # the probe run failed: no hash, the stages and training decide
            return GOES_ON
        await self.db(self.archive.set_fingerprint, program_id, value)
        if not is_seed:
            twin = await self.db(self.archive.find_fingerprint, self.campaign_id, value, program_id, horizon)
            if twin is not None and await self._same_niche(code, twin):
                await self.db(self.archive.mark_functional_duplicate, program_id, twin)
                return Verdict("functional_duplicate")
        return GOES_ON
