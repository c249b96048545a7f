"""Dashboard: progress, plot, rates, failure breakdown, events; it follows the archive live."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable, ProgressBar

from evolve.tui import EvolveApp
from evolve.tui.plot import StepPlot, braille_steps
from evolve.tui.program import ProgramScreen
from evaluators.contract import EvaluationResult, Status
from tui_support import archive_db, loaded, static_text, template_db  # noqa: F401


def test_braille_steps_draws_a_rising_step_with_its_riser():
    rows = braille_steps([(0, 0.0), (5, 1.0)], (0, 10), (0, 1), width=5, height=2)
    assert len(rows) == 2 and all(len(r) == 5 for r in rows)
    bottom, top = rows[1], rows[0]
    assert bottom[0] != "\u2800" and top[0] == "\u2800"  # starts low
    assert top[-1] != "\u2800" and bottom[-1] == "\u2800"  # ends high


async def open_dashboard(pilot):
    await loaded(pilot)
    await pilot.press("enter")
    return await loaded(pilot)


@pytest.mark.slow
async def test_shows_progress_plot_breakdown_and_events(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dashboard(pilot)
        stats = app.archive.stats(1)
        bar = screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (40, 40)
        plot = screen.query_one(StepPlot)
        assert [y for _, y in plot.points] == [s for _, s, _ in app.archive.best_history(1)]
        assert plot.points[-1][1] == stats["best_score"]
        text = static_text(screen, "#stats")
        assert f"evaluated {stats['evaluated']}".split() == text.split()[:2]
        for status, count in stats["evaluations"].items():
            assert f"{status} {count}" in " ".join(text.split())
        spent = "$0.00" if hasattr(app.archive, "spend") else "-"  # the offline mutator costs nothing
        assert f"spend {spent}" in " ".join(text.split())
        rate = static_text(screen, "#rate")
        assert "40/40 iterations" in rate and "eval/s" in rate and "- eval/s" not in rate
        events = screen.query_one("#events", DataTable)
        happenings = [e for e in app.archive.events(1, 0, 1000) if e.kind != "qd"]  # snapshots are plotted
        assert events.row_count == min(50, len(happenings))
        assert "held-out" in str(events.get_row_at(0)[2])  # newest first


@pytest.mark.slow
async def test_follows_new_results_while_open(archive_db):
    app = EvolveApp(archive_db, poll_interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dashboard(pilot)
        before = screen.loads
        archive = app.archive
        program_id = archive.add_program(1, iteration=41, code="def f(x):\n    return 1/0\n", code_hash="x" * 64,
                                         parent_id=1, inspiration_ids=[], mutator="offline", operator="test",
                                         edit={}, generation=1, island=0, state="pending")
        from archive import Grid
        grid = Grid.from_specs([{"name": "bias", "range": [-1, 1], "bins": 8}])
        archive.record_training(program_id, "train", EvaluationResult.failure(Status.TIMEOUT, "too slow"),
                                  grid=grid, islands=[0])
        await loaded(pilot, screen, count=before + 1)
        text = " ".join(static_text(screen, "#stats").split())
        assert "timeout 1" in text
        assert "timeout" in str(screen.query_one("#events", DataTable).get_row_at(0)[2])


@pytest.mark.slow
async def test_enter_on_an_event_opens_its_program(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dashboard(pilot)
        table = screen.query_one("#events", DataTable)
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")
        program = await loaded(pilot)
        assert isinstance(program, ProgramScreen)
        assert program.program_id == screen.event_programs[1]


@pytest.mark.slow
async def test_qd_plot_shows_the_snapshots_then_now_and_switches_to_coverage(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dashboard(pilot)
        from evolve.campaign import Campaign

        qd = Campaign.open(app.archive, 1).quality_diversity()
        evaluated = app.archive.stats(1)["evaluated"]
        plot = screen.query_one("#qd-plot", StepPlot)
        expected = sorted([(float(h["evaluations"]), h["overall"]["qd_score"]) for h in qd["history"]]
                          + [(float(evaluated), qd["overall"]["qd_score"])])
        assert len(qd["history"]) >= 2 and plot.points == expected
        assert plot.x_max == evaluated and plot.points[-1][1] > 0  # the toy campaign improves on its seed
        box = screen.query_one("#qd-box")
        assert str(box.border_title) == "QD score"
        assert str(box.border_subtitle).endswith(f" · {100 * qd['overall']['coverage']:.0f}%")
        await pilot.press("c")
        await pilot.pause()
        assert str(box.border_title) == "coverage %"
        assert plot.points[-1] == (float(evaluated), 100 * qd["overall"]["coverage"])
        assert [y for _, y in plot.points] == sorted(y for _, y in plot.points)  # coverage never shrinks
        await pilot.press("c")
        await pilot.pause()
        assert plot.points == expected


async def test_model_table_matches_the_call_log(archive_db):
    from archive import Archive

    archive = Archive(archive_db)
    improved = [e.program_id for e in archive.events(1, 0, 1000) if e.kind in ("new_elite", "new_best")]
    others = [p for p in range(2, 41) if p not in improved]
    common = dict(iteration=1, operator="diff", tokens_in=1000, tokens_out=200, cost_usd=0.006)
    for program_id in improved[:3] + others[:3]:  # 3 of 6 used answers improved the archive
        archive.log_llm_call(1, provider="openai", model="good-model", outcome="ok", program_id=program_id, **common)
    for _ in range(4):
        archive.log_llm_call(1, provider="anthropic", model="bad-model", outcome="edit_error", **common)
    archive.close()
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await open_dashboard(pilot)
        assert screen.query_one("#models").display
        lines = [" ".join(line.split()) for line in static_text(screen, "#models").splitlines()]
        assert "openai:good-model 6 $0.0360 100% 0 3 (50%) 83.3" in lines
        assert "anthropic:bad-model 4 $0.0240 0% 0 0 (0%) 0" in lines


async def test_model_table_is_hidden_without_llm_calls(archive_db):
    app = EvolveApp(archive_db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dashboard(pilot)
        assert not screen.query_one("#models").display
