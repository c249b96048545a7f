"""Running, stale or ended: what a campaign's row and the age of its heartbeat say about it.

The one place `status`, `best`, `resume` and the TUI decide whether a campaign's process is alive
(archive/liveness.py keeps the heartbeat). A campaign marked running whose heartbeat is older than
its stale limit is `stale`: its process died or lost the archive, and any machine may resume it.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any

from archive.states import CampaignState

DEFAULT_STALE_AFTER_S = 90.0  # evolve.config.ArchiveOptions.stale_after_s's default


def stale_after_s(config: dict[str, Any] | None) -> float:
    """A stored campaign's stale limit (its config as stored: a dict)."""
    return float(((config or {}).get("archive") or {}).get("stale_after_s") or DEFAULT_STALE_AFTER_S)


def pid_gone_here(pid: int | None, host: str | None) -> bool:
    """The holder was a process of this very host that no longer runs (another host's PID says nothing)."""
    return bool(pid) and host == socket.gethostname() and not _pid_runs_here(pid, host)


def _pid_runs_here(pid: int | None, host: str | None) -> bool:
    """The PID, on its own host only (for campaigns claimed before heartbeats existed)."""
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fmt_age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@dataclasses.dataclass(frozen=True)
class Liveness:
    state: str                 # the stored state, or "stale" for an active one nobody has heard from
    host: str | None
    pid: int | None
    last_seen_s: float | None  # seconds since its last heartbeat (None: never beat)

    @property
    def alive(self) -> bool:
        """A process holds the campaign and was heard from recently."""
        return CampaignState(self.state).active if self.state != "stale" else False

    def seen(self) -> str:
        return "never seen" if self.last_seen_s is None else f"last seen {fmt_age(self.last_seen_s)} ago"

    def where(self) -> str:
        return f"on {self.host or '?'} (pid {self.pid or '?'})"

    def describe(self) -> str:
        """`running on gpu-3 (pid 4242), last seen 3 s ago`; just the state for an ended campaign."""
        if self.state == "stale" or CampaignState(self.state).active:
            return f"{self.state} {self.where()}, {self.seen()}"
        return self.state

    def as_dict(self) -> dict[str, Any]:
        return {"liveness": self.state, "host": self.host, "pid": self.pid,
                "last_seen_s": None if self.last_seen_s is None else round(self.last_seen_s, 1)}


def liveness(record, last_seen_s: float | None) -> Liveness:
    """`record`: a CampaignRecord (or anything with state, host, pid and config)."""
    state = CampaignState(record.state)
    label = state.value
    if state.active:
        if last_seen_s is None:  # claimed by an evolve from before heartbeats
            fresh = _pid_runs_here(record.pid, record.host)
        else:  # heard from lately, and not a process of this host that is gone
            fresh = last_seen_s <= stale_after_s(record.config) and not pid_gone_here(record.pid, record.host)
        label = state.value if fresh else "stale"
    return Liveness(label, record.host, record.pid, last_seen_s)


def campaign_liveness(archive, record) -> Liveness:
    return liveness(record, archive.heartbeat_ages([record.id]).get(record.id))
