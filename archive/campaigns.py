"""Campaign records: create, look up, list, claim state, config and stop requests.

Mixed into Archive; uses its `session()`, `db` and `held_claims()` (archive/liveness.py). Every write is
its own transaction.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .errors import ArchiveError, CampaignNameTaken, NoCampaigns, NoSuchCampaign
from .schema import CampaignRecord, utcnow
from .sqlite_file import display_name
from .states import CampaignState


class CampaignRecords:
    def create_campaign(self, *, name: str | None, task_name: str, task_dir: str | None, config: dict[str, Any],
                        seed: int, iterations: int) -> CampaignRecord:
        limit = CampaignRecord.__table__.c.name.type.impl.length
        if name and len(name) > limit:
            raise ArchiveError(f"campaign name is {len(name)} characters; use at most {limit}")
        taken = f"a campaign named {name!r} already exists"
        with self.session() as s:
            if name and s.scalar(select(CampaignRecord.id).where(CampaignRecord.name == name)) is not None:
                raise CampaignNameTaken(taken)
            campaign = CampaignRecord(name=name or f"tmp-{uuid.uuid4().hex}", task_name=task_name,
                                      task_dir=task_dir, config=config, seed=seed, iterations=iterations,
                                      state=CampaignState.CREATED.value)
            s.add(campaign)
            try:
                s.flush()
            except IntegrityError:  # another process (maybe another machine) took the name just now
                raise CampaignNameTaken(taken) from None
            if not name:
                campaign.name = f"{task_name}-{campaign.id}"
            s.commit()
            return campaign

    def campaign(self, ref: str | int) -> CampaignRecord:
        with self.session() as s:
            found = None
            if isinstance(ref, int) or str(ref).isdigit():
                found = s.get(CampaignRecord, int(ref))
            if found is None:
                found = s.scalar(select(CampaignRecord).where(CampaignRecord.name == str(ref)))
            if found is None:
                raise NoSuchCampaign(f"no campaign {ref!r} in {display_name(self.db)}")
            return found

    def campaigns(self) -> list[CampaignRecord]:
        with self.session() as s:
            return list(s.scalars(select(CampaignRecord).order_by(CampaignRecord.id)))

    def latest_campaign(self) -> CampaignRecord:
        with self.session() as s:
            found = s.scalar(select(CampaignRecord).order_by(CampaignRecord.id.desc()).limit(1))
        if found is None:
            raise NoCampaigns(f"no campaigns in {display_name(self.db)}")
        return found

    def set_state(self, campaign_id: int, state: CampaignState, message: str | None = None, *,
                  claim: bool = False) -> None:
        state = CampaignState(state)
        values: dict[str, Any] = {"state": state.value, "message": message}
        if claim:
            values.update(pid=os.getpid(), host=socket.gethostname())
        if state.ended:
            values["finished_at"] = utcnow()
        where = [CampaignRecord.id == campaign_id]
        held = self.held_claims().get(campaign_id)
        if held is not None:  # claimed by this process: only while it still holds the claim (archive/liveness.py)
            where.append(CampaignRecord.claim_id == held)
        with self.session() as s:
            s.execute(update(CampaignRecord).where(*where).values(**values))
            s.commit()

    def set_config(self, campaign_id: int, config: dict[str, Any]) -> None:
        """Replace a campaign's stored config (e.g. a budget raised at `evolve resume`)."""
        with self.session() as s:
            s.execute(update(CampaignRecord).where(CampaignRecord.id == campaign_id).values(config=config))
            s.commit()

    def request_stop(self, campaign_id: int) -> None:
        with self.session() as s:
            s.execute(update(CampaignRecord).where(CampaignRecord.id == campaign_id, CampaignRecord.state == CampaignState.RUNNING.value)
                      .values(state=CampaignState.STOPPING.value))
            s.commit()

    def state(self, campaign_id: int) -> CampaignState:
        with self.session() as s:
            return CampaignState(s.scalar(select(CampaignRecord.state).where(CampaignRecord.id == campaign_id)))

