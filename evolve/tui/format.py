"""Short, aligned renderings of numbers, times and states."""
from __future__ import annotations

import datetime as dt
import math

from archive import CampaignState
from rich.text import Text

STATE_STYLE = {CampaignState.RUNNING: "bold green", CampaignState.STOPPING: "yellow", CampaignState.STOPPED: "yellow",
               CampaignState.FINISHED: "cyan", CampaignState.FAILED: "bold red", CampaignState.CREATED: "dim"}
STATUS_STYLE = {"ok": "green", "invalid": "yellow", "crashed": "red", "timeout": "magenta", "oom": "red",
                "rejected": "yellow"}


def fmt_score(value, digits: int = 5) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"
    return str(value)


def fmt_usd(value) -> str:
    return "-" if value is None else f"${value:,.2f}"


def fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def utcnow() -> dt.datetime:
    """The TUI's clock (naive UTC, like the archive's timestamps); tests pin it for snapshots."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ago(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    seconds = max(0.0, (utcnow() - when).total_seconds())
    if seconds < 86400:
        return f"{fmt_duration(seconds)} ago"
    return when.strftime("%Y-%m-%d %H:%M")


def state_text(state: str, alive: bool = True) -> Text:
    label = state if alive or not CampaignState(state).active else f"{state}?"
    return Text(label, style=STATE_STYLE.get(state, ""))


def liveness_text(seen) -> Text:
    """`running · seen 3 s ago`, `stale · seen 2m ago` (an evolve.liveness.Liveness)."""
    if seen.state != "stale" and not CampaignState(seen.state).active:
        return state_text(seen.state)
    text = Text(seen.state, style=STATE_STYLE.get(seen.state, "bold red"))
    if seen.last_seen_s is not None:
        text.append(f" · seen {fmt_duration(seen.last_seen_s)} ago", style="dim")
    return text
