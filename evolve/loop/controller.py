"""The evolution loop: sample parents, mutate, deduplicate, cascade, evaluate, archive — committed as it goes.

Deterministic by construction: what iteration i sees of the archive is fixed by i (its horizon,
evolve/loop/schedule.py), proposals are committed and verdicts applied in iteration order, and
every random draw comes from the stream seeded by (campaign seed, iteration). So the same seed
gives the same campaign — program for program, score for score — at any number of workers and
proposals in flight, on a loaded machine, and across kill -9 and `evolve resume`. The exceptions
are verdicts that depend on the machine (a candidate that times out or runs out of memory near
its limit) and an LLM budget's stop, which comes when the spend crosses it.

The event loop never waits on the database: every archive call runs on the campaign's database
thread (evolve/loop/dbthread.py, shared with the LLM call log, in submission order). On a distant
server every round trip counts, so one pass of the loop (store the verdicts that came in, apply,
commit proposals, prepare iterations) is one transaction (`_step`), and reads of what this process
itself wrote and nothing has changed since (the cells, evaluated programs) are kept.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any, Callable

from archive import CampaignState, ProgramState, SamplingWeights
from archive.archive import ProgramRow, view_at
from archive.horizon import Horizon
from archive.sampling import Elite, best_per_cell, choose_inspirations, choose_parent
from evaluators.contract import Executor

from ..code import builtin_descriptors, normalized_hash
from ..errors import CampaignFailed
from ..front import elite_front
from ..mutators import Edit, History, MutationContext, Mutator, MutatorFailed, ProgramView, StopCampaign
from .cascade import Cascade, Seen
from .concurrency import ProposalWindow
from .dbthread import DatabaseThread
from .evaluation import Evaluator
from .progress import Progress, ProgressReporter
from .qd_snapshots import QDSnapshots
from .schedule import Schedule
from .selection import ValidationSelection
from .spec import RunSpec

STATE_POLL_S = 0.5  # how often the loop looks for a stop requested through the archive

__all__ = ["CampaignFailed", "Controller", "Progress"]  # Progress: what on_progress is called with


@dataclasses.dataclass
class _Prepared:
    """What one iteration saw of the archive, read in one trip to the database thread."""
    iteration: int
    parent: ProgramView
    inspirations: list[ProgramView]
    mode: str
    recent: list[dict[str, Any]]
    empty_cells: list[str]
    history: History
    seen: Seen


@dataclasses.dataclass
class _Commit:
    """How one proposal is stored, decided on the loop in iteration order (Controller._plan_commit)."""
    iteration: int
    prepared: _Prepared
    edit: Edit
    state: ProgramState
    code_hash: str | None
    twin: tuple[int | None, int] | None  # (program id, iteration) of the program it duplicates
    common: dict[str, Any]


class Controller:
    def __init__(self, spec: RunSpec, executor: Executor, mutator: Mutator,
                 on_progress: Callable[[Progress], None] | None = None, db: DatabaseThread | None = None):
        self.spec = spec
        self.archive = spec.archive
        self.campaign_id = spec.campaign_id
        self.config = config = spec.config
        self.task = spec.task
        self.grid = spec.grid
        self.executor = executor
        self.mutator = mutator
        self.weights = SamplingWeights(**config.sampling.model_dump())
        self.islands = config.islands.count
        self._verdicts = 0      # applied programs with a training verdict (the seed included), for migrations
        self._migrations = 0    # ring migrations done
        self._trained: set[int] = set()  # iterations whose verdict is a training evaluation, until applied
        self._state_checked = 0.0
        self._stop_reason: str | None = None  # why the campaign stops early; None while it runs on
        self._failure: str | None = None  # why no further edit can ever be made (MutatorFailed), once it is known
        self._owns_db = db is None
        self.db = db or DatabaseThread()
        self.progress = ProgressReporter(self.archive, self.campaign_id, config.iterations, self.db, on_progress)
        self._known: dict[str, tuple[int, int]] = {}  # code hash -> (program id, iteration): committed programs
        self._seed_id: int | None = None
        # reads the loop need not repeat (this process is the campaign's only writer: its claim)
        self._live_cells: dict[int, list[Elite]] | None = None  # the cells as last read; None: changed since
        self._rows: dict[int, ProgramRow] = {}  # programs with a training evaluation: never change again
        self._proposals: dict[int, asyncio.Task] = {}  # iteration -> its proposal in flight
        self._proposed: dict[int, tuple[_Prepared, Edit]] = {}  # proposals done, waiting for their commit
        self._evaluations: dict[int, asyncio.Task] = {}  # iteration -> its cascade and training evaluation
        self._verdicts_to_store: list[tuple[int, str, Any]] = []  # (program id, split, result): the next step's
        self.window = ProposalWindow(config.workers, config.proposals, adaptive=bool(config.models()),
                                     cap=config.llm_options.concurrency or 64,
                                     budgeted=config.budget.usd is not None or config.budget.tokens is not None)
        self.evaluator = Evaluator(executor, self.task, spec.limits, self.window)
        self.cascade = Cascade(self.archive, self.campaign_id, self.task, self.evaluator, self.grid, self.db,
                               fingerprints=config.functional_hashing, stages=config.cascade)
        self.qd = QDSnapshots(self.archive, self.campaign_id, grid_size=self.grid.size, islands=self.islands,
                              declared_offset=config.qd_offset, iterations=config.iterations)
        # what the user takes home is chosen on the validation split; the search never sees those results
        self.selection = ValidationSelection(self.archive, self.campaign_id, self.task, config.selection.top_k,
                                             self.evaluator.evaluate, self.db)
        self._validations: list[asyncio.Task] = []
        self._failed: list[BaseException] = []  # exceptions of proposal and evaluation tasks, in the order they ended
        self.schedule: Schedule | None = None

    # ---- public ----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        try:
            await self.db(self.archive.set_state, self.campaign_id, CampaignState.RUNNING, claim=True)
            await self._restore()
            self._validate(self.schedule.applied_through)  # entrants an interrupted run left unvalidated
            await self._drive()
            await asyncio.gather(*self._validations)
            if self._failure is not None:
                raise CampaignFailed(self._failure)
            await self.db(self.qd.record)  # the figures the run ends with
            self.progress.report({"state": "done"}, force=True)
            stopped = self._stop_reason is not None
            state = CampaignState.STOPPED if stopped else CampaignState.FINISHED
            await self.db(self.archive.set_state, self.campaign_id, state, self._stop_reason)
            return {"state": state.value, **await self.db(self.archive.stats, self.campaign_id)}
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.archive.set_state(self.campaign_id, CampaignState.STOPPED, "interrupted; `evolve resume` continues it")
            raise
        except CampaignFailed as exc:
            self.archive.set_state(self.campaign_id, CampaignState.FAILED, str(exc))
            raise
        finally:
            await self._cancel_in_flight()
            if self._owns_db:
                self.db.close()

    def stop(self, reason: str = "stopped on request; `evolve resume` continues it") -> None:
        """The one way a campaign stops early: no new iteration is prepared, the work in flight finishes,
        and `reason` is stored with the campaign. The first reason given stands."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # ---- start or resume -------------------------------------------------------------------
    async def _restore(self) -> None:
        """Where the stored campaign stands: what is committed, decided and applied; evaluations to finish."""
        states = await self.db(self.archive.iteration_states, self.campaign_id)
        if 0 not in states:
            code = self.task.seed_code
            await self.db(self.archive.add_program, self.campaign_id, iteration=0, code=code,
                          code_hash=normalized_hash(code), parent_id=None, inspiration_ids=[], mutator="seed",
                          operator="seed", edit={}, generation=0, island=0, state=ProgramState.PENDING)
            states[0] = ProgramState.PENDING.value
        committed = 0
        while committed + 1 in states:
            committed += 1
        applied = await self.db(self.archive.applied_through, self.campaign_id)
        decided = {i for i, state in states.items() if state != ProgramState.PENDING.value and i > applied}
        self._trained = {i for i in decided if states[i] == ProgramState.EVALUATED.value}
        lag = self.config.effective_lag()
        self.schedule = Schedule(lag, self.config.iterations, self.mutator.sees_earlier_proposals,
                                 committed_through=committed, applied_through=applied, decided=decided)
        self._known = await self.db(self.archive.known_programs, self.campaign_id)
        seed = await self.db(self.archive.seed_program, self.campaign_id)
        self._seed_id = seed.id
        self._verdicts = await self.db(self.archive.trained_through, self.campaign_id, applied)
        self._migrations = await self.db(self.archive.count_events, self.campaign_id, "migration")
        await self.db(self.qd.start, self._verdicts)
        if seed.state == ProgramState.EVALUATED.value:
            verdict = await self.db(self.archive.training_evaluation, seed.id)
            if verdict is None or verdict.status != "ok":
                raise CampaignFailed("the seed program failed its evaluation; fix the task's seed and start a new "
                                     "campaign")
        if self.window.adaptive and applied >= 0:  # resumed: the evaluations so far time the service until new ones
            stats = await self.db(self.archive.stats, self.campaign_id)
            if stats["evaluated"]:
                self.window.evaluation_done(stats["evaluation_seconds"] / stats["evaluated"])
        for program in await self.db(self.archive.pending_programs, self.campaign_id):
            seen = await self.db(self._seen, program.iteration, program.parent_id)
            self._start_evaluation(program.iteration, program.id, program.code, program.parent_id, seen)

    def _seen(self, iteration: int, parent_id: int | None) -> Seen:
        """On the database thread: what a pending program's iteration saw, rebuilt for its cascade on resume."""
        horizon = self.schedule.horizon(iteration)
        parent_iteration = self.archive.program(parent_id).iteration if parent_id is not None else None
        occupied = frozenset(self.archive.occupied_keys(self.campaign_id, self.grid, horizon.decided_through))
        return Seen(horizon, parent_iteration is not None and horizon.decided(parent_iteration), occupied)

    # ---- the loop --------------------------------------------------------------------------
    async def _drive(self) -> None:
        schedule = self.schedule
        while True:
            await self._poll_stop()
            while await self._advance():
                pass
            await self._raise_failed()
            in_flight = set(self._proposals.values()) | set(self._evaluations.values())
            if not in_flight:
                await asyncio.sleep(0)  # a task that just ended has left the maps; its done callback runs now
                await self._raise_failed()
                if schedule.finished or self.stopping:
                    break
                raise RuntimeError(f"the loop stalled: applied through {schedule.applied_through}, committed through "
                                   f"{schedule.committed_through}, nothing in flight")
            self.window.tick(time.monotonic(), self.mutator.rate_limited, len(self._proposals))
            wake = self.window.wake_in(time.monotonic()) if schedule.next_prepare <= schedule.last else None
            await asyncio.wait(in_flight, timeout=STATE_POLL_S if wake is None else min(wake, STATE_POLL_S),
                               return_when=asyncio.FIRST_COMPLETED)
            await self._raise_failed()

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        """Read the task's exception the moment it ends, whenever that is (it may end while the loop awaits
        the archive, after which no wait sees it): kept in `_failed` for the loop to raise."""
        def ended(done: asyncio.Task) -> None:
            if not done.cancelled() and done.exception() is not None:
                self._failed.append(done.exception())
        task.add_done_callback(ended)
        return task

    async def _raise_failed(self) -> None:
        """The first failure of a proposal or an evaluation ends the run (every one of them was read), after
        the verdicts that came in and no step stored yet are stored."""
        if self._failed:
            await self._store_verdicts_left()
            raise self._failed[0]

    async def _advance(self) -> bool:
        """Apply, commit and prepare whatever the schedule allows now; True when something moved.

        The decisions are made here, on the loop; the archive work they need runs as one step on the
        database thread, in one transaction (`_step`).
        """
        schedule = self.schedule
        verdicts, self._verdicts_to_store = self._verdicts_to_store, []
        applies: list[tuple[int, bool]] = []
        while schedule.may_apply():
            iteration = schedule.applied()
            applies.append((iteration, iteration in self._trained))
            self._trained.discard(iteration)
        commits: list[_Commit] = []
        while schedule.next_commit() in self._proposed:
            commits.append(self._plan_commit(*self._proposed.pop(schedule.next_commit())))
        prepares: list[int] = []
        while schedule.may_prepare(self.stopping) and len(self._proposals) + len(prepares) < max(1, self.window.limit):
            prepares.append(schedule.prepared())
        if not (verdicts or applies or commits or prepares):
            return False
        program_ids, prepared = await self.db(self._step, verdicts, applies, commits, prepares)
        for iteration, trained in applies:
            if trained:
                self._validate(iteration)
        for commit in commits:
            self._committed(commit, program_ids.get(commit.iteration))
        for one, rng in prepared:
            self.window.started(time.monotonic())
            self._proposals[one.iteration] = self._track(asyncio.create_task(self._propose(one, rng)))
        return True

    def _step(self, verdicts: list[tuple[int, str, Any]], applies: list[tuple[int, bool]], commits: list["_Commit"],
              prepares: list[int]) -> tuple[dict[int, int], list[tuple["_Prepared", random.Random]]]:
        """On the database thread: one pass of the loop's archive work, in one transaction.

        Round trips per iteration on PostgreSQL, counted with bench/archive_round_trips.py (60-iteration toy
        campaign, 2 workers; BENCHMARKS C19, C20): with every archive call its own transaction (pool ping,
        BEGIN, statements, COMMIT or ROLLBACK) the loop made 52.4 (prepare 24.8, apply 14.4, record_training
        7.1, commit 6.1); with one transaction per pass and the reads kept (`_cells`, `_views`), 21.8 (prepare
        5.4, apply 6.3, record_training 3.1, commit 1.1, the passes' BEGIN + transaction id + COMMIT 5.9).
        tests/loop/test_round_trips.py keeps it there.

        Run again whole after a lost connection (the database thread does that): what it changes of the
        controller (QD snapshots, verdict and migration counts) is put back when it fails, and each
        iteration's random stream starts afresh.
        """
        saved = (dict(self.qd.__dict__), self._verdicts, self._migrations, self._live_cells)
        try:
            with self.archive.transaction():
                for program_id, split, result in verdicts:  # stored before any of them is applied
                    self.archive.record_training(program_id, split, result)
                for iteration, trained in applies:
                    self._apply(iteration, trained)
                program_ids: dict[int, int] = {}
                for commit in commits:
                    program_ids[commit.iteration] = self._store(commit, program_ids)
                prepared = []
                for iteration in prepares:
                    rng = random.Random(f"{self.config.seed}:{iteration}")
                    prepared.append((self._prepare(iteration, rng), rng))
            return program_ids, prepared
        except BaseException:
            self.qd.__dict__.update(saved[0])
            self._verdicts, self._migrations, self._live_cells = saved[1], saved[2], saved[3]
            raise

    async def _store_verdicts_left(self) -> None:
        """The run is ending on an error: verdicts that came in but no step stored yet are stored if the
        database allows (else `evolve resume` evaluates them again); none is applied."""
        verdicts, self._verdicts_to_store = self._verdicts_to_store, []
        if verdicts:
            try:
                await self.db(self._step, verdicts, [], [], [])
            except Exception:  # noqa: BLE001 - the error that ends the run is the one reported
                pass

    async def _poll_stop(self) -> None:
        """`evolve stop` and the TUI ask through the archive."""
        if time.monotonic() - self._state_checked > STATE_POLL_S:
            self._state_checked = time.monotonic()
            if await self.db(self.archive.state, self.campaign_id) is CampaignState.STOPPING:
                self.stop()

    # ---- prepare ---------------------------------------------------------------------------
    def _prepare(self, iteration: int, rng: random.Random) -> _Prepared:
        """On the database thread: parent, inspirations and history for one iteration, as its horizon sees
        them (rng draws in a fixed order)."""
        horizon = self.schedule.horizon(iteration)
        island = iteration % self.islands
        by_island = self._cells(iteration, horizon)
        all_elites = best_per_cell(e for elites in by_island.values() for e in elites)
        elites = (by_island.get(island) or all_elites) if all_elites else []
        parent_decided = bool(elites)
        if not elites:  # the horizon has no verdict yet, not even the seed's: its children are the first proposals
            elites = [Elite(self._seed_id, self.grid.key({}), float("-inf"))]
        front = elite_front(self.archive, self.task, elites) if self.weights.pareto and parent_decided else None
        parent_elite, mode = choose_parent(elites, self.grid, rng, self.weights, front=front)
        inspirations = choose_inspirations(elites, parent_elite, self.grid, rng, self.weights)
        views = self._views([parent_elite.program_id] + [e.program_id for e in inspirations], horizon)
        keys = {e.program_id: e.key for e in [parent_elite, *inspirations]}
        as_view = lambda pid: ProgramView(**views[pid], cell=keys[pid])  # noqa: E731
        parent = as_view(parent_elite.program_id)
        return _Prepared(iteration=iteration, parent=parent, inspirations=[as_view(e.program_id) for e in inspirations],
                         mode=mode, recent=self.archive.recent_attempts(self.campaign_id, horizon=horizon),
                         empty_cells=self.grid.empty_cells(e.key for e in elites),
                         history=self._history(parent.id, horizon),
                         seen=Seen(horizon, parent_decided, frozenset(e.key for e in all_elites)))

    def _views(self, program_ids: list[int], horizon: Horizon) -> dict[int, dict[str, Any]]:
        """Archive.program_views, read only for programs not seen with their training evaluation before."""
        rows = {pid: self._rows[pid] for pid in program_ids if pid in self._rows}
        missing = [pid for pid in program_ids if pid not in rows]
        if missing:
            for pid, row in self.archive.program_rows(missing).items():
                rows[pid] = row
                if row.evaluated:
                    self._rows[pid] = row
        return {pid: view_at(rows[pid], horizon) for pid in program_ids if pid in rows}

    def _cells(self, iteration: int, horizon: Horizon) -> dict[int, list[Elite]]:
        """{island: elites} as the iteration's horizon has them: the cells now, or (an iteration proposed again
        after a resume, with later verdicts applied since) the cells rebuilt at its horizon."""
        if horizon.decided_through < 0:
            return {}
        if self.schedule.sees_live_cells(iteration):
            if self._live_cells is None:  # read again only after an apply or a migration changed them
                found: dict[int, list[Elite]] = {}
                for island, elite in self.archive.elites_by_island(self.campaign_id):
                    found.setdefault(island, []).append(elite)
                self._live_cells = found
            return {island: list(elites) for island, elites in self._live_cells.items()}
        return self.archive.elites_at(self.campaign_id, self.grid, self.islands, self.config.islands.migration_interval,
                                      horizon.decided_through)

    def _history(self, parent_id: int, horizon: Horizon) -> History:
        needs = self.mutator.history_needs()
        if not needs.any:
            return History()
        parent_states, campaign_states = (self.archive.operator_states(self.campaign_id, parent_id, horizon)
                                          if needs.operator_states else ({}, {}))
        return History(
            parent_children=tuple(self.archive.children_by_operator(self.campaign_id, parent_id, needs.parent_children,
                                                                    horizon)) if needs.parent_children else (),
            campaign_children=tuple(self.archive.recent_children_by_operator(
                self.campaign_id, needs.campaign_children, horizon=horizon)) if needs.campaign_children else (),
            parent_states=parent_states, campaign_states=campaign_states)

    # ---- propose and commit ----------------------------------------------------------------
    async def _propose(self, prepared: _Prepared, rng: random.Random) -> None:
        iteration = prepared.iteration
        proposed_through = prepared.seen.horizon.proposed_through
        context = MutationContext(
            task=self.task, parent=prepared.parent, inspirations=prepared.inspirations, rng=rng, iteration=iteration,
            recent=prepared.recent, empty_cells=prepared.empty_cells, descriptor_names=self.grid.names,
            is_known=lambda code_hash: self._known.get(code_hash, (0, proposed_through + 1))[1] <= proposed_through,
            history=prepared.history, decided_through=prepared.seen.horizon.decided_through)
        started, load, bounced = time.monotonic(), len(self._proposals), self.mutator.rate_limited
        try:
            edit = await self.mutator.propose(context)
            if self.window.adaptive:
                self.window.affordable = await self.mutator.calls_affordable()
            rate_limited = self.mutator.rate_limited
            self.window.proposal_done(time.monotonic() - started, rate_limited, len(self._proposals),
                                      load if rate_limited == bounced else None)
        except StopCampaign as exc:  # no program row: the iteration is proposed again after a resume
            if not self.stopping:
                await self.db(self.archive.log_event, self.campaign_id, "stop", reason=str(exc))
            self.stop(str(exc))
            return
        except MutatorFailed as exc:  # the work of earlier iterations finishes first, then the campaign fails
            self._failure = self._failure or str(exc)
            self.stop(str(exc))
            return
        finally:
            self._proposals.pop(iteration, None)
        # committed in iteration order by _advance; after a StopCampaign the later ones never are, and are
        # proposed again (the same) after a resume
        self._proposed[iteration] = (prepared, edit)

    def _plan_commit(self, prepared: _Prepared, edit: Edit) -> "_Commit":
        """Decide how iteration i's proposal is stored (in iteration order: a duplicate is judged against every
        earlier one, those of this pass included)."""
        iteration, parent = prepared.iteration, prepared.parent
        record = {**edit.record(), "parent_mode": prepared.mode}
        common = dict(iteration=iteration, parent_id=parent.id, inspiration_ids=[e.id for e in prepared.inspirations],
                      mutator=edit.mutator, operator=edit.operator, edit=record,
                      generation=parent.generation + 1, island=iteration % self.islands)
        code_hash, twin = None, None
        if edit.code is None:
            state = ProgramState.FAILED_EDIT
        else:
            code_hash = normalized_hash(edit.code)
            twin = self._known.get(code_hash)
            state = ProgramState.DUPLICATE if twin is not None else ProgramState.PENDING
            if twin is None:
                self._known[code_hash] = (None, iteration)  # its id once stored (_committed)
        self.schedule.committed(iteration)
        return _Commit(iteration, prepared, edit, state, code_hash, twin, common)

    def _store(self, commit: "_Commit", stored: dict[int, int]) -> int:
        """On the database thread: the proposal's program row (`stored`: ids of this pass's earlier ones)."""
        duplicate_of = None
        if commit.twin is not None:
            duplicate_of = commit.twin[0] if commit.twin[0] is not None else stored[commit.twin[1]]
        code = commit.edit.code if commit.state is not ProgramState.FAILED_EDIT else None
        return self.archive.add_program(self.campaign_id, code=code, code_hash=commit.code_hash, state=commit.state,
                                        duplicate_of=duplicate_of, link_llm_calls=bool(self.config.models()),
                                        **commit.common)

    def _committed(self, commit: "_Commit", program_id: int) -> None:
        """On the loop, once the proposal is stored: evaluate it, or record why not."""
        iteration = commit.iteration
        if commit.state is ProgramState.FAILED_EDIT:
            self._decided(iteration, trained=False)
            self.progress.report({"iteration": iteration, "state": ProgramState.FAILED_EDIT.value,
                                  "error": commit.edit.error})
        elif commit.state is ProgramState.DUPLICATE:
            self._decided(iteration, trained=False)
            self.progress.report({"iteration": iteration, "state": ProgramState.DUPLICATE.value})
        else:
            self._known[commit.code_hash] = (program_id, iteration)
            self._start_evaluation(iteration, program_id, commit.edit.code, commit.prepared.parent.id,
                                   commit.prepared.seen)

    # ---- evaluate, decide, apply -----------------------------------------------------------
    def _start_evaluation(self, iteration: int, program_id: int, code: str, parent_id: int | None, seen: Seen) -> None:
        self._evaluations[iteration] = self._track(asyncio.create_task(
            self._evaluate(iteration, program_id, code, parent_id, seen)))

    async def _evaluate(self, iteration: int, program_id: int, code: str, parent_id: int | None, seen: Seen) -> None:
        """The cascade, then (if it goes on) the training evaluation; the verdict is stored, not yet applied."""
        try:
            verdict = await self.cascade.run(program_id, code, parent_id, seen)
            split = self.task.spec.train_split
            if verdict.state == "failed":
                result, split = verdict.result, verdict.split
            elif verdict.state is not None:
                self._decided(iteration, trained=False)
                return
            else:
                result = await self.evaluator.evaluate(code, split)
            if result.ok:
                result.descriptors = self._descriptors(code, result.metrics)
            if iteration == 0 and not result.ok:
                await self.db(self.archive.record_training, program_id, split, result)
                raise CampaignFailed(f"the seed program failed: {result.status.value}: "
                                     f"{result.artifacts.get('message', '')}")
            # stored by the loop's next step, in the transaction that applies it once its turn comes: a verdict
            # enters the archive's decisions only after it is stored (a kill -9 before that step loses only
            # this evaluation, which `evolve resume` runs again)
            self._verdicts_to_store.append((program_id, split, result))
            self.progress.evaluated_here += 1
            self._decided(iteration, trained=True)
            self.progress.report({"program_id": program_id, "status": result.status.value, "score": result.score})
        finally:
            self._evaluations.pop(iteration, None)

    def _decided(self, iteration: int, trained: bool) -> None:
        if trained:
            self._trained.add(iteration)
        self.schedule.decide(iteration)

    def _apply(self, iteration: int, trained: bool) -> None:
        """On the database thread: let iteration i's verdict enter the archive's decisions."""
        islands = list(range(self.islands)) if iteration == 0 else [iteration % self.islands]
        placed = self.archive.apply(self.campaign_id, iteration, grid=self.grid, islands=islands)
        if placed.new_elite:
            self._live_cells = None
        if trained:
            self._verdicts += 1
            self.qd.after_training(placed.new_elite)
            self._migrate_owed()

    def _validate(self, through: int) -> None:
        """Score the verdicts up to `through` that entered the training top-k on the validation split, beside the
        loop (scans run in the order they are started: iteration order)."""
        self._validations.append(asyncio.create_task(self.selection.after_applying(through)))

    def _migrate_owed(self) -> None:
        """On the database thread: catch up on ring migrations owed, one per `migration_interval` applied
        training verdicts."""
        if self.islands < 2:
            return
        owed = max(0, self._verdicts - 1) // self.config.islands.migration_interval
        while self._migrations < owed:
            self.archive.migrate(self.campaign_id, self.islands, self.grid, self._migrations)
            self._live_cells = None
            self.qd.cells_changed()
            self._migrations += 1

    async def _cancel_in_flight(self) -> None:
        """Leaving early (an error, a cancel): no task of ours may outlive the loop, and each one's end is read."""
        tasks = list(self._proposals.values()) + list(self._evaluations.values()) + self._validations
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- helpers ---------------------------------------------------------------------------
    def _descriptors(self, code: str, metrics: dict[str, Any]) -> dict[str, float]:
        builtins = builtin_descriptors(code)
        values = {}
        for name in self.grid.names:
            value = metrics.get(name, builtins.get(name))
            values[name] = float(value) if isinstance(value, (int, float)) else float("nan")
        return values
