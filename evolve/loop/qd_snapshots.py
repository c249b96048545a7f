"""A campaign's QD score and coverage over time, stored as `qd` snapshot events in the archive.

Why snapshots rather than a replay of the `new_elite` events: an island's cells also change by
migration and when the seed lands on every island, which those events do not describe. A
snapshot reads the cells themselves (a primary-key range scan over at most grid size x islands
rows) and is one small event, so the history stays a few hundred rows however large the
archive grows (bench/bench_tui.py times the dashboard that reads it on 100,000 programs).

When: after a training evaluation, once at least `interval` evaluations have passed since the
last look (interval = iterations / HISTORY_POINTS, at least 1), only if the figures changed;
and at the end of a run. The figures are a function of the cells, so no look is taken (two
queries saved) while no cell has changed since the last one: most evaluations place nothing.
Each snapshot is its own committed event, so a kill -9 loses at most the points since the last
one and `evolve resume` carries on from the newest stored snapshot.
All methods run on the controller's database thread.
"""
from __future__ import annotations

from typing import Any

from archive import Archive
from archive.qd import QD_EVENT, same_figures

HISTORY_POINTS = 200  # about this many snapshots over a campaign's budget


class QDSnapshots:
    def __init__(self, archive: Archive, campaign_id: int, *, grid_size: int, islands: int,
                 declared_offset: float | None, iterations: int):
        self.archive = archive
        self.campaign_id = campaign_id
        self.grid_size = grid_size
        self.islands = islands
        self.declared_offset = declared_offset
        self.interval = max(1, iterations // HISTORY_POINTS)
        self.evaluations = 0           # training evaluations stored so far (all runs of the campaign)
        self._looked_at = 0            # `evaluations` when the figures were last computed
        self._last: dict[str, Any] | None = None
        self._cells_changed = True     # since the last look (unknown at the start: a look is due)

    def start(self, evaluations: int | None = None) -> None:
        """Pick up where the stored campaign is: its evaluation count (given, or counted) and newest snapshot."""
        self.evaluations = (self.archive.progress_counts(self.campaign_id)["evaluated"] if evaluations is None
                            else evaluations)
        latest = self.archive.qd_snapshots(self.campaign_id, latest_only=True)
        self._last = latest[0] if latest else None
        self._looked_at = int(self._last["evaluations"]) if self._last else 0

    def after_training(self, placed: bool = True) -> None:
        """One more training evaluation was stored (`placed`: it changed a cell); snapshot if one is due."""
        self.evaluations += 1
        self._cells_changed |= placed
        if self._last is None or (self._cells_changed and self.evaluations - self._looked_at >= self.interval):
            self.record()

    def cells_changed(self) -> None:
        """Cells changed other than by a training evaluation (a migration)."""
        self._cells_changed = True

    def record(self) -> bool:
        """Store a snapshot unless the figures are those of the newest one; True if one was stored."""
        now = self.archive.quality_diversity(self.campaign_id, self.grid_size, self.islands, self.declared_offset,
                                             history=False)
        if now["offset"] is None:  # the seed has no score yet: look again after the next evaluation
            return False
        self._looked_at, self._cells_changed = self.evaluations, False
        if same_figures(now, self._last):
            return False
        data = {"evaluations": self.evaluations, "offset": now["offset"], "offset_source": now["offset_source"],
                "overall": now["overall"], "islands": now["islands"]}
        self.archive.log_event(self.campaign_id, QD_EVENT, None, **data)
        self._last = data
        return True
