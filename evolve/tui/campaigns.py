"""The home screen: every campaign in the archive; open, resume, stop, new."""
from __future__ import annotations

from rich.text import Text
from archive import CampaignState
from archive.db import display_url
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static


from .base import PollingScreen
from .data import CampaignRow, load_campaigns
from .dialogs import ConfirmScreen
from .format import ago, fmt_score, fmt_usd, liveness_text


class CampaignsScreen(PollingScreen):
    CSS_PATH = "campaigns.tcss"
    HELP_TITLE = "Campaigns"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("m", "elite_map", "Elite map"),
        Binding("n", "new", "New"),
        Binding("r", "resume", "Resume"),
        Binding("s", "stop", "Stop"),
    ]
    EXTRA_HELP = [("enter / click", "open the campaign's dashboard"),
                  ("stale", "running but not heard from lately: resume it")]

    def __init__(self):
        super().__init__()
        self.rows: list[CampaignRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary", classes="title-bar")
        table = DataTable(id="campaigns", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("No campaigns yet. Press [b]n[/b] to start one, or run `evolve run TASK --db …`.",
                     id="empty", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("id", key="id")
        table.add_column("campaign", key="name")
        table.add_column("task", key="task")
        table.add_column("state", key="state")
        table.add_column("progress", key="progress")
        table.add_column("evals", key="evals")
        table.add_column("best", key="best")
        table.add_column("spend", key="spend")
        table.add_column("started", key="started")
        super().on_mount()

    def token(self):
        return None  # campaign rows are few; always refresh

    def fetch(self):
        return load_campaigns(self.app.archive)

    def show(self, rows: list[CampaignRow]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        selected = self.selected()
        table.clear()
        for r in rows:
            table.add_row(str(r.id), r.name, r.task, liveness_text(r.liveness),
                          f"{r.iterations_done}/{r.iterations}", str(r.evaluated), fmt_score(r.best_score),
                          fmt_usd(r.spend_usd), ago(r.created_at), key=str(r.id))
        if selected is not None:
            index = next((i for i, r in enumerate(rows) if r.id == selected.id), None)
            if index is not None:
                table.move_cursor(row=index)
        running = sum(r.state == CampaignState.RUNNING for r in rows)
        self.query_one("#summary", Static).update(
            Text.assemble((f"{len(rows)} campaign(s)", "bold"), f" · {running} running · ", (display_url(self.app.db), "dim")))
        self.query_one("#empty").display = not rows
        table.display = bool(rows)
        if rows and self.focused is None:
            table.focus()

    def selected(self) -> CampaignRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self.selected()
        if row:
            self.app.open_campaign(row.id)

    def action_elite_map(self) -> None:
        row = self.selected()
        if row:
            self.app.open_elite_map(row.id)

    def action_new(self) -> None:
        from .new_campaign import NewCampaignScreen

        def launched(campaign_id: int | None) -> None:
            self.reload()
            if campaign_id is not None:
                self.app.open_campaign(campaign_id)

        self.app.push_screen(NewCampaignScreen(), launched)

    def action_stop(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.state != CampaignState.RUNNING:
            self.notify(f"campaign {row.name} is not running (state: {row.state})", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.archive.request_stop(row.id)
                self.notify(f"stop requested: {row.name} finishes the evaluations in flight, then stops")
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Stop campaign {row.name}? It finishes the evaluations in flight; "
                                           f"`r` resumes it later.", yes="Stop"), confirmed)

    def action_resume(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.alive:
            self.notify(f"campaign {row.name} is running {row.liveness.where()}, {row.liveness.seen()}; stop it "
                        f"first", severity="error")
            return
        if row.state == CampaignState.FINISHED and row.iterations_done >= row.iterations:
            self.notify(f"campaign {row.name} finished its {row.iterations} iterations; nothing to resume",
                        severity="warning")
            return
        self._resume(row)

    @work(thread=True, exclusive=True, group="launch")
    def _resume(self, row: CampaignRow) -> None:
        from .launch import launch_resume

        launched = launch_resume(row.id, self.app.db, self.app.cwd)
        self.app.call_from_thread(self.notify, f"resuming {row.name} (process {launched.process.pid}); "
                                               f"log: {launched.log}")
        error = launched.wait_running(self.app.archive, row.id)
        if error:
            self.app.call_from_thread(self.notify, f"resume failed: {error}", severity="error", timeout=12)
        self.app.call_from_thread(self.reload)
