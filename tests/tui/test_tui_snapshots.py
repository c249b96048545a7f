"""SVG snapshots of every screen at 80x24, compared with tests/tui/snapshots/*.svg.

pytest-textual-snapshot pins syrupy 4.8, which pins pytest < 9 (our test extra uses pytest 9),
so this is a small equivalent on `App.export_screenshot()`. EVOLVE_UPDATE_SNAPSHOTS=1 rewrites.
"""
from __future__ import annotations

import pytest

from evolve.tui import EvolveApp
from tui_support import archive_db, assert_snapshot, loaded, pinned_clock, template_db  # noqa: F401

SIZE = (80, 24)


@pytest.mark.slow
async def test_campaigns(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert_snapshot(app, "campaigns")


async def test_help(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert_snapshot(app, "help")


@pytest.mark.slow
async def test_dashboard(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await loaded(pilot)
        assert_snapshot(app, "dashboard")


@pytest.mark.slow
async def test_elite_map(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("m")
        await loaded(pilot)
        assert_snapshot(app, "elite_map")


@pytest.mark.slow
async def test_program_diff(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        best = max(app.archive.elites(1), key=lambda e: e.score).program_id
        app.open_program(best)
        await pilot.pause()
        await loaded(pilot)
        await pilot.press("2")
        await pilot.pause()
        assert_snapshot(app, "program_diff")


@pytest.mark.slow
async def test_new_campaign_error(archive_db, pinned_clock):
    app = EvolveApp(archive_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#workers").value = "4"  # the default is this machine's CPU count
        app.screen.query_one("#iterations").value = "0"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#form").scroll_end(animate=False)
        await pilot.pause()
        assert_snapshot(app, "new_campaign_error")
