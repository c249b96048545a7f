"""A campaign's Pareto front, derived from its stored evaluations, and its cached baseline points.

The front is not stored: it is the non-dominated set of the campaign's ok evaluations on one
split, computed when asked (bench/bench_front.py measures the query at 10,000 programs). So it
is never out of date, a dominated program leaves it the moment its dominator is stored, and a
resumed campaign has the same front it had when it stopped. Mixed into Archive; uses its
`session()`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .errors import ArchiveError
from .pareto import Objective, Point, nondominated
from .schema import BaselineEvaluation, Evaluation, Program


@dataclasses.dataclass(frozen=True)
class Front:
    """The non-dominated programs, cheapest first on the last objective; `ties` maps a member's
    program id to the later programs with the very same objective values."""
    objectives: tuple[Objective, ...]
    split: str
    members: list[Point]
    ties: dict[int, list[int]]
    candidates: int  # the ok evaluations it was chosen from


def order_front(points: Sequence[Point], objectives: Sequence[Objective]) -> list[Point]:
    """Members in print order: best-to-worst on the last objective (for accuracy/FLOPs: cheapest first)."""
    return sorted(points, key=lambda p: (tuple(reversed([o.cost(v) for o, v in zip(objectives, p.values)])),
                                         str(p.key)))


class FrontViews:
    def front_points(self, campaign_id: int, split: str, objectives: Sequence[Objective]) -> list[Point]:
        """Every program of the campaign with an ok evaluation on `split` and finite objective values, by id."""
        names = [o.metric for o in objectives]
        with self.session() as s:
            rows = s.execute(select(Program.id, Evaluation.metrics).join(Evaluation, Evaluation.program_id == Program.id)
                             .where(Program.campaign_id == campaign_id, Evaluation.split == split,
                                    Evaluation.status == "ok")
                             .order_by(Program.id)).all()
        points = []
        for program_id, metrics in rows:
            values = _values(metrics, names)
            if values is not None:
                points.append(Point(program_id, values))
        return points

    def program_points(self, program_ids: Sequence[int], split: str, objectives: Sequence[Objective]) -> list[Point]:
        """The points of the given programs with an ok evaluation on `split`, by id (the elites', for sampling)."""
        names = [o.metric for o in objectives]
        with self.session() as s:
            rows = s.execute(select(Evaluation.program_id, Evaluation.metrics)
                             .where(Evaluation.program_id.in_(list(program_ids)), Evaluation.split == split,
                                    Evaluation.status == "ok").order_by(Evaluation.program_id)).all()
        return [Point(pid, values) for pid, values in ((pid, _values(m, names)) for pid, m in rows)
                if values is not None]

    def front(self, campaign_id: int, split: str, objectives: Sequence[Objective]) -> Front:
        points = self.front_points(campaign_id, split, objectives)
        members, ties = nondominated(points, objectives)
        return Front(tuple(objectives), split, order_front(members, objectives), ties, len(points))

    # ---- baselines ------------------------------------------------------------------------
    def baseline_evaluation(self, campaign_id: int, baseline: str, split: str,
                            code_hash: str) -> BaselineEvaluation | None:
        with self.session() as s:
            return s.scalar(select(BaselineEvaluation).where(
                BaselineEvaluation.campaign_id == campaign_id, BaselineEvaluation.baseline == baseline,
                BaselineEvaluation.split == split, BaselineEvaluation.code_hash == code_hash))

    def record_baseline(self, campaign_id: int, baseline: str, split: str, code_hash: str,
                        result) -> BaselineEvaluation:
        """Cache a baseline's evaluation (replacing one of the same code, e.g. after a failure was retried)."""
        with self.session() as s:
            existing = s.scalar(select(BaselineEvaluation).where(
                BaselineEvaluation.campaign_id == campaign_id, BaselineEvaluation.baseline == baseline,
                BaselineEvaluation.split == split, BaselineEvaluation.code_hash == code_hash))
            if existing is not None:
                s.delete(existing)
                s.flush()
            row = BaselineEvaluation(campaign_id=campaign_id, baseline=baseline, split=split, code_hash=code_hash,
                                     status=result.status.value, score=result.score, metrics=dict(result.metrics),
                                     wall_time=result.wall_time)
            s.add(row)
            try:
                s.commit()
            except IntegrityError:  # no such campaign (deleted meanwhile)
                raise ArchiveError(f"no campaign {campaign_id} to cache baseline {baseline!r} for") from None
            return row


def _values(metrics: dict[str, Any] | None, names: Sequence[str]) -> tuple[float, ...] | None:
    values = []
    for name in names:
        value = (metrics or {}).get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)


def point_of(key: int | str, metrics: dict[str, Any] | None, objectives: Sequence[Objective]) -> Point | None:
    """A point from a metrics dict (a baseline's, say), or None when an objective is missing or not finite."""
    values = _values(metrics, [o.metric for o in objectives])
    return None if values is None else Point(key, values)
