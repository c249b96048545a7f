"""Mutators propose child programs: the offline AST mutator, LLM mutators, and the operator mix."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Edit, History, HistoryNeeds, MutationContext, Mutator, MutatorFailed, ProgramView, StopCampaign
from .offline import OfflineMutator

if TYPE_CHECKING:
    from archive import Archive

    from ..config import CampaignConfig
    from ..loop.dbthread import DatabaseThread


def build_mutator(config: CampaignConfig, archive: Archive | None = None, campaign_id: int | None = None,
                  db: DatabaseThread | None = None) -> Mutator:
    """The mutator a campaign config asks for: offline only, or the operator mix over the LLM ensemble.

    LLM mutators log every call in `archive` (spend is summed from there), so they need it.
    """
    offline = OfflineMutator(config.operators)
    if not config.models():
        return offline
    if archive is None or campaign_id is None:
        raise ValueError("LLM mutators need the archive and the campaign id for the call log")
    from .client import CallLog
    from .llm import LLMMutator, MixMutator

    log = CallLog(archive, campaign_id, log_prompts=config.llm_options.log_prompts, db=db)
    return MixMutator(config.operator_mix(), LLMMutator(config, log), offline)


def preflight(config) -> None:
    """Fail fast, before a campaign starts, on a missing API key or a broken prompt template (UserError)."""
    if not config.models():
        return
    from .prompts import Prompts
    from .providers import resolve_key

    if config.llm_options.replay is not None:  # answers come from a recorded campaign: no key, no server
        from .replay import check_source
        check_source(config.llm_options.replay)
    else:
        for model in config.models():
            resolve_key(model)
    Prompts(config.llm_options.templates)


__all__ = ["Edit", "History", "HistoryNeeds", "MutationContext", "Mutator", "MutatorFailed", "OfflineMutator",
           "ProgramView", "StopCampaign", "build_mutator", "preflight"]
