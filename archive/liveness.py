"""Which process runs a campaign, and when it was last seen: claims and heartbeats in the archive.

Liveness across hosts cannot ask the operating system (a PID means nothing on another machine),
so a running campaign's process writes a heartbeat into its campaign row every few seconds; a
campaign whose heartbeat is older than its stale limit is taken for dead, and may be claimed
from any machine that reaches the archive.

Every time is the database server's clock: hosts whose clocks disagree still agree on the age of
a heartbeat. A claim is one conditional UPDATE checked by its row count, so of two processes
claiming one campaign at once exactly one wins, on SQLite and on PostgreSQL alike.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import uuid

from sqlalchemy import DateTime, Float, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .schema import CampaignRecord
from .states import ACTIVE_STATES


class server_utcnow(FunctionElement):
    """The database server's current time, UTC, as a naive timestamp (as every archive time is stored)."""
    type = DateTime()
    inherit_cache = True


@compiles(server_utcnow, "postgresql")
def _pg_now(_element, _compiler, **_kw) -> str:
    return "(clock_timestamp() AT TIME ZONE 'utc')"  # clock_timestamp: not frozen at the transaction's start


@compiles(server_utcnow, "sqlite")
def _sqlite_now(_element, _compiler, **_kw) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


class seconds_since(FunctionElement):
    """Seconds from a stored UTC timestamp to the database server's now (NULL stays NULL)."""
    type = Float()
    inherit_cache = True


@compiles(seconds_since, "postgresql")
def _pg_since(element, compiler, **kw) -> str:
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"EXTRACT(EPOCH FROM ((clock_timestamp() AT TIME ZONE 'utc') - {column}))"


@compiles(seconds_since, "sqlite")
def _sqlite_since(element, compiler, **kw) -> str:
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"((julianday('now') - julianday({column})) * 86400.0)"


@dataclasses.dataclass(frozen=True)
class Claim:
    """A process's hold on a campaign: what it beats under."""
    campaign_id: int
    claim_id: str
    host: str
    pid: int


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who held a campaign when a claim failed, and how long ago it was last seen."""
    state: str
    host: str | None
    pid: int | None
    last_seen_s: float | None
    claim_id: str | None = None


class CampaignLiveness:
    """Claims and heartbeats (a mixin of `Archive`, which provides `session()`)."""

    def claim_campaign(self, campaign_id: int, stale_after_s: float, dead_claim: str | None = None) -> Claim | Holder:
        """Mark the campaign running in this process, unless another process holds it and was seen within
        `stale_after_s` seconds; returns the Claim, or who holds it (one UPDATE, decided by its row count).

        `dead_claim`: the claim of a holder known to be dead (its PID is gone on this very host): taken
        over at once, but only if it is still that claim when the UPDATE runs."""
        claim = Claim(campaign_id, uuid.uuid4().hex, socket.gethostname(), os.getpid())
        conditions = [CampaignRecord.state.not_in([s.value for s in ACTIVE_STATES]),
                      CampaignRecord.heartbeat_at.is_(None),
                      seconds_since(CampaignRecord.heartbeat_at) > stale_after_s]
        if dead_claim is not None:
            conditions.append(CampaignRecord.claim_id == dead_claim)
        free = or_(*conditions)
        with self.session() as s:
            won = s.execute(update(CampaignRecord).where(CampaignRecord.id == campaign_id, free)
                            .values(state="running", message=None, finished_at=None, pid=claim.pid, host=claim.host,
                                    claim_id=claim.claim_id, heartbeat_at=server_utcnow())
                            .execution_options(synchronize_session=False)).rowcount
            s.commit()
        if won == 1:
            self.held_claims()[campaign_id] = claim.claim_id
            return claim
        return self.holder(campaign_id)

    def held_claims(self) -> dict[int, str]:
        """Campaign id -> the claim this Archive object won: its state changes then apply only while the claim
        is still held, so a process that was taken for dead cannot overwrite its successor's state."""
        if not hasattr(self, "_held_claims"):
            self._held_claims: dict[int, str] = {}
        return self._held_claims

    def holder(self, campaign_id: int) -> Holder:
        with self.session() as s:
            row = s.execute(select(CampaignRecord.state, CampaignRecord.host, CampaignRecord.pid,
                                   seconds_since(CampaignRecord.heartbeat_at), CampaignRecord.claim_id)
                            .where(CampaignRecord.id == campaign_id)).one()
        return Holder(row[0], row[1], row[2], None if row[3] is None else max(0.0, float(row[3])), row[4])

    def beat(self, claim: Claim) -> bool:
        """Record that the claiming process is alive; False when the claim was lost (another process took
        the campaign over after this one went stale)."""
        with self.session() as s:
            kept = s.execute(update(CampaignRecord).where(CampaignRecord.id == claim.campaign_id,
                                                          CampaignRecord.claim_id == claim.claim_id)
                             .values(heartbeat_at=server_utcnow())
                             .execution_options(synchronize_session=False)).rowcount
            s.commit()
        return kept == 1

    def heartbeat_ages(self, campaign_ids: list[int] | None = None) -> dict[int, float | None]:
        """Seconds since each campaign's last heartbeat, by the server's clock (None: never beat)."""
        query = select(CampaignRecord.id, seconds_since(CampaignRecord.heartbeat_at))
        if campaign_ids is not None:
            query = query.where(CampaignRecord.id.in_(campaign_ids))
        with self.session() as s:
            return {cid: None if age is None else max(0.0, float(age)) for cid, age in s.execute(query)}
