"""A campaign's Pareto front, derived from its stored evaluations, and its cached baseline points.

The front is not stored: it is the non-dominated set of the campaign's ok evaluations on one
split, computed when asked (bench/bench_front.py measures the query at 10,000 programs). So it
is never out of date, a dominated program leaves it the moment its dominator is stored, and a
resumed campaign has the same front it had when it stopped. Mixed into Archive; uses its
`session()`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Sequence

from sqlalchemy import case, func, select
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
        return self._points((Program.campaign_id == campaign_id,), split, objectives)

    def program_points(self, program_ids: Sequence[int], split: str, objectives: Sequence[Objective]) -> list[Point]:
        """The points of the given programs with an ok evaluation on `split`, by id (the elites', for sampling)."""
        return self._points((Program.id.in_(list(program_ids)),), split, objectives)

    def _points(self, where: tuple, split: str, objectives: Sequence[Objective]) -> list[Point]:
        """Only the objective values leave the database (loading every metrics document costs several times
        more: bench/bench_front.py query). On SQLite, a document that is not strict JSON (a NaN metric) is
        read whole and parsed in Python instead."""
        names = [o.metric for o in objectives]
        with self.session() as s:
            dialect = s.get_bind().dialect.name
            if dialect == "sqlite" and not any('"' in n or "\\" in n for n in names):
                paths = [f'$."{n}"' for n in names]  # one json_extract of several paths returns a JSON array
                values = case((func.json_valid(Evaluation.metrics) == 1,
                               func.json_extract(Evaluation.metrics, *paths)), else_=None)
                rows = s.execute(self._query(where, split, Program.id, values)).all()
                loose = [pid for pid, text in rows if text is None]
                found = [(pid, json.loads(text)) for pid, text in rows if text is not None]
            elif dialect == "postgresql":
                rows = s.execute(self._query(where, split, Program.id, *(Evaluation.metrics[n] for n in names))).all()
                loose, found = [], [(row[0], list(row[1:])) for row in rows]
            else:
                loose, found = None, []
            parsed = self._points_parsed(s, (Program.id.in_(loose),) if loose is not None else where, split, names) \
                if loose is None or loose else []
        points = [Point(pid, values) for pid, values in ((pid, _numbers(v)) for pid, v in found) if values is not None]
        return sorted(points + parsed, key=lambda p: p.key)

    @staticmethod
    def _query(where: tuple, split: str, *columns):
        return (select(*columns).join(Evaluation, Evaluation.program_id == Program.id)
                .where(*where, Evaluation.split == split, Evaluation.status == "ok").order_by(Program.id))

    @classmethod
    def _points_parsed(cls, s, where: tuple, split: str, names: Sequence[str]) -> list[Point]:
        rows = s.execute(cls._query(where, split, Program.id, Evaluation.metrics)).all()
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


def _numbers(values: list[Any]) -> tuple[float, ...] | None:
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
        return None
    return tuple(float(v) for v in values)


def _values(metrics: dict[str, Any] | None, names: Sequence[str]) -> tuple[float, ...] | None:
    return _numbers([(metrics or {}).get(name) for name in names])


def point_of(key: int | str, metrics: dict[str, Any] | None, objectives: Sequence[Objective]) -> Point | None:
    """A point from a metrics dict (a baseline's, say), or None when an objective is missing or not finite."""
    values = _values(metrics, [o.metric for o in objectives])
    return None if values is None else Point(key, values)
