"""The objectives screen on a real campaign of a task with a front (tests/fixtures/front_task): the scatter
holds every program and baseline, the list is the archive's front, the cursor highlights, enter opens code."""
from __future__ import annotations

import shutil

import pytest

from archive.pareto import Objective
from evolve.tui import EvolveApp
from evolve.tui.front import FrontScreen
from evolve.tui.program import ProgramScreen
from evolve.tui.scatter import Scatter, ScatterPoint, scatter_cells
from textual.widgets import DataTable
from tui_support import ROOT, assert_snapshot, evolve, loaded, static_text, wait_for

FRONT_TASK = ROOT / "tests" / "fixtures" / "front_task"
OBJECTIVES = (Objective("mse", False), Objective("flops", False))


@pytest.fixture(scope="module")
def front_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tui-front") / "front.db"
    done = evolve("run", "--task-dir", FRONT_TASK, "--iterations", "12", "--workers", "1", "--seed", "4",
                  "--name", "fit", "--db", path)
    assert done.returncode == 0, done.stderr
    assert evolve("front", "fit", "--db", path).returncode == 0  # measures and caches the baselines
    from archive import Archive

    Archive(str(path)).close()  # the last connection to close folds the write-ahead log into the file we copy
    return path


@pytest.fixture
def front_db(front_template, tmp_path, monkeypatch):
    shutil.copy(front_template, tmp_path / "front.db")
    monkeypatch.chdir(tmp_path)
    return "front.db"


def test_scatter_cells_put_the_extremes_in_the_corners_and_rank_overlaps():
    points = [ScatterPoint(0.0, 0.0, "program"), ScatterPoint(10.0, 1.0, "front"), ScatterPoint(10.0, 1.0, "program"),
              ScatterPoint(5.0, 0.5, "baseline")]
    cells = scatter_cells(points, (0.0, 10.0), (0.0, 1.0), width=11, height=5)
    assert cells[(0, 4)] == (0, "program")      # bottom left
    assert cells[(10, 0)] == (1, "front")       # top right: the front member wins the shared cell
    assert cells[(5, 2)] == (3, "baseline")
    assert scatter_cells(points, (0.0, 10.0), (0.0, 1.0), 11, 5, highlight=2)[(10, 0)] == (2, "highlight")
    log = scatter_cells([ScatterPoint(1e7, 0, "program"), ScatterPoint(1e8, 0, "program"),
                         ScatterPoint(1e9, 0, "program")], (1e7, 1e9), (0, 1), 11, 1, x_log=True)
    assert sorted(c for c, _ in log) == [0, 5, 10]  # equal ratios, equal spacing


async def open_front(pilot) -> FrontScreen:
    from evolve.tui.dashboard import DashboardScreen

    await loaded(pilot)
    await pilot.press("enter")  # the campaign's dashboard
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen), what="the dashboard")
    await loaded(pilot)
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FrontScreen), what="the front screen")
    return await loaded(pilot)


async def test_front_screen_plots_programs_front_and_baselines_and_opens_code(front_db):
    app = EvolveApp(front_db)
    async with app.run_test(size=(120, 32)) as pilot:
        screen = await open_front(pilot)
        assert isinstance(screen, FrontScreen)
        archive = app.archive
        front = archive.front(1, "train", OBJECTIVES)
        programs = archive.front_points(1, "train", OBJECTIVES)
        scatter = screen.query_one(Scatter)
        baselines = screen.data.baselines
        assert screen.data.baselines_source == "measured" and [b for b, _ in baselines] == ["constant", "line",
                                                                                          "bad_cubic"]
        assert len(scatter.points) == len(programs) + len(baselines)
        best = archive.best(1)[0].id
        kinds = {p.key: scatter.points[i].kind for i, p in enumerate(programs)}
        assert kinds[best] == "best"
        assert {k for k, v in kinds.items() if v in ("front", "best")} == {m.key for m in front.members} | {best}
        table = screen.query_one("#points", DataTable)
        listed = [key for kind, key, _ in screen.rows if kind != "baseline"]
        assert listed[:len(front.members)] == [m.key for m in front.members]  # numbered as `evolve front` does
        title = " ".join(static_text(screen, "#front-title").split())
        assert f"front on train: {len(front.members)} of {len(programs)} programs" in title
        if len(front.members) > 1:  # move within the front (a front of one is followed by the baselines' rows)
            await pilot.press("down")
        assert scatter.highlight == screen.rows[table.cursor_row][2]
        target = screen.rows[table.cursor_row][1]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgramScreen), what="the program")
        program = await loaded(pilot)
        assert program.program_id == target
        await pilot.press("escape")
        await pilot.press("a")  # every program, not only the front
        await pilot.pause()
        assert len([r for r in screen.rows if r[0] != "baseline"]) == len(programs)


async def test_front_screen_snapshot(front_db):
    app = EvolveApp(front_db)
    async with app.run_test(size=(120, 32)) as pilot:
        await open_front(pilot)
        await pilot.pause()
        assert_snapshot(app, "front")


async def test_a_task_without_objectives_says_so(tmp_path, monkeypatch):
    from tui_support import TOY_TASK

    monkeypatch.chdir(tmp_path)
    assert evolve("run", "--task-dir", TOY_TASK, "--iterations", "1", "--workers", "1", "--db", "toy.db").returncode == 0
    app = EvolveApp("toy.db")
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", what="the dashboard")
        dashboard = await loaded(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert app.screen is dashboard


def test_without_measured_baselines_the_plot_uses_task_yaml_figures(front_db):
    from sqlalchemy import text

    from archive import Archive
    from evolve.tui.front import load_front

    archive = Archive(front_db)
    with archive.engine.begin() as c:
        c.execute(text("DELETE FROM baseline_evaluations"))
    data = load_front(archive, 1)
    archive.close()
    assert data.baselines_source == "task.yaml"
    assert data.baselines == [("constant", (0.09621714732637376, 2.0))]  # the only one with figures there
