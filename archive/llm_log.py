"""The LLM call log: every call stored as it completes; spend is always a sum over these rows."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from .schema import LLMCall


class LLMCallLog:
    """Mixed into Archive; uses its `session()`."""

    def log_llm_call(self, campaign_id: int, **fields: Any) -> int:
        """Store one LLM call, committed before returning: spend totals are sums over these rows."""
        with self.session() as s:
            call = LLMCall(campaign_id=campaign_id, **fields)
            s.add(call)
            s.commit()
            return call.id

    def spend(self, campaign_id: int) -> dict[str, Any]:
        """Exact LLM spend of a campaign: sums over its logged calls (never an in-memory counter)."""
        with self.session() as s:
            usd, tokens_in, tokens_out, calls = s.execute(
                select(func.coalesce(func.sum(LLMCall.cost_usd), 0.0), func.coalesce(func.sum(LLMCall.tokens_in), 0),
                       func.coalesce(func.sum(LLMCall.tokens_out), 0), func.count(LLMCall.id))
                .where(LLMCall.campaign_id == campaign_id)).one()
            outcomes = dict(s.execute(select(LLMCall.outcome, func.count()).where(LLMCall.campaign_id == campaign_id)
                                      .group_by(LLMCall.outcome)).all()) if calls else {}
        return {"usd": float(usd), "tokens_in": int(tokens_in), "tokens_out": int(tokens_out),
                "tokens": int(tokens_in) + int(tokens_out), "calls": int(calls), "outcomes": outcomes}

    def llm_calls(self, campaign_id: int, program_id: int | None = None) -> list[LLMCall]:
        with self.session() as s:
            query = select(LLMCall).where(LLMCall.campaign_id == campaign_id)
            if program_id is not None:
                query = query.where(LLMCall.program_id == program_id)
            return list(s.scalars(query.order_by(LLMCall.id)))
