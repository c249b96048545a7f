"""The held-out report: the selected best next to the task's reference baseline on train, validation and held-out.

The best is the one every view shows (evolve/best.py). Its training and validation figures are
the campaign's own evaluations; its held-out evaluation is stored (a report evaluation, never
competing). The reference baseline runs on each split beside it, so both rows are measured the
same way now; the gap is held-out minus train for each. The report is logged as a
`heldout_report` event: `evolve best` reads the baseline's row from there.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .best import figures, gap, selected_best

if TYPE_CHECKING:
    from evaluators.contract import Executor

    from .campaign import Campaign


def split_names(campaign: "Campaign") -> dict[str, str | None]:
    spec = campaign.task.spec
    return {"train": spec.train_split, "validation": spec.validation_split,
            "heldout": spec.heldout_split if spec.heldout_split in spec.splits else None}


async def heldout_report(campaign: "Campaign", executor: "Executor") -> dict[str, Any] | None:
    """None when the task has no held-out split or the campaign no successful program."""
    splits = split_names(campaign)
    if splits["heldout"] is None:
        return None
    selected = selected_best(campaign.archive, campaign.record)
    if selected is None:
        return None
    program = selected.program
    archive, task = campaign.archive, campaign.task
    stored = archive.evaluation(program.id, splits["heldout"])
    best_job = campaign.evaluate_report(program.id, splits["heldout"], executor) if stored is None else None
    name = task.spec.reference_baseline
    baseline_splits = [role for role in ("train", "validation", "heldout") if splits[role] is not None] if name else []
    baseline_code = task.baseline_code(name) if name else None
    jobs = [executor.evaluate(task, baseline_code, campaign.limits, split=splits[role]) for role in baseline_splits]
    done = await asyncio.gather(*([best_job] if best_job is not None else []), *jobs)
    heldout = done.pop(0) if best_job is not None else stored
    best_row = {"train": figures(selected.train), "validation": figures(selected.validation),
                "heldout": figures(heldout)}
    report: dict[str, Any] = {
        "split": splits["heldout"], "splits": splits,
        "best": {"program_id": program.id, **figures(heldout), "selected_by": selected.selected_by,
                 "splits": best_row, "gap": gap(best_row)},
        "selection": selected.describe(),
        "qd": campaign.quality_diversity(history=False)}  # the training archive's
    if name:
        baseline_row = {role: None for role in ("train", "validation", "heldout")}
        baseline_row.update({role: figures(result) for role, result in zip(baseline_splits, done)})
        report["baseline"] = {"name": name, **baseline_row["heldout"], "splits": baseline_row,
                              "gap": gap(baseline_row)}
    archive.log_event(campaign.id, "heldout_report", program.id, **report)
    return report
