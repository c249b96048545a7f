"""Shared helpers for the TUI tests: a real archive from a real (tiny) campaign, pinned clocks."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
TOY_TASK = ROOT / "tests" / "fixtures" / "toy_task"
SNAPSHOTS = Path(__file__).resolve().parent / "tui" / "snapshots"
BASE = dt.datetime(2026, 1, 1, 12, 0, 0)
NOW = BASE + dt.timedelta(minutes=5)


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env


def evolve(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evolve", *map(str, args)], env=cli_env(), capture_output=True,
                          text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


def build_template(path: Path) -> Path:
    """A finished toy campaign (40 iterations, one worker: reproducible), timestamps pinned."""
    done = evolve("run", "--task-dir", TOY_TASK, "--iterations", "40", "--workers", "1", "--name", "toy",
                  "--db", path)
    assert done.returncode == 0, done.stderr
    from archive import Archive

    archive = Archive(str(path))
    with archive.engine.begin() as c:
        c.execute(text("UPDATE campaigns SET created_at=:b, updated_at=:e, finished_at=:e"),
                  {"b": BASE, "e": BASE + dt.timedelta(seconds=80)})
        c.execute(text("UPDATE programs SET created_at = datetime(:b, '+' || (iteration * 2) || ' seconds')"),
                  {"b": BASE.isoformat(sep=" ")})
        c.execute(text("UPDATE evaluations SET wall_time = 0.05, cpu_time = 0.04, created_at = "
                       "(SELECT datetime(:b, '+' || (p.iteration * 2 + 1) || ' seconds') FROM programs p "
                       "WHERE p.id = evaluations.program_id)"), {"b": BASE.isoformat(sep=" ")})
        c.execute(text("UPDATE events SET created_at = datetime(:b, '+' || (id * 2) || ' seconds')"),
                  {"b": BASE.isoformat(sep=" ")})
    archive.close()
    return path


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    return build_template(tmp_path_factory.mktemp("tui-template") / "template.db")


@pytest.fixture
def archive_db(template_db, tmp_path, monkeypatch) -> str:
    """A private copy of the template archive, opened by a relative path (stable screenshots)."""
    shutil.copy(template_db, tmp_path / "archive.db")
    monkeypatch.chdir(tmp_path)
    return "archive.db"


@pytest.fixture
def pinned_clock(monkeypatch):
    from evolve.tui import format as tui_format
    monkeypatch.setattr(tui_format, "utcnow", lambda: NOW)
    return NOW


async def loaded(pilot, screen=None, count: int = 1, timeout: float = 10.0):
    """Wait until the screen has finished `count` archive loads and rendered them."""
    screen = screen or pilot.app.screen
    for _ in range(int(timeout / 0.02)):
        if getattr(screen, "loads", 0) >= count:
            await pilot.pause()
            return screen
        await pilot.pause(0.02)
    raise AssertionError(f"{type(screen).__name__} did not load within {timeout} s")


async def wait_for(pilot, condition, timeout: float = 10.0, what: str = "condition"):
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def static_text(screen, selector: str) -> str:
    """The plain text a Static currently shows."""
    from rich.console import Console

    widget = screen.query_one(selector)
    console = Console(width=200, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(getattr(widget, "content", None) or widget.render())
    return console.export_text()


def _normalise(svg: str) -> str:
    return re.sub(r"terminal-\d+", "terminal", svg)


def assert_snapshot(app, name: str) -> None:
    """Compare the app's SVG screenshot with tests/tui/snapshots/NAME.svg (EVOLVE_UPDATE_SNAPSHOTS=1 rewrites)."""
    actual = _normalise(app.export_screenshot(title=name))
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("EVOLVE_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if not path.exists() and os.environ.get("EVOLVE_UPDATE_SNAPSHOTS") != "1":
            path.with_suffix(".actual.svg").write_text(actual)
            raise AssertionError(f"no snapshot {path}; review {path.with_suffix('.actual.svg')} and rerun "
                                 f"with EVOLVE_UPDATE_SNAPSHOTS=1")
        path.write_text(actual)
        return
    expected = path.read_text()
    if actual != expected:
        failed = path.with_suffix(".actual.svg")
        failed.write_text(actual)
        raise AssertionError(f"screenshot {name} differs from {path}; see {failed} "
                             f"(EVOLVE_UPDATE_SNAPSHOTS=1 accepts it)")
