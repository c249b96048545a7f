"""The evolution loop: sample parents, mutate, deduplicate, evaluate, archive — all committed as it goes.

K proposals and M evaluations are in flight at once. With one worker and one proposal the
loop is strictly sequential and, because every iteration's randomness is derived from
(campaign seed, iteration), reproducible program for program — including across a kill -9
and `evolve resume`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any, Callable

from typing import TYPE_CHECKING

from archive import CampaignState, ProgramState, SamplingWeights
from archive.sampling import choose_inspirations, choose_parent
from evaluators.contract import EvaluationResult, Sandbox, Status
from sandbox.failures import SandboxUnavailable

from .code import builtin_descriptors, normalized_hash
from .mutators import Edit, MutationContext, Mutator, MutatorFailed, ProgramView, StopCampaign

if TYPE_CHECKING:
    from .campaign import Campaign


class CampaignFailed(RuntimeError):
    pass


@dataclasses.dataclass
class Progress:
    iterations_done: int
    iterations_total: int
    evaluated: int
    failures: int
    duplicates: int
    best_score: float | None
    evals_per_s: float
    last: dict[str, Any]


class Controller:
    def __init__(self, campaign: "Campaign", sandbox: Sandbox, mutator: Mutator,
                 on_progress: Callable[[Progress], None] | None = None):
        self.archive = campaign.archive
        self.campaign_id = campaign.id
        self.config = config = campaign.config
        self.task = campaign.task
        self.sandbox = sandbox
        self.mutator = mutator
        self.on_progress = on_progress
        self.grid = campaign.grid
        self.limits = campaign.limits
        self.weights = SamplingWeights(**config.sampling.model_dump())
        self.islands = config.islands.count
        self._started = time.monotonic()
        self._evaluated_here = 0
        self._stop = False
        self._stop_reason: str | None = None  # why the campaign stopped early (e.g. the LLM budget is spent)

    # ---- public ----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        self.archive.set_state(self.campaign_id, CampaignState.RUNNING, claim=True)
        try:
            await self._ensure_seed()
            await self._loop()
            self._maybe_migrate()
            state = CampaignState.STOPPED if self._stop else CampaignState.FINISHED
            self.archive.set_state(self.campaign_id, state, self._stop_reason if self._stop else None)
            return {"state": state.value, **self.archive.stats(self.campaign_id)}
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.archive.set_state(self.campaign_id, CampaignState.STOPPED, "interrupted; `evolve resume` continues it")
            raise
        except CampaignFailed as exc:
            self.archive.set_state(self.campaign_id, CampaignState.FAILED, str(exc))
            raise

    def request_stop(self) -> None:
        self._stop = True

    # ---- seed ------------------------------------------------------------------------------
    async def _ensure_seed(self) -> None:
        seed = self.archive.seed_program(self.campaign_id)
        if seed is None:
            code = self.task.seed_code
            program_id = self.archive.add_program(
                self.campaign_id, iteration=0, code=code, code_hash=normalized_hash(code), parent_id=None,
                inspiration_ids=[], mutator="seed", operator="seed", edit={}, generation=0, island=0,
                state=ProgramState.PENDING)
            seed = self.archive.program(program_id)
        if seed.state == ProgramState.PENDING:
            result = await self._evaluate(seed.id, seed.code, islands=range(self.islands))
            if not result.ok:
                raise CampaignFailed(f"the seed program failed: {result.status.value}: "
                                     f"{result.artifacts.get('message', '')}")
        elif self.archive.training_evaluation(seed.id).status != Status.OK:
            raise CampaignFailed("the seed program failed its evaluation; fix the task's seed and start a new campaign")

    # ---- main loop -------------------------------------------------------------------------
    async def _loop(self) -> None:
        proposals_limit, evaluations_limit = self.config.in_flight()
        sequential = proposals_limit == 1 and evaluations_limit == 1
        in_flight_limit = 1 if sequential else proposals_limit + evaluations_limit
        done = self.archive.iterations_done(self.campaign_id)
        todo = [i for i in range(1, self.config.iterations + 1) if i not in done]
        tasks: set[asyncio.Task] = set()
        for program in self.archive.pending_programs(self.campaign_id):  # stored, but interrupted before evaluation
            if program.iteration > 0:
                tasks.add(asyncio.create_task(self._evaluate_pending(program.id, program.code, program.island)))
        try:
            await self._run_tasks(tasks, todo, proposals_limit, in_flight_limit)
        finally:  # leaving early (an error, a cancel): no task of ours may outlive the loop
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_tasks(self, tasks: set, todo: list[int], proposals_limit: int, in_flight_limit: int) -> None:
        proposing = 0
        while True:
            if self.archive.state(self.campaign_id) is CampaignState.STOPPING:
                self._stop = True
            while todo and not self._stop and proposing < proposals_limit and len(tasks) < in_flight_limit:
                iteration = todo.pop(0)
                proposing += 1
                task = asyncio.create_task(self._iteration(iteration))
                task.proposal = True  # type: ignore[attr-defined]
                tasks.add(task)
            if not tasks:
                break
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.difference_update(finished)  # in place: _loop cancels whatever is left if we leave early
            for task in finished:
                follow_up = task.result()  # re-raises controller bugs
                if getattr(task, "proposal", False):
                    proposing -= 1
                if follow_up is not None:
                    tasks.add(follow_up)

    async def _iteration(self, iteration: int) -> asyncio.Task | None:
        """Propose and store a child; returns the task evaluating it (if any)."""
        rng = random.Random(f"{self.config.seed}:{iteration}")
        island = iteration % self.islands
        elites = self.archive.elites(self.campaign_id, island) or self.archive.elites(self.campaign_id)
        parent_elite, mode = choose_parent(elites, self.grid, rng, self.weights)
        inspirations = choose_inspirations(elites, parent_elite, self.grid, rng, self.weights)
        parent = self._view(parent_elite.program_id, parent_elite.key)
        context = MutationContext(
            task=self.task, parent=parent, inspirations=[self._view(e.program_id, e.key) for e in inspirations],
            rng=rng, iteration=iteration, recent=self.archive.recent_attempts(self.campaign_id),
            empty_cells=self._empty_cells(elites), descriptor_names=self.grid.names,
            is_known=lambda code_hash: self.archive.find_hash(self.campaign_id, code_hash) is not None)
        try:
            edit: Edit = await self.mutator.propose(context)
        except StopCampaign as exc:  # no program row: the iteration is proposed again after a resume
            if self._stop_reason is None:
                self.archive.log_event(self.campaign_id, "stop", reason=str(exc))
            self._stop, self._stop_reason = True, str(exc)
            return None
        except MutatorFailed as exc:
            raise CampaignFailed(str(exc)) from None
        record = {**edit.record(), "parent_mode": mode}
        common = dict(iteration=iteration, parent_id=parent.id, inspiration_ids=[e.program_id for e in inspirations],
                      mutator=edit.mutator, operator=edit.operator, edit=record,
                      generation=parent.generation + 1, island=island)
        if edit.code is None:
            self.archive.add_program(self.campaign_id, code=None, code_hash=None,
                                     state=ProgramState.FAILED_EDIT, **common)
            self._report({"iteration": iteration, "state": ProgramState.FAILED_EDIT.value, "error": edit.error})
            return None
        code_hash = normalized_hash(edit.code)
        duplicate_of = self.archive.find_hash(self.campaign_id, code_hash)
        if duplicate_of is not None:
            self.archive.add_program(self.campaign_id, code=edit.code, code_hash=code_hash,
                                     state=ProgramState.DUPLICATE,
                                     duplicate_of=duplicate_of, **common)
            self._report({"iteration": iteration, "state": ProgramState.DUPLICATE.value})
            return None
        program_id = self.archive.add_program(self.campaign_id, code=edit.code, code_hash=code_hash,
                                              state=ProgramState.PENDING, **common)
        return asyncio.create_task(self._evaluate_pending(program_id, edit.code, island))

    async def _evaluate_pending(self, program_id: int, code: str, island: int) -> None:
        result = await self._evaluate(program_id, code, islands=[island])
        self._maybe_migrate()
        self._report({"program_id": program_id, "state": ProgramState.EVALUATED.value, "status": result.status.value,
                      "score": result.score})

    async def _evaluate(self, program_id: int, code: str, islands) -> EvaluationResult:
        try:
            result = await self.sandbox.evaluate(self.task, code, self.limits, split=self.task.spec.train_split)
        except SandboxUnavailable as exc:
            raise CampaignFailed(str(exc)) from None
        except Exception as exc:  # a sandbox infrastructure failure is recorded, never fatal to the campaign
            result = EvaluationResult.failure(Status.CRASHED, f"sandbox error: {type(exc).__name__}: {exc}")
        if result.ok:
            result.descriptors = self._descriptors(code, result.metrics)
        self.archive.record_training(program_id, self.task.spec.train_split, result, grid=self.grid,
                                     islands=list(islands))
        self._evaluated_here += 1
        return result

    # ---- helpers ---------------------------------------------------------------------------
    def _descriptors(self, code: str, metrics: dict[str, Any]) -> dict[str, float]:
        builtins = builtin_descriptors(code)
        values = {}
        for name in self.grid.names:
            value = metrics.get(name, builtins.get(name))
            values[name] = float(value) if isinstance(value, (int, float)) else float("nan")
        return values

    def _view(self, program_id: int, key: str | None) -> ProgramView:
        program = self.archive.program(program_id)
        evaluation = self.archive.training_evaluation(program_id)
        return ProgramView(id=program.id, code=program.code, score=evaluation.score if evaluation else None,
                           metrics=dict(evaluation.metrics) if evaluation else {},
                           artifacts=dict(evaluation.artifacts) if evaluation else {},
                           generation=program.generation, island=program.island, operator=program.operator, cell=key)

    def _empty_cells(self, elites) -> list[str]:
        if self.grid.size > 4096:
            return []
        filled = {e.key for e in elites}
        return [k for k in self.grid.all_keys() if k not in filled]

    def _maybe_migrate(self) -> None:
        """Catch up on ring migrations owed: one per `migration_interval` evaluated children."""
        if self.islands < 2:
            return
        stats = self.archive.progress_counts(self.campaign_id)
        owed = max(0, stats["evaluated"] - 1) // self.config.islands.migration_interval
        done = self.archive.count_events(self.campaign_id, "migration") if owed else 0
        for round_index in range(done, owed):
            self.archive.migrate(self.campaign_id, self.islands, self.grid, round_index)

    def _report(self, last: dict[str, Any]) -> None:
        if self.on_progress is None:
            return
        stats = self.archive.progress_counts(self.campaign_id)
        elapsed = max(1e-9, time.monotonic() - self._started)
        self.on_progress(Progress(
            iterations_done=stats["iterations_done"], iterations_total=self.config.iterations,
            evaluated=stats["evaluated"], failures=stats["failures"],
            duplicates=stats["programs"].get(ProgramState.DUPLICATE.value, 0), best_score=stats["best_score"],
            evals_per_s=self._evaluated_here / elapsed, last=last))
