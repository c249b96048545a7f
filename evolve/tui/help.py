"""`?`: the keys of the screen underneath, with what they do."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GLOBAL = [("?", "this help"), ("q", "quit (campaigns keep running)"), ("escape", "back / close"),
          ("tab / shift+tab", "move focus"), ("mouse", "click rows, cells, tabs and buttons")]


def screen_keys(screen: Screen) -> list[tuple[str, str]]:
    keys = []
    for binding in getattr(screen, "BINDINGS", []):
        if isinstance(binding, Binding) and binding.description:
            keys.append((binding.key_display or binding.key, binding.description))
        elif isinstance(binding, tuple) and len(binding) >= 3:
            keys.append((binding[0], binding[2]))
    return keys + list(getattr(screen, "EXTRA_HELP", []))


class HelpScreen(ModalScreen):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", show=False)]

    def __init__(self, under: Screen):
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        title = getattr(self.under, "HELP_TITLE", type(self.under).__name__)
        table.add_row(f"[b]{title}[/b]", "")
        for key, what in screen_keys(self.under):
            table.add_row(key, what)
        table.add_row("", "")
        table.add_row("[b]everywhere[/b]", "")
        for key, what in GLOBAL:
            table.add_row(key, what)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "keys"
            box.border_subtitle = "escape closes"
            yield Static(table)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()
