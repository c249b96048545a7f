"""`evolve tui`: the application shell. Every screen reads the archive; none runs a campaign."""
from __future__ import annotations

import gc
import importlib

from textual.app import App
from textual.binding import Binding

from .campaigns import CampaignsScreen
from .help import HelpScreen


class EvolveApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "evolve"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, db: str, poll_interval: float = 1.0, cwd: str | None = None):
        super().__init__()
        from archive import Archive

        self.db = db
        self.archive = Archive(db)
        self.poll_interval = poll_interval
        self.cwd = cwd
        self.sub_title = db

    def on_mount(self) -> None:
        self.push_screen(CampaignsScreen())
        self.call_after_refresh(self._settle_heap)

    def _settle_heap(self) -> None:
        """Move everything built at start-up out of the garbage collector's reach.

        Opening a screen allocates many short-lived objects; each full collection used to walk
        the whole start-up heap (Textual, SQLAlchemy, pygments), which paused screen opens
        (bench/bench_tui.py; BENCHMARKS.md). Frozen objects are never scanned; cycles created later
        are still collected.
        """
        for screen_module in ("dashboard", "elite_map", "program", "front"):  # import now, so they are frozen too
            importlib.import_module(f"{__package__}.{screen_module}")
        gc.collect()
        gc.freeze()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def open_campaign(self, campaign_id: int) -> None:
        from .dashboard import DashboardScreen
        self.push_screen(DashboardScreen(campaign_id))

    def open_elite_map(self, campaign_id: int) -> None:
        from .elite_map import EliteMapScreen
        self.push_screen(EliteMapScreen(campaign_id))

    def open_front(self, campaign_id: int) -> None:
        from .front import FrontScreen
        self.push_screen(FrontScreen(campaign_id))

    def open_program(self, program_id: int) -> None:
        from .program import ProgramScreen
        self.push_screen(ProgramScreen(program_id))

    def on_unmount(self) -> None:
        self.archive.close()
