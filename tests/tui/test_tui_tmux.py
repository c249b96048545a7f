"""The real thing in a real terminal: `evolve tui` in tmux (80x24) on a campaign that is running."""
from __future__ import annotations

import re
import os
import shutil
import subprocess
import sys
import time

import pytest

from tui_support import ROOT, TOY_TASK, cli_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None and os.environ.get("CI") != "true",
                                reason="needs tmux (CI installs it with apt; there this test never skips)")


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                          check=True).stdout


def wait_screen(session: str, pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared; the screen was:\n{screen}")


def keys(session: str, *names: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *names], check=True)


@pytest.mark.slow
def test_tui_on_a_running_campaign(tmp_path):
    db = tmp_path / "live.db"
    env = cli_env()
    run = subprocess.Popen([sys.executable, "-m", "evolve", "run", "--task-dir", str(TOY_TASK), "--iterations",
                            "100000", "--workers", "1", "--name", "live", "--db", str(db)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    session = f"evolve-tui-{run.pid}"
    try:
        from archive import Archive
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.exists():
                archive = Archive(str(db))
                if len(archive.elites(1)) >= 2:
                    break
            time.sleep(0.3)
        else:
            raise AssertionError("the campaign never filled two cells")
        env_args = [f"PYTHONPATH={env['PYTHONPATH']}"]
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                        "env", *env_args, sys.executable, "-m", "evolve", "tui", "--db", str(db), "--poll", "0.5"],
                       check=True, cwd=ROOT)
        screen = wait_screen(session, r"live\s+toy_fit\s+running")
        first = int(re.search(r"running[^\n]*?(\d+)/100000", screen).group(1))
        keys(session, "Enter")
        screen = wait_screen(session, r"\d+/100000 iterations")
        assert "best score" in screen and "recent events" in screen
        time.sleep(1.5)  # the campaign moves on and the dashboard follows it
        later = int(re.search(r"(\d+)/100000 iterations", capture(session)).group(1))
        assert later > first
        keys(session, "m")
        screen = wait_screen(session, r"elites of live")
        assert re.search(r"x bias\s+·\s+y code_size", screen) and re.search(r"\d+/64 filled", screen)
        program = int(re.search(r"program\s+#(\d+)", screen).group(1))
        keys(session, "Enter")
        screen = wait_screen(session, rf"#{program}\s+live\s+iter")
        assert "Code" in screen and "Lineage" in screen and "def f(x" in screen
        keys(session, "5")
        wait_screen(session, rf"#{program}\s+\d+\s+\d+\s+\w+/\w+")  # the lineage table, this program first
        keys(session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["tmux", "has-session", "-t", session],
                                                             capture_output=True).returncode == 0:
            time.sleep(0.2)
        assert run.poll() is None, "closing the TUI must not stop the campaign"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        run.terminate()
        run.wait(timeout=60)
