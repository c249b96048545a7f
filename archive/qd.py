"""Quality-diversity metrics of a MAP-Elites archive: QD score and coverage, per island and overall.

The definitions are pyribs' (`ArchiveStats`): coverage = occupied cells / cells;
QD score = sum over occupied cells of (objective - offset); normalized QD score = QD score /
cells. Every island has a full grid of its own, so an island's `cells` is the grid's size;
"overall" is the best elite per cell over all islands (what `Archive.elites(campaign_id)` returns).

The offset. pyribs asks for an offset below every objective so that each elite adds a
non-negative amount and the QD score can only grow. Our scores are "higher is better" but
unbounded below (binpack: minus the excess %, toy tasks: minus an MSE), so no fixed offset is
below all of them. We use, in order:

1. a declared offset: `qd_offset` in the campaign config, which `Campaign.create` fills from the
   task's `qd_offset` in task.yaml when the campaign does not set one (stored with the campaign,
   so editing task.yaml later does not change a running campaign's figures);
2. otherwise the seed program's training score (stored once, never re-evaluated).

and clamp each cell's contribution at 0: `max(0, score - offset)`. With the seed as offset the
QD score is the total improvement over the seed summed over the niches, 0 for a campaign that
found nothing better; it never decreases in an elitist archive (a cell's elite only improves,
migration only copies an elite into a cell it beats). Coverage counts every occupied cell,
whatever its score.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

QD_EVENT = "qd"  # the event kind of a stored snapshot of these figures (evolve/loop/qd_snapshots.py writes them)


@dataclasses.dataclass(frozen=True)
class QDStats:
    cells: int              # cells in the grid
    filled: int             # occupied cells
    coverage: float         # filled / cells, in [0, 1]
    qd_score: float | None  # sum of max(0, score - offset) over occupied cells; None without an offset
    norm_qd_score: float | None  # qd_score / cells

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def qd_stats(scores: Iterable[float], cells: int, offset: float | None) -> QDStats:
    """QD stats of one grid from its occupied cells' elite scores (one score per occupied cell)."""
    scores = list(scores)
    if cells < 1:
        raise ValueError(f"a grid has at least one cell, got {cells}")
    if len(scores) > cells:
        raise ValueError(f"{len(scores)} occupied cells in a grid of {cells}")
    qd = None if offset is None else float(sum(max(0.0, s - offset) for s in scores))
    return QDStats(cells=cells, filled=len(scores), coverage=len(scores) / cells, qd_score=qd,
                   norm_qd_score=None if qd is None else qd / cells)


def resolve_offset(declared: float | None, seed_score: float | None) -> tuple[float | None, str | None]:
    """(offset, where it came from): the declared one, else the seed's training score, else (None, None)."""
    if declared is not None:
        return float(declared), "declared"
    if seed_score is not None:
        return float(seed_score), "seed"
    return None, None


def archive_qd(cells: Iterable[tuple[int, str, float]], grid_size: int, islands: int,
               offset: float | None) -> dict[str, Any]:
    """Overall and per-island QD stats from (island, cell key, elite score) rows.

    Overall keeps the best score per cell key over the islands; islands listed are 0..islands-1
    (an island holding no cell yet shows coverage 0), plus any island found in the rows beyond that.
    """
    by_island: dict[int, list[float]] = {i: [] for i in range(islands)}
    best: dict[str, float] = {}
    for island, key, score in cells:
        by_island.setdefault(island, []).append(score)
        if key not in best or score > best[key]:
            best[key] = score
    return {"overall": qd_stats(best.values(), grid_size, offset).as_dict(),
            "islands": [{"island": i, **qd_stats(by_island[i], grid_size, offset).as_dict()}
                        for i in sorted(by_island)]}


def same_figures(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two `archive_qd` results hold the same figures (a snapshot that adds nothing is skipped)."""
    return a is not None and b is not None and a.get("overall") == b.get("overall") and \
        a.get("islands") == b.get("islands")
