"""The evolution loop: sample parents, mutate, deduplicate, cascade, evaluate, archive — all committed as it goes.

K proposals and M evaluations are in flight at once. With one worker and one proposal the
loop is strictly sequential and, because every iteration's randomness is derived from
(campaign seed, iteration), reproducible program for program — including across a kill -9
and `evolve resume`.

The event loop never waits on the database: every archive call runs on the campaign's database
thread (evolve/loop/dbthread.py, shared with the LLM call log, in submission order), and what the
loop needs at every iteration (the code hashes of the campaign's programs) is kept in memory.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import TYPE_CHECKING, Any, Callable

from archive import CampaignState, ProgramState, SamplingWeights
from archive.sampling import Elite, choose_inspirations, choose_parent
from ..front import elite_front  # hook: fronts (parent selection over the Pareto front)
from evaluators.contract import EvaluationResult, Sandbox, Status
from sandbox.failures import SandboxUnavailable

from .cascade import Cascade
from ..code import BUILTIN_DESCRIPTORS, builtin_descriptors, normalized_hash
from .concurrency import ProposalWindow
from .dbthread import DatabaseThread
from .qd_snapshots import QDSnapshots
from ..mutators import (HISTORY_OPERATORS, LEARNING_OPERATORS, Edit, MutationContext, Mutator, MutatorFailed,
                       ProgramView, StopCampaign)

if TYPE_CHECKING:
    from ..campaign import Campaign


STATE_POLL_S = 0.5  # how often the loop looks for a stop requested through the archive
REPORT_S = 0.25     # the least time between two progress reports


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


@dataclasses.dataclass
class _Prepared:
    """Everything an iteration reads from the archive, loaded in one trip to the database thread."""
    parent: ProgramView
    inspirations: list[ProgramView]
    mode: str
    recent: list[dict[str, Any]]
    empty_cells: list[str]
    children: list[dict[str, Any]]  # the parent's children by program-level operators (constant tuning)
    campaign_children: list[dict[str, Any]]  # the campaign's latest children by learning operators
    child_states: dict[str, dict[str, int]]  # {operator: {state: count}} of the parent's children
    campaign_states: dict[str, dict[str, int]]  # the same over the whole campaign


class Controller:
    def __init__(self, campaign: "Campaign", sandbox: Sandbox, mutator: Mutator,
                 on_progress: Callable[[Progress], None] | None = None, db: DatabaseThread | None = None):
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
        self._verdicts = 0      # programs with a training verdict (the seed included), for migrations
        self._migrations = 0    # ring migrations done
        self._state_checked = 0.0
        self._reported = 0.0
        self._stop = False
        self._stop_reason: str | None = None  # why the campaign stopped early (e.g. the LLM budget is spent)
        self._owns_db = db is None
        self.db = db or DatabaseThread()
        self._known_hashes: dict[str, int] = {}
        self._seed = None  # the seed program while its evaluation runs
        self._proposing = 0  # proposals (LLM calls) in flight
        proposals, workers = config.in_flight()
        self.window = ProposalWindow(workers, config.proposals, adaptive=bool(config.models()),
                                     cap=config.llm_options.concurrency or 64,
                                     budgeted=config.budget.usd is not None or config.budget.tokens is not None)
        self.cascade = Cascade(self.archive, self.campaign_id, self.task, self._evaluate_on, self.db,
                               fingerprints=config.functional_hashing, stages=config.cascade,
                               same_niche=self._same_niche, opens_column=self._opens_column)
        self.qd = QDSnapshots(self.archive, self.campaign_id, grid_size=self.grid.size, islands=self.islands,
                              declared_offset=config.qd_offset, iterations=config.iterations)

    # ---- public ----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        try:
            await self.db(self.archive.set_state, self.campaign_id, CampaignState.RUNNING, claim=True)
            self._known_hashes = await self.db(self.archive.known_hashes, self.campaign_id)
            self._verdicts = (await self.db(self.archive.progress_counts, self.campaign_id))["evaluated"]
            self._migrations = await self.db(self.archive.count_events, self.campaign_id, "migration")
            await self.db(self.qd.start, self._verdicts)
            seeding = await self._ensure_seed()
            if self.window.adaptive and self.window.evaluation_s is None and seeding is None:
                # resumed: the evaluations so far give the service time until new ones are measured
                stats = await self.db(self.archive.stats, self.campaign_id)
                if stats["evaluated"]:
                    self.window.evaluation_done(stats["evaluation_seconds"] / stats["evaluated"])
            await self._loop(seeding)
            await self._maybe_migrate()
            await self.db(self.qd.record)  # the figures the run ends with
            self._report({"state": "done"}, force=True)
            state = CampaignState.STOPPED if self._stop else CampaignState.FINISHED
            await self.db(self.archive.set_state, self.campaign_id, state, self._stop_reason if self._stop else None)
            return {"state": state.value, **await self.db(self.archive.stats, self.campaign_id)}
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.archive.set_state(self.campaign_id, CampaignState.STOPPED, "interrupted; `evolve resume` continues it")
            raise
        except CampaignFailed as exc:
            self.archive.set_state(self.campaign_id, CampaignState.FAILED, str(exc))
            raise
        finally:
            if self._owns_db:
                self.db.close()

    def request_stop(self) -> None:
        self._stop = True

    # ---- seed ------------------------------------------------------------------------------
    async def _ensure_seed(self) -> asyncio.Task | None:
        """Store the seed and evaluate it; when the loop is not sequential, the evaluation is returned as a
        task so the first proposals (children of the seed) start meanwhile."""
        seed = await self.db(self.archive.seed_program, self.campaign_id)
        if seed is None:
            code = self.task.seed_code
            program_id = await self.db(
                self.archive.add_program, self.campaign_id, iteration=0, code=code, code_hash=normalized_hash(code),
                parent_id=None, inspiration_ids=[], mutator="seed", operator="seed", edit={}, generation=0,
                island=0, state=ProgramState.PENDING)
            self._known_hashes.setdefault(normalized_hash(code), program_id)
            seed = await self.db(self.archive.program, program_id)
        if seed.state == ProgramState.PENDING:
            self._seed = seed
            evaluation = asyncio.create_task(self._evaluate_seed(seed))
            if self._sequential():
                await evaluation
                return None
            return evaluation
        else:
            verdict = await self.db(self.archive.training_evaluation, seed.id)
            if verdict is None or verdict.status != Status.OK:
                raise CampaignFailed("the seed program failed its evaluation; fix the task's seed and start a new "
                                     "campaign")

    async def _evaluate_seed(self, seed) -> None:
        result = await self._evaluate(seed.id, seed.code, None, islands=range(self.islands))
        if not result.ok:
            raise CampaignFailed(f"the seed program failed: {result.status.value}: "
                                 f"{result.artifacts.get('message', '')}")

    def _sequential(self) -> bool:
        return self.window.limit == 1 and self.window.workers == 1 and not self.window.adaptive

    # ---- main loop -------------------------------------------------------------------------
    async def _loop(self, seeding: asyncio.Task | None = None) -> None:
        done = await self.db(self.archive.iterations_done, self.campaign_id)
        todo = [i for i in range(1, self.config.iterations + 1) if i not in done]
        tasks: set[asyncio.Task] = {seeding} if seeding is not None else set()
        for program in await self.db(self.archive.pending_programs, self.campaign_id):  # interrupted before its verdict
            if program.iteration > 0:
                tasks.add(asyncio.create_task(self._evaluate_pending(program.id, program.code, program.island,
                                                                     program.parent_id)))
        try:
            await self._run_tasks(tasks, todo)
        finally:  # leaving early (an error, a cancel): no task of ours may outlive the loop
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_tasks(self, tasks: set, todo: list[int]) -> None:
        workers = self.window.workers
        while True:
            if time.monotonic() - self._state_checked > STATE_POLL_S:  # `evolve stop` / the TUI ask through the archive
                self._state_checked = time.monotonic()
                if await self.db(self.archive.state, self.campaign_id) is CampaignState.STOPPING:
                    self._stop = True
            self.window.tick(time.monotonic(), getattr(self.mutator, "rate_limited", 0), self._proposing)
            in_flight_limit = 1 if self._sequential() else self.window.limit + workers
            while todo and not self._stop and self._proposing < self.window.limit and len(tasks) < in_flight_limit:
                iteration = todo.pop(0)
                self._proposing += 1
                self.window.started(time.monotonic())
                task = asyncio.create_task(self._iteration(iteration))
                task.proposal = True  # type: ignore[attr-defined]
                tasks.add(task)
            if not tasks:
                break
            # woken while the window opens: on the latency's lower bound before the first reply, by one call a wake-up
            wake = self.window.wake_in(time.monotonic()) if todo else None
            finished, _ = await asyncio.wait(tasks, timeout=wake, return_when=asyncio.FIRST_COMPLETED)
            tasks.difference_update(finished)  # in place: _loop cancels whatever is left if we leave early
            for task in finished:
                follow_up = task.result()  # re-raises controller bugs
                if getattr(task, "proposal", False):
                    self._proposing -= 1
                if follow_up is not None:
                    tasks.add(follow_up)

    async def _iteration(self, iteration: int) -> asyncio.Task | None:
        """Propose and store a child; returns the task evaluating it (if any)."""
        rng = random.Random(f"{self.config.seed}:{iteration}")
        island = iteration % self.islands
        prepared = await self.db(self._prepare, rng, island)
        parent = prepared.parent
        context = MutationContext(
            task=self.task, parent=parent, inspirations=prepared.inspirations, rng=rng, iteration=iteration,
            recent=prepared.recent, empty_cells=prepared.empty_cells, descriptor_names=self.grid.names,
            is_known=self._known_hashes.__contains__,
            children_of=lambda parent_id, operator: [c for c in prepared.children
                                                     if parent_id == parent.id and c["operator"] == operator],
            campaign_children=lambda operator: [c for c in prepared.campaign_children if c["operator"] == operator],
            child_states=prepared.child_states, campaign_states=prepared.campaign_states)
        started, load, bounced = time.monotonic(), self._proposing, getattr(self.mutator, "rate_limited", 0)
        try:
            edit: Edit = await self.mutator.propose(context)
            if self.window.adaptive and hasattr(self.mutator, "calls_affordable"):
                self.window.affordable = await self.mutator.calls_affordable()
            rate_limited = getattr(self.mutator, "rate_limited", 0)
            self.window.proposal_done(time.monotonic() - started, rate_limited, self._proposing,
                                      load if rate_limited == bounced else None)
        except StopCampaign as exc:  # no program row: the iteration is proposed again after a resume
            if self._stop_reason is None:
                await self.db(self.archive.log_event, self.campaign_id, "stop", reason=str(exc))
            self._stop, self._stop_reason = True, str(exc)
            return None
        except MutatorFailed as exc:
            raise CampaignFailed(str(exc)) from None
        record = {**edit.record(), "parent_mode": prepared.mode}
        common = dict(iteration=iteration, parent_id=parent.id, inspiration_ids=[e.id for e in prepared.inspirations],
                      mutator=edit.mutator, operator=edit.operator, edit=record,
                      generation=parent.generation + 1, island=island)
        if edit.code is None:
            await self.db(self.archive.add_program, self.campaign_id, code=None, code_hash=None,
                          state=ProgramState.FAILED_EDIT, **common)
            self._report({"iteration": iteration, "state": ProgramState.FAILED_EDIT.value, "error": edit.error})
            return None
        code_hash = normalized_hash(edit.code)
        duplicate_of = self._known_hashes.get(code_hash)
        if duplicate_of is not None:
            await self.db(self.archive.add_program, self.campaign_id, code=edit.code, code_hash=code_hash,
                          state=ProgramState.DUPLICATE, duplicate_of=duplicate_of, **common)
            self._report({"iteration": iteration, "state": ProgramState.DUPLICATE.value})
            return None
        program_id = await self.db(self.archive.add_program, self.campaign_id, code=edit.code, code_hash=code_hash,
                                   state=ProgramState.PENDING, **common)
        self._known_hashes[code_hash] = program_id
        return asyncio.create_task(self._evaluate_pending(program_id, edit.code, island, parent.id))

    def _prepare(self, rng: random.Random, island: int) -> _Prepared:
        """On the database thread: parent, inspirations and hints for one iteration (rng draws in a fixed order)."""
        elites = self.archive.elites(self.campaign_id, island) or self.archive.elites(self.campaign_id)
        if not elites:  # the seed is still being evaluated: its children are the first proposals
            elites = [Elite(self._seed.id, self.grid.key({}), float("-inf"))]
        front = elite_front(self.archive, self.task, elites) if self.weights.pareto else None  # hook: fronts
        parent_elite, mode = choose_parent(elites, self.grid, rng, self.weights, front=front)
        inspirations = choose_inspirations(elites, parent_elite, self.grid, rng, self.weights)
        views = self.archive.program_views([parent_elite.program_id] + [e.program_id for e in inspirations])
        keys = {e.program_id: e.key for e in [parent_elite, *inspirations]}
        as_view = lambda pid: ProgramView(**views[pid], cell=keys[pid])  # noqa: E731
        reads_children = getattr(self.mutator, "reads_children", True)
        child_states, campaign_states = (self.archive.operator_states(self.campaign_id, parent_elite.program_id)
                                         if reads_children else ({}, {}))
        return _Prepared(parent=as_view(parent_elite.program_id),
                         inspirations=[as_view(e.program_id) for e in inspirations], mode=mode,
                         recent=self.archive.recent_attempts(self.campaign_id), empty_cells=self._empty_cells(elites),
                         children=self.archive.children_by_operator(self.campaign_id, parent_elite.program_id,
                                                                    HISTORY_OPERATORS) if reads_children else [],
                         campaign_children=self.archive.recent_children_by_operator(
                             self.campaign_id, LEARNING_OPERATORS) if reads_children else [],
                         child_states=child_states, campaign_states=campaign_states)

    async def _evaluate_pending(self, program_id: int, code: str, island: int, parent_id: int | None) -> None:
        result = await self._evaluate(program_id, code, parent_id, islands=[island])
        await self._maybe_migrate()
        self._report({"program_id": program_id, "status": result.status.value if result else None,
                      "score": result.score if result else None})

    async def _evaluate(self, program_id: int, code: str, parent_id: int | None, islands) -> EvaluationResult | None:
        """The cascade, then (if it goes on) the training evaluation; None when the cascade ended it."""
        verdict = await self.cascade.run(program_id, code, parent_id)
        split = self.task.spec.train_split
        if verdict.state == "failed":
            result, split = verdict.result, verdict.split
        elif verdict.state is not None:
            return None
        else:
            result = await self._evaluate_on(code, split, None)
        if result.ok:
            result.descriptors = self._descriptors(code, result.metrics)
        placed = await self.db(self.archive.record_training, program_id, split, result, grid=self.grid,
                               islands=list(islands))
        await self.db(self.qd.after_training, placed.new_elite)
        self._evaluated_here += 1
        self._verdicts += 1
        return result

    async def _evaluate_on(self, code: str, split: str, options: dict[str, Any] | None) -> EvaluationResult:
        try:
            result = await self.sandbox.evaluate(self.task, code, self.limits, split=split, options=options)
            self.window.evaluation_done(result.wall_time)
            return result
        except SandboxUnavailable as exc:
            raise CampaignFailed(str(exc)) from None
        except Exception as exc:  # a sandbox infrastructure failure is recorded, never fatal to the campaign
            return EvaluationResult.failure(Status.CRASHED, f"sandbox error: {type(exc).__name__}: {exc}")

    # ---- helpers ---------------------------------------------------------------------------
    def _descriptors(self, code: str, metrics: dict[str, Any]) -> dict[str, float]:
        builtins = builtin_descriptors(code)
        values = {}
        for name in self.grid.names:
            value = metrics.get(name, builtins.get(name))
            values[name] = float(value) if isinstance(value, (int, float)) else float("nan")
        return values

    async def _same_niche(self, code: str, twin_id: int) -> bool:
        """Whether a child that behaves like `twin_id` would also land in its cell: its metrics would be the
        twin's, so only the code descriptors (code_size, ...) can differ."""
        axes = [a for a in self.grid.axes if a.name in BUILTIN_DESCRIPTORS]
        if not axes:
            return True
        twin = await self.db(self.archive.program, twin_id)
        mine, theirs = builtin_descriptors(code), builtin_descriptors(twin.code)
        return all(a.index(mine[a.name]) == a.index(theirs[a.name]) for a in axes)

    async def _opens_column(self, code: str) -> bool:
        """Whether no elite (of any island) shares the bins of this code's descriptors (code_size, ...):
        then the child lands in an empty cell whatever its metrics. False on a grid without code axes."""
        axes = [i for i, a in enumerate(self.grid.axes) if a.name in BUILTIN_DESCRIPTORS]
        if not axes:
            return False
        mine = builtin_descriptors(code)
        column = tuple(self.grid.axes[i].index(mine[self.grid.axes[i].name]) for i in axes)
        elites = await self.db(self.archive.elites, self.campaign_id)
        return all(tuple(self.grid.parse(e.key)[i] for i in axes) != column for e in elites)

    def _empty_cells(self, elites) -> list[str]:
        if self.grid.size > 4096:
            return []
        filled = {e.key for e in elites}
        return [k for k in self.grid.all_keys() if k not in filled]

    async def _maybe_migrate(self) -> None:
        """Catch up on ring migrations owed: one per `migration_interval` children with a verdict."""
        if self.islands < 2:
            return
        owed = max(0, self._verdicts - 1) // self.config.islands.migration_interval
        while self._migrations < owed:
            await self.db(self.archive.migrate, self.campaign_id, self.islands, self.grid, self._migrations)
            await self.db(self.qd.cells_changed)
            self._migrations += 1

    def _report(self, last: dict[str, Any], force: bool = False) -> None:
        """Progress for the view (a CLI bar): from the archive, at most every REPORT_S unless forced."""
        if self.on_progress is None or (not force and time.monotonic() - self._reported < REPORT_S):
            return
        self._reported = time.monotonic()
        self.db.submit(self._report_from_db, last, time.monotonic())

    def _report_from_db(self, last: dict[str, Any], at: float) -> None:
        stats = self.archive.progress_counts(self.campaign_id)
        elapsed = max(1e-9, at - self._started)
        self.on_progress(Progress(
            iterations_done=stats["iterations_done"], iterations_total=self.config.iterations,
            evaluated=stats["evaluated"], failures=stats["failures"],
            duplicates=stats["programs"].get(ProgramState.DUPLICATE.value, 0), best_score=stats["best_score"],
            evals_per_s=self._evaluated_here / elapsed, last=last))
