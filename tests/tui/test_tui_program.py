"""Program view: code, diff, metrics per split, artifacts, lineage; export and held-out re-run."""
from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, TabbedContent

from evolve.tui import EvolveApp
from evolve.tui.program import ProgramScreen
from tui_support import archive_db, loaded, static_text, template_db, wait_for  # noqa: F401


def deepest(archive) -> int:
    """An evaluated program with the longest lineage."""
    best = max((p for p in range(2, 60)), key=lambda p: len(archive.lineage_rows(p)) if _ok(archive, p) else -1)
    return best


def _ok(archive, program_id):
    try:
        evaluation = archive.evaluation(program_id, "train")
    except Exception:
        return False
    return evaluation is not None and evaluation.status == "ok"


async def open_program(app, pilot, program_id) -> ProgramScreen:
    await loaded(pilot)
    app.open_program(program_id)
    await pilot.pause()
    return await loaded(pilot)


@pytest.mark.slow
async def test_code_diff_metrics_and_lineage(archive_db):
    app = EvolveApp(archive_db)
    program_id = deepest(app.archive)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_program(app, pilot, program_id)
        program = app.archive.program(program_id)
        parent = app.archive.program(program.parent_id)
        code = static_text(screen, "#code-view")
        assert "def f(x)" in code
        await pilot.press("2")
        assert screen.query_one(TabbedContent).active == "diff"
        diff = screen.data.diff()
        assert diff.startswith(f"--- program #{parent.id} (parent)")
        assert any(line.startswith("+") and not line.startswith("+++") for line in diff.splitlines())
        await pilot.press("3")
        metrics = " ".join(static_text(screen, "#metrics-view").split())
        train = app.archive.evaluation(program_id, "train")
        assert "train (train)" in metrics and f"mse {train.metrics['mse']:.6g}" in metrics
        await pilot.press("5")
        table = screen.query_one("#lineage-table", DataTable)
        lineage = app.archive.lineage_rows(program_id)
        assert table.row_count == len(lineage) >= 2
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [f"#{r['program_id']}" for r in lineage]
        assert str(table.get_row_at(0)[3]) == f"{program.mutator}/{program.operator}"
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")
        ancestor = await loaded(pilot)
        assert isinstance(ancestor, ProgramScreen) and ancestor.program_id == lineage[1]["program_id"]


async def test_artifacts_of_a_crashed_program(archive_db):
    app = EvolveApp(archive_db)
    from archive import Grid, ProgramState
    from archive.schema import Evaluation
    from evaluators.contract import EvaluationResult, Status

    seed = app.archive.seed_program(1)
    program_id = app.archive.add_program(  # the template campaign's offline children no longer crash: make one
        1, iteration=10_000, code=seed.code.replace("return", "return 1 / 0 +", 1), code_hash="crashed",
        parent_id=seed.id, inspiration_ids=[], mutator="test", operator="crash", edit={}, generation=1, island=0,
        state=ProgramState.PENDING)
    app.archive.record_training(program_id, "train", EvaluationResult.failure(
        Status.CRASHED, "ZeroDivisionError: division by zero", traceback="Traceback ...\nZeroDivisionError"),
        grid=Grid(()), islands=[0])  # a failure takes no cell
    with app.archive.session() as s:
        crashed = s.get(Evaluation, app.archive.training_evaluation(program_id).id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_program(app, pilot, crashed.program_id)
        await pilot.press("4")
        text = static_text(screen, "#artifacts-view")
        message = crashed.artifacts.get("message") or crashed.artifacts.get("traceback")
        assert message and message.strip().splitlines()[0][:40] in text


async def test_export_from_the_program_view(archive_db, tmp_path):
    app = EvolveApp(archive_db, cwd=str(tmp_path))
    program_id = deepest(app.archive)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_program(app, pilot, program_id)
        await pilot.press("e")
        await pilot.pause()
        assert type(app.screen).__name__ == "ExportScreen"
        app.screen.query_one("#with-test").value = False
        app.screen.query_one("#path").value = str(tmp_path / "fit.py")
        await pilot.click("#export")
        await wait_for(pilot, lambda: (tmp_path / "fit.json").exists(), what="the export")
    sidecar = json.loads((tmp_path / "fit.json").read_text())
    assert sidecar["program"]["id"] == program_id
    assert "EVOLVE-BLOCK" not in (tmp_path / "fit.py").read_text()


@pytest.mark.slow
async def test_reevaluate_on_heldout_stores_the_result(archive_db):
    app = EvolveApp(archive_db)
    program_id = deepest(app.archive)
    assert app.archive.evaluation(program_id, "heldout") is None
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_program(app, pilot, program_id)
        await pilot.press("v")
        await loaded(pilot, screen, count=2, timeout=120)
        heldout = app.archive.evaluation(program_id, "heldout")
        assert heldout is not None and heldout.status == "ok"
        assert screen.data.heldout.score == heldout.score
        await pilot.press("3")
        assert "held-out (heldout)" in static_text(screen, "#metrics-view")
