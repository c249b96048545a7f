"""Campaigns screen: the table, open, stop with confirmation, resume refusal, help."""
from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable

from evolve.tui import EvolveApp
from evolve.tui.campaigns import CampaignsScreen
from evolve.tui.dashboard import DashboardScreen
from evolve.tui.format import fmt_score
from evolve.tui.help import HelpScreen
from tui_support import archive_db, loaded, pinned_clock, template_db  # noqa: F401


@pytest.mark.slow
async def test_table_lists_the_campaign_with_its_figures(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await loaded(pilot)
        assert isinstance(screen, CampaignsScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        stats = app.archive.stats(1)
        assert row[1:4] == ["toy", "toy_fit", "finished"]
        assert row[4] == "40/40"
        assert row[5] == str(stats["evaluated"]) == "41"
        assert row[6] == fmt_score(stats["best_score"]) != "-"


async def test_enter_opens_the_dashboard(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        screen = await loaded(pilot)
        assert isinstance(screen, DashboardScreen) and screen.campaign_id == 1


@pytest.mark.slow
async def test_stop_asks_first_and_then_requests_a_clean_stop(archive_db):
    app = EvolveApp(archive_db)
    app.archive.set_state(1, "running", claim=True)  # this process plays the campaign's process
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("n")
        await pilot.pause()
        assert app.archive.state(1) == "running"
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.archive.state(1) == "stopping"


async def test_resume_refuses_a_campaign_whose_process_is_alive(archive_db):
    app = EvolveApp(archive_db)
    app.archive.set_state(1, "running", claim=True)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("r")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any(f"(pid {os.getpid()})" in m and "last seen" in m and "stop it first" in m for m in messages), messages


@pytest.mark.slow
async def test_question_mark_shows_the_keys_of_the_screen(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = [k for k, _ in __import__("evolve.tui.help", fromlist=["screen_keys"]).screen_keys(app.screen.under)]
        assert {"n", "r", "s"} <= set(keys)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CampaignsScreen)
