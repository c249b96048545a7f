"""Progress for a view of a running campaign (the CLI's bar): counted from the archive, throttled."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from archive import Archive, ProgramState

from .dbthread import DatabaseThread

REPORT_S = 0.25  # the least time between two progress reports


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


class ProgressReporter:
    """Calls `on_progress` with the campaign's counts at most every REPORT_S (unless forced), reading them on
    the database thread so the loop never waits for them."""

    def __init__(self, archive: Archive, campaign_id: int, iterations: int, db: DatabaseThread,
                 on_progress: Callable[[Progress], None] | None):
        self.archive = archive
        self.campaign_id = campaign_id
        self.iterations = iterations
        self.db = db
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.evaluated_here = 0  # training evaluations this run made
        self._reported = 0.0

    def report(self, last: dict[str, Any], force: bool = False) -> None:
        if self.on_progress is None or (not force and time.monotonic() - self._reported < REPORT_S):
            return
        self._reported = time.monotonic()
        self.db.submit(self._from_db, last, time.monotonic())

    def _from_db(self, last: dict[str, Any], at: float) -> None:
        stats = self.archive.progress_counts(self.campaign_id)
        elapsed = max(1e-9, at - self.started)
        self.on_progress(Progress(
            iterations_done=stats["iterations_done"], iterations_total=self.iterations,
            evaluated=stats["evaluated"], failures=stats["failures"],
            duplicates=stats["programs"].get(ProgramState.DUPLICATE.value, 0), best_score=stats["best_score"],
            evals_per_s=self.evaluated_here / elapsed, last=last))
