"""A running campaign's claim and heartbeat: the archive hears from its process every few seconds.

`start_heartbeat(campaign)` claims the campaign (one conditional UPDATE: of two processes resuming
one campaign at once, exactly one runs; the other gets a one-line UserError naming the host and
PID that hold it) and starts an asyncio task that beats every `archive.heartbeat_s` seconds.

The beats run on their own thread and connection, not through the campaign's database thread:
that thread may be queued behind slow writes or riding out an outage with retries, and a process
doing so is alive; the beats also never reorder the controller's writes. A beat that fails (the
server is down) is retried at the next tick; the stale limit outlasts the outage grace
(evolve.config.ArchiveOptions), so a campaign riding out an outage does not look dead.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging

from archive.liveness import Claim, Holder

from ..errors import UserError
from ..liveness import Liveness, pid_gone_here

log = logging.getLogger(__name__)


def held_message(name: str, holder: Holder | Liveness) -> str:
    """Why a campaign cannot be resumed now: who holds it and when it was last heard from (one line)."""
    seen = Liveness(holder.state, holder.host, holder.pid, holder.last_seen_s)
    return (f"campaign {name} is {holder.state} on host {holder.host or '?'} (pid {holder.pid or '?'}), "
            f"{seen.seen()}; stop it there first, or resume it once it is stale (not heard from for "
            f"archive.stale_after_s)")


class Heartbeat:
    def __init__(self, archive, claim: Claim, interval_s: float, on_lost=None):
        self.archive = archive
        self.claim = claim
        self.interval_s = interval_s
        self.on_lost = on_lost  # called once if another process took the campaign over
        self.beats = 0
        self.failures = 0
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evolve-heartbeat")
        self._task: asyncio.Task | None = None

    def start(self) -> "Heartbeat":
        self._task = asyncio.create_task(self._run(), name="evolve-heartbeat")
        return self

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                kept = await loop.run_in_executor(self._thread, self.archive.beat, self.claim)
            except Exception as exc:  # noqa: BLE001 - the server is unreachable: the next tick retries
                self.failures += 1
                log.debug("heartbeat failed: %s", exc)
                continue
            self.beats += 1
            if not kept:
                log.error("campaign %s was taken over by another process; stopping", self.claim.campaign_id)
                if self.on_lost is not None:
                    self.on_lost()
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._thread.shutdown(wait=False, cancel_futures=True)


async def start_heartbeat(campaign) -> Heartbeat:
    """Claim `campaign` for this process (UserError when a live process holds it) and start beating."""
    options = campaign.config.archive
    loop = asyncio.get_running_loop()
    holder = await loop.run_in_executor(None, campaign.archive.holder, campaign.id)
    dead = holder.claim_id if pid_gone_here(holder.pid, holder.host) else None  # killed here: no need to wait
    claimed = await loop.run_in_executor(None, campaign.archive.claim_campaign, campaign.id, options.stale_after_s,
                                         dead)
    if isinstance(claimed, Holder):
        raise UserError(held_message(campaign.name, claimed))
    return Heartbeat(campaign.archive, claimed, options.heartbeat_s, on_lost=campaign.request_stop).start()
