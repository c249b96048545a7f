"""SQLAlchemy models of the archive: campaigns, programs, evaluations, MAP-Elites cells, events."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .portable import PortableString, PortableText

from .states import CampaignState, EvaluationRole


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# JSON, not JSONB, on PostgreSQL: JSON keeps dicts' key order byte for byte, as SQLite does, so
# prompts and reports built from stored metrics are the same on both backends. The cost: no
# equality on JSON columns, so no DISTINCT/GROUP BY/UNION over them (extract a field first).
class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class CampaignRecord(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(PortableString(200), unique=True)
    task_name: Mapped[str] = mapped_column(PortableString(200))
    task_dir: Mapped[str | None] = mapped_column(PortableText)
    config: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer)
    iterations: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(PortableString(20), default=CampaignState.CREATED.value)  # a CampaignState
    message: Mapped[str | None] = mapped_column(PortableText)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(PortableString(255))
    # the last iteration whose verdict the cells include (the loop applies verdicts in iteration order);
    # None: nothing applied yet, or a campaign stored before verdicts were applied in order
    applied_through: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[dt.datetime | None]  # the database server's clock (UTC) when its process was last seen
    claim_id: Mapped[str | None] = mapped_column(PortableString(32))  # the run that holds it (archive/liveness.py)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None]


class Program(Base):
    __tablename__ = "programs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "iteration", name="uq_program_iteration"),
        Index("ix_programs_campaign_hash", "campaign_id", "code_hash"),
        Index("ix_programs_campaign_state", "campaign_id", "state"),
        Index("ix_programs_campaign_fingerprint", "campaign_id", "fingerprint"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    iteration: Mapped[int] = mapped_column(Integer)  # 0 = the seed program
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    inspiration_ids: Mapped[list[Any]] = mapped_column(default=list)
    code: Mapped[str | None] = mapped_column(PortableText)  # None when the edit failed to produce a program
    code_hash: Mapped[str | None] = mapped_column(PortableString(64))
    mutator: Mapped[str] = mapped_column(PortableString(200))
    operator: Mapped[str] = mapped_column(PortableString(100))
    edit: Mapped[dict[str, Any]] = mapped_column(default=dict)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    island: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(PortableString(20))  # a ProgramState
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    fingerprint: Mapped[str | None] = mapped_column(PortableString(64))  # hash of its outputs on the task's probe inputs
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("program_id", "split", name="uq_evaluation_split"),
                      Index("ix_evaluations_program_role", "program_id", "role"))
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    split: Mapped[str] = mapped_column(PortableString(50))
    role: Mapped[str] = mapped_column(PortableString(10), default=EvaluationRole.REPORT.value,
                                      server_default=EvaluationRole.REPORT.value)  # an EvaluationRole
    status: Mapped[str] = mapped_column(PortableString(20), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    descriptors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    wall_time: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_time: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Cell(Base):
    """One MAP-Elites cell of one island and the elite that holds it."""
    __tablename__ = "cells"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    island: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(PortableString(100), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    score: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_campaign_id", "campaign_id", "id"),
                      Index("ix_events_campaign_kind", "campaign_id", "kind", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(PortableString(50))
    program_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LLMCall(Base):
    """One request to an LLM: what was asked (unless prompts are kept out), what came back, what it cost.

    Spend is always the sum over these rows, so it survives kill -9 and resume exactly. The request's
    digest and sampling parameters, the reply's stop kind and a failure's retry class are what
    `evolve run --replay` needs to answer the same request again without the server (they are kept
    when prompts are kept out).
    """
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_campaign_iteration", "campaign_id", "iteration"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    iteration: Mapped[int | None] = mapped_column(Integer)  # the iteration that made the call
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)  # the program it produced
    provider: Mapped[str] = mapped_column(PortableString(50))
    model: Mapped[str] = mapped_column(PortableString(200))
    operator: Mapped[str] = mapped_column(PortableString(50))
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # transport retry number within one request
    # ok | edit_error | truncated | refused | rate_limited | server_error | timeout | connection_error | client_error
    outcome: Mapped[str] = mapped_column(PortableString(30), index=True)
    error: Mapped[str | None] = mapped_column(PortableText)
    prompt: Mapped[list[Any] | None] = mapped_column(JSON)  # the messages; None when prompts are kept out
    response: Mapped[str | None] = mapped_column(PortableText)
    response_id: Mapped[str | None] = mapped_column(PortableString(200))
    stop_reason: Mapped[str | None] = mapped_column(PortableString(50))
    prompt_digest: Mapped[str | None] = mapped_column(PortableString(64))  # sha256 of the messages (request_digest.py)
    sampling: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # temperature, max_tokens as sent
    stop: Mapped[str | None] = mapped_column(PortableString(20))  # an answer's stop | length | refusal
    retryable: Mapped[bool | None] = mapped_column(Boolean)  # a failure's: worth asking again
    permanent: Mapped[bool | None] = mapped_column(Boolean)  # a failure's: the model is out for good
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BaselineEvaluation(Base):
    """A task baseline's evaluation on one split, cached per campaign for its front (archive/front.py).

    Keyed by the baseline's code hash: an edited baseline is evaluated again, not served stale.
    """
    __tablename__ = "baseline_evaluations"
    __table_args__ = (UniqueConstraint("campaign_id", "baseline", "split", "code_hash", name="uq_baseline_evaluation"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    baseline: Mapped[str] = mapped_column(PortableString(200))
    split: Mapped[str] = mapped_column(PortableString(50))
    code_hash: Mapped[str] = mapped_column(PortableString(64))
    status: Mapped[str] = mapped_column(PortableString(20))
    score: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    wall_time: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
