"""A campaign's Pareto front as the user sees it: members, baselines' points, hypervolume.

The archive computes the non-dominated set (archive/front.py); this module adds what the task
declares (objectives, the hypervolume's reference point), which split's metrics count
(`front_split`), the task's baselines measured on that split (evaluated once per campaign and
cached in the archive), and the choice of a front member for export.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
from typing import Any, Callable, Sequence

from archive.front import Front, point_of
from archive.pareto import Objective, Point, costs, crowding_distances, dominates, hypervolume, nondominated
from archive.sampling import Elite
from evaluators.task import Task

from .errors import UserError


def front_split(task: Task) -> str:
    """The split whose metrics place programs on the front: the one parents are selected on."""
    return task.spec.train_split


def objectives_of(task: Task) -> tuple[Objective, ...]:
    if not task.spec.objectives:
        raise UserError(f"task {task.name!r} declares no objectives, so it has no front; add `objectives:` "
                        f"(two or more metrics with directions) and `front_reference:` to its task.yaml")
    return tuple(Objective(o.metric, o.direction == "maximize", o.scale == "log10") for o in task.spec.objectives)


def reference_of(task: Task) -> tuple[float, ...]:
    return tuple(task.spec.front_reference[o.metric] for o in task.spec.objectives)


@dataclasses.dataclass(frozen=True)
class BaselinePoint:
    name: str
    status: str
    values: tuple[float, ...] | None  # None when the baseline failed or lacks an objective
    dominated_by: list[int]           # front members that dominate it


@dataclasses.dataclass(frozen=True)
class FrontReport:
    campaign: str
    task: str
    split: str
    objectives: tuple[Objective, ...]
    reference: tuple[float, ...]
    front: Front
    hypervolume: float
    best_program: int | None          # the campaign's selected best (top training score)
    baselines: list[BaselinePoint]
    baselines_hypervolume: float | None  # the baselines' own front, for comparison

    def to_dict(self) -> dict[str, Any]:
        names = [o.metric for o in self.objectives]
        return {
            "campaign": self.campaign, "task": self.task, "split": self.split,
            "objectives": [{"metric": o.metric, "direction": "maximize" if o.maximize else "minimize",
                            "scale": "log10" if o.log10 else "linear"} for o in self.objectives],
            "reference": dict(zip(names, self.reference)),
            "hypervolume": self.hypervolume, "baselines_hypervolume": self.baselines_hypervolume,
            "candidates": self.front.candidates, "best_program": self.best_program,
            "front": [{"point": i, "program_id": p.key, **dict(zip(names, p.values)),
                       "ties": self.front.ties.get(p.key, []), "best": p.key == self.best_program}
                      for i, p in enumerate(self.front.members)],
            "baselines": [{"name": b.name, "status": b.status,
                           **(dict(zip(names, b.values)) if b.values else {}),
                           "dominated": bool(b.dominated_by), "dominated_by": b.dominated_by}
                          for b in self.baselines],
        }


def campaign_front(campaign, *, with_baselines: bool = True,
                   on_measure: Callable[[list[str], str], None] | None = None) -> FrontReport:
    """The campaign's front on `front_split`, with the baselines' points (evaluated now if not cached;
    `on_measure(names, split)` is told first, since that can take minutes)."""
    task, archive = campaign.task, campaign.archive
    objectives, reference, split = objectives_of(task), reference_of(task), front_split(task)
    front = archive.front(campaign.id, split, objectives)
    best = archive.best(campaign.id)
    baselines: list[BaselinePoint] = []
    if with_baselines:
        for name, metrics, status in baseline_results(campaign, split, on_measure):
            point = point_of(name, metrics, objectives) if status == "ok" else None
            dominated_by = [] if point is None else [
                m.key for m in front.members if dominates(costs(m, objectives), costs(point, objectives))]
            baselines.append(BaselinePoint(name, status, point.values if point else None, dominated_by))
    ok = [Point(b.name, b.values) for b in baselines if b.values is not None]
    return FrontReport(campaign=campaign.name, task=task.name, split=split, objectives=objectives,
                       reference=reference, front=front,
                       hypervolume=hypervolume(front.members, objectives, reference),
                       best_program=best[0].id if best else None, baselines=baselines,
                       baselines_hypervolume=hypervolume(ok, objectives, reference) if ok else None)


def baseline_results(campaign, split: str, on_measure: Callable[[list[str], str], None] | None = None
                     ) -> list[tuple[str, dict[str, Any], str]]:
    """(name, metrics, status) of each of the task's baselines on `split`, from the archive's cache or
    evaluated now in the campaign's sandbox (and cached)."""
    task, archive = campaign.task, campaign.archive
    found, missing = {}, []
    for name in task.spec.baselines:
        code = task.baseline_code(name)
        code_hash = hashlib.sha256(code.encode()).hexdigest()
        row = archive.baseline_evaluation(campaign.id, name, split, code_hash)
        if row is not None:
            found[name] = (dict(row.metrics or {}), row.status)
        else:
            missing.append((name, code, code_hash))
    if missing:
        if on_measure is not None:
            on_measure([name for name, _, _ in missing], split)
        for (name, _, code_hash), result in zip(missing, _evaluate_all(campaign, [c for _, c, _ in missing], split)):
            archive.record_baseline(campaign.id, name, split, code_hash, result)
            found[name] = (dict(result.metrics), result.status.value)
    return [(name, *found[name]) for name in task.spec.baselines]


