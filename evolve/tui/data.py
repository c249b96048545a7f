"""What each screen shows, loaded from the archive in one call (run in a worker thread).

Every loader runs a fixed, small number of indexed queries, so the time a screen takes to open
does not grow with the archive (bench/bench_tui.py times it on 100,000 programs against a 300 ms target).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from typing import Any

from archive import Archive, CampaignState, EvaluationRole, Grid

from ..campaign import Campaign
from ..liveness import Liveness, liveness
from . import format as _format


def spend_usd(archive: Archive, campaign_id: int, stats: dict | None = None) -> float | None:
    """Dollars spent on LLM calls, when the archive records them (None: no spend tracking)."""
    spend = getattr(archive, "spend", None)
    if callable(spend):
        value = spend(campaign_id)
        return float(value.get("usd", 0.0)) if isinstance(value, dict) else float(value)
    if stats:
        value = stats.get("spend_usd", stats.get("spend"))
        if isinstance(value, dict):
            value = value.get("usd")
        return None if value is None else float(value)
    return None


# ---- campaigns -----------------------------------------------------------------------------
@dataclasses.dataclass
class CampaignRow:
    id: int
    name: str
    task: str
    state: str
    alive: bool
    liveness: Liveness  # running / stale / ended, with who holds it and when it was last heard from
    iterations_done: int
    iterations: int
    evaluated: int
    best_score: float | None
    spend_usd: float | None
    created_at: dt.datetime
    pid: int | None
    host: str | None
    message: str | None


def load_campaigns(archive: Archive) -> list[CampaignRow]:
    summaries = archive.campaign_summaries()
    ages = archive.heartbeat_ages()
    rows = []
    for c in archive.campaigns():
        s = summaries.get(c.id, {})
        seen = liveness(c, ages.get(c.id))
        rows.append(CampaignRow(
            id=c.id, name=c.name, task=c.task_name, state=c.state, alive=seen.alive, liveness=seen,
            iterations_done=s.get("iterations_done", 0), iterations=c.iterations, evaluated=s.get("evaluated", 0),
            best_score=s.get("best_score"), spend_usd=spend_usd(archive, c.id), created_at=c.created_at,
            pid=c.pid, host=c.host, message=c.message))
    return rows


# ---- dashboard -----------------------------------------------------------------------------
@dataclasses.dataclass
class DashboardData:
    campaign: Any
    stats: dict[str, Any]
    history: list[tuple[int, float]]
    rate: float | None
    spend_usd: float | None
    events: list[Any]
    elapsed_s: float
    alive: bool
    qd: dict[str, Any] | None = None  # archive.quality_diversity(): now, per island, and the snapshots
    models: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # per-model LLM figures


def load_qd(archive: Archive, campaign) -> dict[str, Any] | None:
    """QD score and coverage with their history; None when the campaign's task cannot be loaded."""
    from evaluators.task import TaskError

    from ..errors import UserError

    try:
        return Campaign.from_record(archive, campaign).quality_diversity()
    except (UserError, TaskError):
        return None


def evaluation_rate(times: list[dt.datetime], now: dt.datetime, running: bool) -> float | None:
    """Evaluations per second over the latest evaluations (up to now while the campaign runs)."""
    if len(times) < 2:
        return None
    end = now if running else times[0]
    span = (end - times[-1]).total_seconds()
    return (len(times) - (0 if running else 1)) / span if span > 0 else None


def load_dashboard(archive: Archive, campaign_id: int) -> DashboardData:
    campaign = archive.campaign(campaign_id)
    stats = archive.progress_counts(campaign_id)
    now = _format.utcnow()
    running = CampaignState(campaign.state).active
    history = [(it, score) for it, score, _ in archive.best_history(campaign_id)]
    times = archive.recent_evaluation_times(campaign_id, 100)
    end = campaign.finished_at or (now if running else campaign.updated_at)
    return DashboardData(
        campaign=campaign, stats=stats, history=history, rate=evaluation_rate(times, now, running),
        spend_usd=spend_usd(archive, campaign_id, stats), events=archive.recent_events(campaign_id, 50),
        elapsed_s=max(0.0, (end - campaign.created_at).total_seconds()),
        alive=liveness(campaign, archive.heartbeat_ages([campaign_id]).get(campaign_id)).alive, qd=load_qd(archive, campaign), models=model_figures(archive, campaign))


def model_figures(archive: Archive, campaign) -> list[dict[str, Any]]:
    """Per-model calls, spend, ok-rate and improvement rate; [] when the archive keeps no call log."""
    if not callable(getattr(archive, "model_stats", None)):
        return []
    from ..mutators.model_choice import campaign_models

    return campaign_models(archive, campaign)


# ---- elite map -----------------------------------------------------------------------------
@dataclasses.dataclass
class EliteMapData:
    campaign: Any
    grid: Grid
    islands: int
    elites: list[Any]  # archive.sampling.Elite, best over islands (or of one island)


def load_elite_map(archive: Archive, campaign_id: int, island: int | None = None) -> EliteMapData:
    campaign = Campaign.open(archive, campaign_id)
    return EliteMapData(campaign.record, campaign.grid, campaign.config.islands.count,
                        archive.elites(campaign_id, island))


# ---- program -------------------------------------------------------------------------------
@dataclasses.dataclass
class ProgramData:
    program: Any
    campaign: Campaign
    evaluations: list[Any]
    parent_code: str | None
    lineage: list[dict[str, Any]]

    @property
    def task(self):
        return self.campaign.task

    @property
    def train(self):
        return next((e for e in self.evaluations if e.role == EvaluationRole.TRAIN), None)

    @property
    def heldout(self):
        split = self.task.spec.heldout_split
        return next((e for e in self.evaluations if e.split == split), None)

    def diff(self) -> str:
        if self.parent_code is None or self.program.code is None:
            return ""
        return "".join(difflib.unified_diff(
            self.parent_code.splitlines(keepends=True), self.program.code.splitlines(keepends=True),
            fromfile=f"program #{self.program.parent_id} (parent)", tofile=f"program #{self.program.id}", n=3))


LINEAGE_ROWS = 200  # ancestors shown; the export sidecar carries the full lineage


def load_program(archive: Archive, program_id: int) -> ProgramData:
    program = archive.program(program_id)
    campaign = Campaign.open(archive, program.campaign_id)
    parent_code = archive.program(program.parent_id).code if program.parent_id else None
    return ProgramData(program, campaign, archive.evaluations_of(program_id), parent_code,
                       archive.lineage_rows(program_id, LINEAGE_ROWS))
