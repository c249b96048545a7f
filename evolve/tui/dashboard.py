"""One campaign, live: progress, best score over time, rates, failures, spend, recent events."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from archive import CampaignState, ProgramState

from ..best import selected_best
from .base import PollingScreen
from .data import DashboardData, load_dashboard
from .dialogs import ConfirmScreen
from .format import STATUS_STYLE, ago, fmt_duration, fmt_score, fmt_usd, state_text
from .plot import StepPlot


EVENT_WIDTH = 56  # fits the panel at 80 columns beside the time and program columns


def describe_event(event) -> Text:
    data = event.data or {}
    kind = event.kind
    if kind == "new_best":
        return Text.assemble(("new best ", "bold green"), f"{fmt_score(data.get('score'))} in cell {data.get('cell')}")
    if kind == "new_elite":
        return Text.assemble(("new elite ", "cyan"), f"{fmt_score(data.get('score'))} in cell {data.get('cell')}")
    if kind == "failure":
        status = data.get("status", "?")
        return Text.assemble((f"{status} ", STATUS_STYLE.get(status, "red")), str(data.get("message", ""))[:120])
    if kind == "duplicate":
        return Text(f"duplicate of #{data.get('duplicate_of')}", style="dim")
    if kind == "functional_duplicate":
        return Text(f"same outputs as #{data.get('duplicate_of')} on the probe inputs", style="dim")
    if kind == "cut":
        return Text.assemble(("cut ", "yellow"), f"at stage {data.get('stage')}: {fmt_score(data.get('score'))} "
                                                 f"below {fmt_score(data.get('threshold'))}")
    if kind == "failed_edit":
        return Text.assemble(("edit failed ", "yellow"), str(data.get("error") or "")[:120])
    if kind == "migration":
        return Text(f"migration round {data.get('round')}: {len(data.get('moved', []))} elite(s) moved", style="dim")
    if kind == "heldout_report":
        best = data.get("best", {})
        return Text.assemble(("held-out ", "bold magenta"), f"{data.get('split')}: score {fmt_score(best.get('score'))}")
    return Text(f"{kind} {data}"[:140])


class DashboardScreen(PollingScreen):
    CSS_PATH = "dashboard.tcss"
    HELP_TITLE = "Campaign dashboard"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("m", "elite_map", "Elite map"),
        Binding("b", "best", "Best program"),
        Binding("f", "front", "Objectives: the Pareto front, the baselines, every program", show=False),
        Binding("s", "stop", "Stop"),
        Binding("c", "qd_metric", "QD plot: switch between QD score and coverage", show=False),
    ]
    EXTRA_HELP = [("enter", "open the program of the selected event")]

    def __init__(self, campaign_id: int):
        super().__init__()
        self.campaign_id = campaign_id
        self.data: DashboardData | None = None
        self.event_programs: list[int | None] = []
        self.qd_metric = "qd_score"  # or "coverage": what the QD plot shows ("c" switches)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="headline", classes="title-bar")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="rate")
        with Horizontal(id="middle"):
            with Vertical(id="plot-box", classes="panel") as box:
                box.border_title = "best score"
                yield StepPlot(id="plot")
            with Vertical(id="qd-box", classes="panel") as box:
                box.border_title = "QD score"
                yield StepPlot(id="qd-plot", x_label="evals", style="bold cyan", empty_message="no QD figures yet",
                               y_min=0.0)
            yield Static("", id="stats", classes="panel")
        yield Static("", id="models", classes="panel")
        events = DataTable(id="events", cursor_type="row", classes="panel")
        events.border_title = "recent events"
        yield events
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#events", DataTable)
        table.add_column("when", key="when", width=9)
        table.add_column("program", key="program", width=7)
        # A fixed width: an auto-sized column measured during a reload under load came out at its label's width.
        table.add_column("event", key="event", width=EVENT_WIDTH)
        self.query_one("#stats").border_title = "evaluations"
        models = self.query_one("#models")
        models.border_title = "LLM models"
        models.display = False
        super().on_mount()

    def token(self):
        return self.app.archive.change_token(self.campaign_id)

    def fetch(self) -> DashboardData:
        return load_dashboard(self.app.archive, self.campaign_id)

    def show(self, data: DashboardData) -> None:
        self.data = data
        c, s = data.campaign, data.stats
        self.sub_title = c.name
        head = Text.assemble((c.name, "bold"), "  ", (c.task_name, "cyan"), "  ", state_text(c.state, data.alive),
                             f"  ·  running for {fmt_duration(data.elapsed_s)}" if data.alive
                             else f"  ·  took {fmt_duration(data.elapsed_s)}")
        if c.message:
            head.append(f"  ·  {c.message}", style="dim")
        self.query_one("#headline", Static).update(head)
        self.query_one("#progress", ProgressBar).update(total=c.iterations, progress=s["iterations_done"])
        rate = "-" if data.rate is None else f"{data.rate:.2f}"
        self.query_one("#rate", Static).update(
            Text.assemble((f"{s['iterations_done']}/{c.iterations}", "bold"), " iterations  ",
                          (rate, "bold"), " eval/s"))
        self.query_one("#plot", StepPlot).set_data([(float(i), v) for i, v in data.history],
                                                   float(max(s["iterations_done"], 1)))
        self.query_one("#plot-box").border_subtitle = f"now {fmt_score(s['best_score'])}"
        self.query_one("#stats", Static).update(self._stats_table(data))
        self._show_qd(data)
        self._models(data.models)
        self._events(data.events)

    def _show_qd(self, data: DashboardData) -> None:
        """QD score (or coverage, in %) of the whole archive over training evaluations: snapshots, then now."""
        plot, box, qd = self.query_one("#qd-plot", StepPlot), self.query_one("#qd-box"), data.qd
        coverage = self.qd_metric == "coverage"
        box.border_title = "coverage %" if coverage else "QD score"
        if not qd or qd["offset"] is None:
            plot.set_data([], 1.0)
            box.border_subtitle = ""
            return

        def value(overall: dict) -> float:
            return 100 * overall["coverage"] if coverage else overall["qd_score"]

        evaluated = float(max(data.stats["evaluated"], 1))
        points = [(float(h["evaluations"]), value(h["overall"])) for h in qd["history"] if h.get("overall")]
        points.append((evaluated, value(qd["overall"])))
        plot.set_data(points, evaluated)
        overall = qd["overall"]
        box.border_subtitle = f"now {fmt_score(overall['qd_score'], 3)} · {100 * overall['coverage']:.0f}%"

    def action_qd_metric(self) -> None:
        self.qd_metric = "qd_score" if self.qd_metric == "coverage" else "coverage"
        if self.data is not None:
            self._show_qd(self.data)

    def _models(self, models: list[dict]) -> None:
        """Per-model calls, spend, ok-rate and improvements (hidden without LLM calls)."""
        box = self.query_one("#models", Static)
        box.display = bool(models)
        if not models:
            return
        usd = models[0]["cost_unit"] == "usd"
        table = Table(box=None, padding=(0, 1), expand=True, header_style="dim")
        table.add_column("model", overflow="ellipsis", no_wrap=True, ratio=1)
        for column in ("calls", "spend", "ok", "pending", "improved", "per $" if usd else "per Mtok"):
            table.add_column(column, justify="right", no_wrap=True)
        for m in models:
            rate = "-" if m["improvement_rate"] is None else f"{m['improved']} ({100 * m['improvement_rate']:.0f}%)"
            per = m["improved_per_unit"]
            table.add_row(f"{m['provider']}:{m['model']}", str(m["calls"]),
                          f"${m['usd']:.4f}" if usd else f"{m['tokens']} tok",
                          "-" if m["ok_rate"] is None else f"{100 * m['ok_rate']:.0f}%", str(m["pending"]), rate,
                          "-" if per is None else f"{per:.3g}")
        box.update(table)

    def _stats_table(self, data: DashboardData) -> Table:
        s = data.stats
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column(justify="right")
        table.add_row("evaluated", str(s["evaluated"]))
        for status, count in sorted(s["evaluations"].items(), key=lambda kv: (kv[0] != "ok", kv[0])):
            share = f"{100 * count / max(1, s['evaluated']):.0f}%"
            table.add_row(Text(f"  {status}", style=STATUS_STYLE.get(status, "")), f"{count} {share:>4}")
        programs = s["programs"]
        table.add_row("duplicates", str(programs.get(ProgramState.DUPLICATE, 0)))
        for state, label in ((ProgramState.FUNCTIONAL_DUPLICATE, "same behaviour"), (ProgramState.CUT, "cut at a stage")):
            if programs.get(state):  # only for tasks with a probe split / cascade stages
                table.add_row(label, str(programs[state]))
        table.add_row("failed edits", str(programs.get(ProgramState.FAILED_EDIT, 0)))
        table.add_row("in flight", str(programs.get(ProgramState.PENDING, 0)))
        table.add_row("cells filled", str(s["cells_filled"]))
        table.add_row("spend", fmt_usd(data.spend_usd))
        return table

    def _events(self, events) -> None:
        table = self.query_one("#events", DataTable)
        row = table.cursor_row
        table.clear()
        self.event_programs = []
        for e in events:
            table.add_row(ago(e.created_at).replace(" ago", ""), f"#{e.program_id}" if e.program_id else "-",
                          describe_event(e))
            self.event_programs.append(e.program_id)
        if events and row is not None:
            table.move_cursor(row=min(row, len(events) - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.event_programs) and self.event_programs[index]:
            self.app.open_program(self.event_programs[index])

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_elite_map(self) -> None:
        self.app.open_elite_map(self.campaign_id)

    def action_front(self) -> None:
        from ..campaign import Campaign

        task = Campaign.open(self.app.archive, self.campaign_id).task
        if len(task.spec.objectives) < 2:
            self.notify(f"task {task.name} declares no objectives, so it has no front", severity="warning")
            return
        self.app.open_front(self.campaign_id)

    def action_best(self) -> None:
        archive = self.app.archive
        selected = selected_best(archive, archive.campaign(self.campaign_id))  # what `evolve best` shows
        if selected is None:
            self.notify("no successfully evaluated program yet", severity="warning")
            return
        self.app.open_program(selected.program.id)

    def action_stop(self) -> None:
        campaign = self.app.archive.campaign(self.campaign_id)
        if campaign.state != CampaignState.RUNNING:
            self.notify(f"campaign {campaign.name} is not running (state: {campaign.state})", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.archive.request_stop(self.campaign_id)
                self.notify(f"stop requested: {campaign.name} finishes the evaluations in flight, then stops")
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Stop campaign {campaign.name}?", yes="Stop"), confirmed)
