"""The campaign's best, as every view shows it: `evolve best`, `evolve export`, the TUI and the held-out report.

It is chosen among the campaign's top-k training programs (config `selection.top_k`) by validation
score (archive/selection.py); without validation results it is the best training program.
Here too: its figures on train, validation and held-out side by side with the reference
baseline's, and the generalization gap, for the reports.
"""
from __future__ import annotations

from typing import Any

from archive import Archive, EvaluationRole
from archive.schema import CampaignRecord, Evaluation
from archive.selection import Selected

from .config import SelectionConfig

ROLES = ("train", "validation", "heldout")


def top_k(record: CampaignRecord) -> int:
    """The campaign's stored `selection.top_k` (campaigns stored before it existed: the default)."""
    stored = (record.config or {}).get("selection") or {}
    return SelectionConfig.model_validate(stored).top_k


def selected_best(archive: Archive, record: CampaignRecord) -> Selected | None:
    return archive.selected_best(record.id, top_k(record))


def figures(evaluation: Evaluation | Any | None) -> dict[str, Any] | None:
    """An evaluation (stored, or an EvaluationResult) as a report shows it."""
    if evaluation is None:
        return None
    status = getattr(evaluation.status, "value", evaluation.status)
    return {"status": status, "score": evaluation.score, "metrics": dict(evaluation.metrics or {})}


def gap(row: dict[str, Any]) -> float | None:
    """Held-out score minus training score (negative: the policy does worse on data it was not evolved on)."""
    train, heldout = row.get("train"), row.get("heldout")
    if not train or not heldout or train["score"] is None or heldout["score"] is None \
            or "ok" not in (train["status"], heldout["status"]) or train["status"] != heldout["status"]:
        return None
    return heldout["score"] - train["score"]


def program_row(archive: Archive, selected: Selected, heldout_split: str | None) -> dict[str, Any]:
    """The selected program's figures on each role's split (None where it has no such evaluation)."""
    heldout = None
    if heldout_split is not None:
        heldout = next((e for e in archive.evaluations_of(selected.program.id)
                        if e.split == heldout_split and e.role == EvaluationRole.REPORT.value), None)
    row = {"train": figures(selected.train), "validation": figures(selected.validation), "heldout": figures(heldout)}
    return {**row, "gap": gap(row)}


def latest_baseline_row(archive: Archive, campaign_id: int) -> dict[str, Any] | None:
    """The reference baseline's figures from the campaign's latest held-out report (None before one)."""
    event = archive.latest_event(campaign_id, "heldout_report")
    baseline = (event.data or {}).get("baseline") if event is not None else None
    if not isinstance(baseline, dict) or not isinstance(baseline.get("splits"), dict):
        return None  # no report yet, or one from before reports carried every split
    return {"name": baseline.get("name"), **baseline["splits"], "gap": gap(baseline["splits"])}
