"""One campaign: its stored record, validated config, task, MAP-Elites grid and limits, and its run.

Everything that turns a stored campaign into something that runs or is shown goes through
here: `evolve run`/`resume`, the status and export commands and the TUI are views over a
`Campaign`. `Campaign.check(config)` is the one validation a campaign passes before it starts,
whoever starts it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from archive import Archive, CampaignState, Grid
from archive.schema import CampaignRecord
from evaluators.contract import Executor
from evaluators.task import Task, load_task
from sandbox import Limits

from .code import BUILTIN_DESCRIPTORS
from .config import CampaignConfig, describe_error
from .errors import UserError
from .liveness import Liveness, campaign_liveness
from .loop.heartbeat import held_message

if TYPE_CHECKING:
    from .loop.spec import RunSpec


def descriptor_specs(config: CampaignConfig, task: Task) -> list[dict[str, Any]]:
    """The MAP-Elites axes: the campaign's own, else the task's; each must be a task metric or a built-in."""
    specs = ([d.model_dump() for d in config.descriptors] if config.descriptors is not None
             else [d.model_dump() for d in task.spec.descriptors])
    allowed = set(task.spec.metrics) | set(BUILTIN_DESCRIPTORS)
    for spec in specs:
        if spec["name"] not in allowed:
            raise UserError(f"descriptors: {spec['name']!r} is not a metric of task {task.name!r} or a built-in; "
                            f"allowed: {', '.join(sorted(allowed))}")
    return specs


@dataclasses.dataclass
class RunOutcome:
    summary: dict[str, Any]        # state and archive stats when the run ended
    report: dict[str, Any] | None  # the held-out report (finished campaigns whose task has a held-out split)


class Campaign:
    """A stored campaign with its config and task loaded; cheap to open, grid and limits on demand."""

    def __init__(self, archive: Archive, record: CampaignRecord, config: CampaignConfig, task: Task):
        self.archive = archive
        self.record = record
        self.config = config
        self.task = task
        self._controller = None

    # ---- opening and creating ------------------------------------------------------------
    @staticmethod
    def check(config: CampaignConfig) -> Task:
        """Everything `evolve run` checks before a campaign exists; raises UserError/TaskError."""
        from .executors import check_executor
        from .mutators import preflight

        task = load_task(config.task, config.task_dir)
        descriptor_specs(config, task)
        preflight(config)
        check_executor(config, task)  # a Ray campaign connects to (or re-attaches to) its cluster here
        return task

    @classmethod
    def create(cls, archive: Archive, config: CampaignConfig, task: Task | None = None) -> "Campaign":
        """Store a new campaign; `task` is what `check(config)` returned when the caller checked already."""
        task = task or cls.check(config)
        if config.qd_offset is None and task.spec.qd_offset is not None:  # stored: a later task.yaml edit can't move it
            config = config.model_copy(update={"qd_offset": task.spec.qd_offset})
        record = archive.create_campaign(name=config.name, task_name=task.name,
                                         task_dir=None if task.builtin else str(task.root),
                                         config=config.model_dump(mode="json"), seed=config.seed,
                                         iterations=config.iterations)
        return cls(archive, record, config, task)

    @classmethod
    def open(cls, archive: Archive, ref: str | int | None = None) -> "Campaign":
        """By id or name; None opens the latest campaign."""
        record = archive.campaign(ref) if ref is not None else archive.latest_campaign()
        return cls.from_record(archive, record)

    @classmethod
    def from_record(cls, archive: Archive, record: CampaignRecord, config: dict[str, Any] | None = None) -> "Campaign":
        try:
            parsed = CampaignConfig.model_validate(config if config is not None else record.config)
        except ValidationError as exc:
            raise UserError(f"campaign {record.name}: stored config: {describe_error(exc.errors()[0])}") from None
        return cls(archive, record, parsed, load_task(parsed.task, parsed.task_dir))

    def reopened_for_resume(self, workers: int | None = None, budget: dict[str, Any] | None = None,
                            ray_address: str | None = None) -> "Campaign":
        """This campaign with resume-time overrides applied and checked; a new budget or Ray address is stored."""
        seen = self.liveness
        if seen.alive:
            raise UserError(held_message(self.name, seen))
        stored = dict(self.record.config)
        if workers:
            stored["workers"] = workers
        if budget:
            stored["budget"] = {**stored.get("budget", {}), **budget}
        if ray_address:  # resumed on (another) cluster: evaluations run there from now on
            stored.update(executor="ray", ray={**stored.get("ray", {}), "address": ray_address})
        campaign = Campaign.from_record(self.archive, self.record, stored)
        self.check(campaign.config)
        if budget or ray_address:  # the new budget or cluster holds for later resumes too
            self.archive.set_config(self.id, campaign.config.model_dump(mode="json"))
        return campaign

    # ---- what it is ----------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def liveness(self) -> Liveness:
        """Running, stale or ended, from its stored state and heartbeat (evolve/liveness.py)."""
        return campaign_liveness(self.archive, self.refresh())

    @property
    def alive(self) -> bool:
        return self.liveness.alive

    @functools.cached_property
    def grid(self) -> Grid:
        return Grid.from_specs(descriptor_specs(self.config, self.task))

    @property
    def limits(self) -> Limits:
        return self.task.limits.replace(**self.config.limits.model_dump())

    def quality_diversity(self, history: bool = True) -> dict[str, Any]:
        """QD score and coverage now, per island and overall, and their stored history (archive/qd.py)."""
        return self.archive.quality_diversity(self.id, self.grid.size, self.config.islands.count,
                                              self.config.qd_offset, history=history)

    def refresh(self) -> CampaignRecord:
        self.record = self.archive.campaign(self.id)
        return self.record

    # ---- running -------------------------------------------------------------------------
    def run_spec(self) -> "RunSpec":
        """What the loop needs of this campaign, fixed for one run."""
        from .loop.spec import RunSpec
        return RunSpec(archive=self.archive, campaign_id=self.id, config=self.config, task=self.task,
                       grid=self.grid, limits=self.limits)

    async def run(self, on_progress: Callable | None = None) -> RunOutcome:
        """Run (or continue) the loop to its end, then the held-out report; closes what it opened."""
        from .executors import build_executor
        from .loop.controller import Controller
        from .loop.dbthread import DatabaseThread
        from .loop.heartbeat import start_heartbeat
        from .mutators import build_mutator

        heartbeat = await start_heartbeat(self)  # claims the campaign: UserError if a live process holds it
        db = DatabaseThread(self.config.archive.outage_grace_s)  # rides out shorter database outages
        executor = build_executor(self.config)
        # The workers spawn while the mutator (and its SDK) loads; the first evaluation waits for them.
        starting = asyncio.create_task(executor.start())
        mutator = None
        try:
            await asyncio.sleep(0)
            mutator = build_mutator(self.config, self.archive, self.id, db=db)
            self._controller = Controller(self.run_spec(), executor, mutator, on_progress=on_progress, db=db)
            summary = await self._controller.run()
            report = None
            if self.config.heldout_report and summary["state"] == CampaignState.FINISHED:
                report = await self.heldout_report(executor)
            return RunOutcome(summary, report)
        finally:
            self._controller = None
            starting.cancel()  # a start that failed is reported by the first evaluation instead
            await asyncio.gather(starting, return_exceptions=True)
            closing = [executor.close()] + ([mutator.close()] if mutator is not None else [])
            await asyncio.gather(*closing, return_exceptions=True)
            db.close()
            await heartbeat.stop()

    def request_stop(self) -> None:
        """Finish the evaluations in flight, then stop: in this process if it runs here, else through the archive."""
        if self._controller is not None:
            self._controller.stop()
        else:
            self.archive.request_stop(self.id)

    # ---- held-out ------------------------------------------------------------------------
    async def evaluate_report(self, program_id: int, split: str, executor: Executor | None = None):
        """Evaluate a program on a reporting split and store it (replacing an earlier report)."""
        self.task.check_split(split)
        program = self.archive.program(program_id)
        if program.code is None:
            raise UserError(f"program {program_id} has no code (its edit failed)")
        own = executor is None
        if own:
            from .executors import local_executor
            executor = local_executor(self.config.sandbox, workers=1, jail=self.config.jail)
        try:
            result = await executor.evaluate(self.task, program.code, self.limits, split=split)
        finally:
            if own:
                await executor.close()
        return self.archive.record_report(program_id, split, result)

    async def heldout_report(self, executor: Executor | None = None) -> dict[str, Any] | None:
        """The selected best next to the reference baseline on train, validation and held-out (evolve/generalization.py)."""
        from .generalization import heldout_report

        own = executor is None
        if own:
            from .executors import local_executor
            executor = local_executor(self.config.sandbox, workers=1, jail=self.config.jail)
        try:
            return await heldout_report(self, executor)
        finally:
            if own:
                await executor.close()


def open_archive(db: str, must_exist: bool = True) -> Archive:
    """The archive at `db` (a SQLite path or a SQLAlchemy URL); UserError when it should exist and does not."""
    from archive.db import database_url

    url = database_url(db)
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else None
    if must_exist and path and not os.path.isdir(path) and not (os.path.isfile(path) and os.path.getsize(path)):
        what = "is empty" if os.path.isfile(path) else "does not exist"  # an empty file would get a schema
        raise UserError(f"no archive database at {db} (the file {what}); start a campaign with "
                        f"`evolve run TASK` or pass --db PATH")
    return Archive(db, create=not must_exist)  # must_exist: no schema is created in a file without one
