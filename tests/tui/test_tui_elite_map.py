"""Elite map: the heatmap holds the archive's elites; keyboard and mouse navigate and open."""
from __future__ import annotations

import pytest

from archive import Grid
from evolve.tui import EvolveApp
from evolve.tui.elite_map import EliteMapScreen
from evolve.tui.heatmap import HeatMap
from evolve.tui.program import ProgramScreen
from tui_support import archive_db, loaded, static_text, template_db  # noqa: F401


async def open_map(pilot) -> EliteMapScreen:
    await loaded(pilot)
    await pilot.press("m")
    return await loaded(pilot)


def expected_cells(archive) -> dict[tuple[int, int], tuple[float, int]]:
    cells = {}
    for e in archive.elites(1):
        i, j = Grid.parse(e.key)
        cells[(i, j)] = (e.score, e.program_id)
    return cells


@pytest.mark.slow
async def test_heatmap_holds_every_elite_and_starts_on_the_best(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_map(pilot)
        heatmap = screen.query_one(HeatMap)
        expected = expected_cells(app.archive)
        assert heatmap.cells == expected and len(expected) >= 3
        assert (heatmap.cols, heatmap.rows) == (8, 8)
        best = max(expected, key=lambda k: expected[k][0])
        assert heatmap.cursor == best
        panel = " ".join(static_text(screen, "#cell").split())
        assert f"#{expected[best][1]}" in panel


@pytest.mark.slow
async def test_keyboard_moves_and_enter_opens_the_cells_elite(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_map(pilot)
        heatmap = screen.query_one(HeatMap)
        expected = expected_cells(app.archive)
        target = sorted(expected)[0]
        heatmap.cursor = (0, 0)
        for _ in range(target[0]):
            await pilot.press("right")
        for _ in range(target[1]):
            await pilot.press("up")
        assert heatmap.cursor == target
        panel = " ".join(static_text(screen, "#cell").split())
        assert f"#{expected[target][1]}" in panel
        await pilot.press("enter")
        program = await loaded(pilot)
        assert isinstance(program, ProgramScreen) and program.program_id == expected[target][1]


async def test_click_selects_then_opens(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_map(pilot)
        heatmap = screen.query_one(HeatMap)
        expected = expected_cells(app.archive)
        target = next(c for c in sorted(expected, reverse=True) if c != heatmap.cursor)  # a click elsewhere selects
        offset = next((x, y) for x in range(heatmap.size.width) for y in range(heatmap.size.height)
                      if heatmap.cell_at(x, y) == target)
        await pilot.click(HeatMap, offset=offset)
        assert heatmap.cursor == target and isinstance(app.screen, EliteMapScreen)
        await pilot.click(HeatMap, offset=offset)
        program = await loaded(pilot)
        assert isinstance(program, ProgramScreen) and program.program_id == expected[target][1]


async def test_axes_swap_and_island_filter(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_map(pilot)
        heatmap = screen.query_one(HeatMap)
        before = dict(heatmap.cells)
        await pilot.press("x")
        assert heatmap.cells == {(j, i): v for (i, j), v in before.items()}
        assert "x code_size" in " ".join(static_text(screen, "#axes").split())
        await pilot.press("i")
        await loaded(pilot, screen, count=2)
        assert screen.island == 0
        island0 = {tuple(reversed(Grid.parse(e.key))): (e.score, e.program_id) for e in app.archive.elites(1, 0)}
        assert heatmap.cells == island0
