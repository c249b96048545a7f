"""New-campaign form: the CLI's one-line errors; a valid form launches a detached campaign."""
from __future__ import annotations

import os
import signal

import pytest

from evolve.config import build_config
from evolve.errors import UserError
from evolve.tui import EvolveApp
from evolve.tui.dashboard import DashboardScreen
from evolve.tui.new_campaign import NewCampaignScreen
from tui_support import TOY_TASK, archive_db, loaded, static_text, template_db, wait_for  # noqa: F401


async def open_form(pilot) -> NewCampaignScreen:
    await loaded(pilot)
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(pilot.app.screen, NewCampaignScreen)
    return pilot.app.screen


def fill(screen, **values) -> None:
    for key, value in values.items():
        screen.query_one(f"#{key}").value = value


@pytest.mark.slow
async def test_errors_are_the_clis_one_line_errors(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(pilot)
        fill(screen, iterations="lots")
        await pilot.press("ctrl+s")
        with pytest.raises(UserError) as cli:
            build_config(None, {"task": "binpack_online", "iterations": "lots"})
        shown = static_text(screen, "#error").strip()
        assert shown == f"error: {cli.value}"
        assert "\n" not in shown
        fill(screen, iterations="5", descriptors="nonsense:0:1:4")
        await pilot.press("ctrl+s")
        assert "descriptors: 'nonsense' is not a metric of task" in static_text(screen, "#error")
        fill(screen, descriptors="", budget_usd="-3")
        await pilot.press("ctrl+s")
        with pytest.raises(UserError) as cli:
            build_config(None, {"task": "binpack_online", "iterations": "5", "budget": {"usd": "-3"}})
        assert static_text(screen, "#error").strip() == f"error: {cli.value}"
        fill(screen, budget_usd="", workers="0")
        await pilot.press("ctrl+s")
        assert static_text(screen, "#error").startswith("error: config error: workers: '0' is not allowed")
        assert isinstance(app.screen, NewCampaignScreen)


@pytest.mark.slow
async def test_launches_detached_and_opens_the_dashboard(archive_db, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = EvolveApp(archive_db, cwd=str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(pilot)
        screen.query_one("#task").value = "__dir__"
        await pilot.pause()
        fill(screen, task_dir=str(TOY_TASK), name="from-tui", iterations="6", workers="1")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), timeout=60, what="the launch")
        await loaded(pilot)  # fully mounted before the app may close
        campaign = app.archive.campaign("from-tui")
        assert campaign.task_name == "toy_fit" and campaign.iterations == 6
        await wait_for(pilot, lambda: app.archive.campaign("from-tui").pid is not None, timeout=60,
                       what="the campaign's process")
        pid = app.archive.campaign("from-tui").pid
        assert pid != os.getpid()
        try:
            assert os.getsid(pid) != os.getsid(0)  # its own session: closing the TUI cannot signal it
        except ProcessLookupError:
            pass  # already finished its 6 iterations
    # the app is closed; the campaign runs to the end on its own
    await wait_for_state(app, "from-tui", pid)


async def wait_for_state(app, name, pid):
    import asyncio
    for _ in range(600):
        if app.archive.campaign(name).state == "finished":
            return
        await asyncio.sleep(0.1)
    os.kill(pid, signal.SIGTERM)
    raise AssertionError(f"campaign {name} did not finish after the TUI closed")