def _evaluate_all(campaign, codes: Sequence[str], split: str):
    from .executors import local_executor

    config = campaign.config

    async def run():
        sandbox = local_executor(config.sandbox, workers=max(1, min(config.workers, len(codes))), jail=config.jail)
        try:
            return await asyncio.gather(*(sandbox.evaluate(campaign.task, code, campaign.limits, split=split)
                                          for code in codes))
        finally:
            await sandbox.close()

    return asyncio.run(run())


# ---- parent selection ----------------------------------------------------------------------
def elite_front(archive, task: Task, elites: Sequence[Elite]) -> list[tuple[Elite, float]] | None:
    """The elites on their own Pareto front (on `front_split`) with crowding distances, for
    archive.sampling.choose_parent; None when the task declares no objectives."""
    if not task.spec.objectives:
        return None
    objectives = objectives_of(task)
    by_id = {e.program_id: e for e in elites}
    members, _ = nondominated(archive.program_points(sorted(by_id), front_split(task), objectives), objectives)
    return [(by_id[m.key], d) for m, d in zip(members, crowding_distances(members, objectives))]


# ---- choosing a front member for export --------------------------------------------------
def cost_objective(objectives: Sequence[Objective], task: Task) -> int:
    """The index of the front's FLOPs objective (its metric's unit is FLOPs), for --max-flops."""
    found = [i for i, o in enumerate(objectives) if task.spec.metrics[o.metric].unit == "FLOPs"]
    if not found:
        raise UserError(f"task {task.name!r} has no FLOPs objective (a metric with unit FLOPs); "
                        f"use --front-point N instead of --max-flops")
    return found[0]


def choose_front_point(campaign, *, point: int | None = None, max_flops: float | None = None) -> int:
    """The program id of front member `point` (as `evolve front` numbers them), or of the member with the
    best first objective among those costing at most `max_flops` (both given: that member must fit)."""
    task = campaign.task
    objectives = objectives_of(task)
    if max_flops is not None and not (max_flops > 0 and math.isfinite(max_flops)):
        raise UserError(f"--max-flops {max_flops:g} is not allowed; give a positive number of FLOPs")
    front = campaign.archive.front(campaign.id, front_split(task), objectives)
    if not front.members:
        raise UserError(f"campaign {campaign.name} has no front yet (no program evaluated ok on "
                        f"{front_split(task)}); run it first")
    members = front.members
    if point is not None:
        if not 0 <= point < len(members):
            raise UserError(f"--front-point {point} is out of range; campaign {campaign.name}'s front has "
                            f"points 0..{len(members) - 1} (`evolve front {campaign.name}` lists them)")
        members = [members[point]]
    if max_flops is not None:
        axis = cost_objective(objectives, task)
        affordable = [m for m in members if m.values[axis] <= max_flops]
        if not affordable:
            metric = objectives[axis].metric
            if point is not None:
                raise UserError(f"--max-flops {max_flops:g}: front point {point} costs {members[0].values[axis]:.4g} "
                                f"({metric}); drop --front-point or raise --max-flops")
            cheapest = min(m.values[axis] for m in front.members)
            raise UserError(f"--max-flops {max_flops:g}: no front point costs that little; the cheapest costs "
                            f"{cheapest:.4g} ({metric})")
        members = affordable
    # the best on the first objective that is not the FLOPs budget (with --max-flops, that is the quality axis)
    axis = cost_objective(objectives, task) if max_flops is not None else None
    index = next(i for i in range(len(objectives)) if i != axis)
    return min(members, key=lambda m: (objectives[index].cost(m.values[index]), m.key)).key
