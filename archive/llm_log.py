"""The LLM call log: every call stored as it completes; spend is always a sum over these rows."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, or_, select

from .schema import Event, LLMCall, Program
from .states import ProgramState


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

    def model_stats(self, campaign_id: int) -> list[dict[str, Any]]:
        """Per (provider, model): calls, answers used, spend, and what the answers' children did.

        A call *improved* the archive when its answer was used (outcome ok) and its child became a new
        elite or a new best (an event `new_elite` / `new_best` naming the child). A used answer whose
        child is not stored yet, or is stored but still pending evaluation, is *pending*: its reward is
        not known. Every other call is *resolved* with reward 0. All of it is read from the archive, so
        it is exact after kill -9 and `evolve resume`. Improvements count distinct children: an answer
        lost to kill -9 is linked to the program its iteration produces after resume, but only one of
        the calls of that iteration is credited with it.
        """
        improved = (select(Event.program_id).where(Event.campaign_id == campaign_id,
                                                   Event.kind.in_(("new_elite", "new_best")),
                                                   Event.program_id.is_not(None)).distinct())
        used = LLMCall.outcome == "ok"
        pending = and_(used, or_(LLMCall.program_id.is_(None), Program.state == ProgramState.PENDING.value))
        won = and_(used, LLMCall.program_id.in_(improved))
        with self.session() as s:
            rows = s.execute(
                select(LLMCall.provider, LLMCall.model, func.count(LLMCall.id),
                       func.sum(case((used, 1), else_=0)), func.sum(case((pending, 1), else_=0)),
                       func.count(func.distinct(case((won, LLMCall.program_id)))), func.coalesce(func.sum(LLMCall.cost_usd), 0.0),
                       func.coalesce(func.sum(LLMCall.tokens_in + LLMCall.tokens_out), 0),
                       func.sum(case((LLMCall.tokens_in + LLMCall.tokens_out > 0, 1), else_=0)))
                .outerjoin(Program, Program.id == LLMCall.program_id)
                .where(LLMCall.campaign_id == campaign_id)
                .group_by(LLMCall.provider, LLMCall.model).order_by(LLMCall.provider, LLMCall.model)).all()
        return [{"provider": provider, "model": model, "calls": int(calls), "ok": int(ok or 0),
                 "pending": int(waiting or 0), "improved": int(wins or 0), "usd": float(usd), "tokens": int(tokens),
                 "answered": int(answered or 0)}
                for provider, model, calls, ok, waiting, wins, usd, tokens, answered in rows]
