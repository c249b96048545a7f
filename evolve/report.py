"""The held-out report at the end of a campaign: the best program next to the task's reference baseline."""
from __future__ import annotations

from typing import Any


async def heldout_report(archive, campaign_id: int, task, sandbox, limits) -> dict[str, Any] | None:
    split = task.spec.heldout_split
    if split not in task.spec.splits:
        return None
    found = archive.best(campaign_id)
    if found is None:
        return None
    program, _ = found
    evaluation = archive.evaluation(program.id, split)
    if evaluation is None:
        result = await sandbox.evaluate(task, program.code, limits, split=split)
        archive.record_evaluation(program.id, split, result)
        evaluation = archive.evaluation(program.id, split)
    report: dict[str, Any] = {"split": split, "best": {"program_id": program.id, "status": evaluation.status,
                                                       "score": evaluation.score, "metrics": evaluation.metrics}}
    name = task.spec.reference_baseline
    if name:
        baseline = await sandbox.evaluate(task, task.baseline_code(name), limits, split=split)
        report["baseline"] = {"name": name, "status": baseline.status.value, "score": baseline.score,
                              "metrics": baseline.metrics}
        archive.log_event(campaign_id, "heldout_report", program.id, **report)
    return report
