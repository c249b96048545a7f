"""One program: code, diff against its parent, metrics per split, artifacts, lineage; export it."""
from __future__ import annotations

import asyncio
import json
import os

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from archive import EvaluationRole

from .base import PollingScreen
from .data import ProgramData, load_program
from .dialogs import ExportScreen
from .format import STATUS_STYLE, fmt_score

TABS = ["code", "diff", "metrics", "artifacts", "lineage"]


class ProgramScreen(PollingScreen):
    CSS_PATH = "program.tcss"
    HELP_TITLE = "Program"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export"),
        Binding("v", "heldout", "Held-out eval"),
        Binding("p", "parent", "Parent"),
        Binding("1", "tab('code')", "Code", show=False),
        Binding("2", "tab('diff')", "Diff", show=False),
        Binding("3", "tab('metrics')", "Metrics", show=False),
        Binding("4", "tab('artifacts')", "Artifacts", show=False),
        Binding("5", "tab('lineage')", "Lineage", show=False),
    ]
    EXTRA_HELP = [("1-5", "code · diff · metrics · artifacts · lineage tabs"),
                  ("enter (lineage)", "open that ancestor")]

    def __init__(self, program_id: int):
        super().__init__()
        self.program_id = program_id
        self.data: ProgramData | None = None
        self.evaluating = False
        self._filled: set[str] = set()  # tabs rendered for the current data

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary", classes="title-bar")
        with TabbedContent(id="tabs", initial="code"):
            with TabPane("Code", id="code"):
                with ScrollableContainer():
                    yield Static("", id="code-view")
            with TabPane("Diff", id="diff"):
                with ScrollableContainer():
                    yield Static("", id="diff-view")
            with TabPane("Metrics", id="metrics"):
                with VerticalScroll():
                    yield Static("", id="metrics-view")
            with TabPane("Artifacts", id="artifacts"):
                with VerticalScroll():
                    yield Static("", id="artifacts-view")
            with TabPane("Lineage", id="lineage"):
                yield DataTable(id="lineage-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#lineage-table", DataTable)
        for column in ("program", "iter", "gen", "made by", "status", "score", "Δ"):
            table.add_column(column, key=column)
        super().on_mount()

    def token(self):
        return None

    def poll(self) -> None:
        pass  # a program never changes once stored; reload() runs after held-out re-evaluation

    def fetch(self) -> ProgramData:
        return load_program(self.app.archive, self.program_id)

    def show(self, data: ProgramData) -> None:
        self.data = data
        p, train, heldout = data.program, data.train, data.heldout
        self.sub_title = f"program #{p.id}"
        summary = Text.assemble(
            (f"#{p.id}", "bold"), f"  {data.campaign.name}  iter {p.iteration}  gen {p.generation}  island {p.island}  ",
            (f"{p.mutator}/{p.operator}", "cyan"), "  train ",
            (fmt_score(train.score) if train and train.status == "ok" else (train.status if train else p.state),
             "bold" if train and train.status == "ok" else STATUS_STYLE.get(train.status if train else "", "dim")),
            "  held-out ", (fmt_score(heldout.score) if heldout else "-", "bold magenta" if heldout else "dim"))
        self.query_one("#summary", Static).update(summary)
        # Only the visible tab is rendered now; the others fill in when first opened, so a
        # screen with a long lineage opens as fast as one without.
        self._filled.clear()
        self._fill(self.query_one(TabbedContent).active)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.data is not None and event.pane.id not in self._filled:
            self._fill(event.pane.id)

    def _fill(self, tab: str) -> None:
        data, p = self.data, self.data.program
        if tab == "code":
            code = p.code if p.code is not None else f"# no code: the edit failed\n# {p.edit.get('error', '')}\n"
            self.query_one("#code-view", Static).update(Syntax(code, "python", line_numbers=True, word_wrap=False,
                                                               theme="monokai"))
        elif tab == "diff":
            diff = data.diff()
            self.query_one("#diff-view", Static).update(
                Syntax(diff, "diff", theme="monokai") if diff else
                Text("the seed program has no parent" if p.parent_id is None else "identical to its parent",
                     style="dim"))
        elif tab == "metrics":
            self.query_one("#metrics-view", Static).update(self._metrics(data))
        elif tab == "artifacts":
            self.query_one("#artifacts-view", Static).update(self._artifacts(data))
        elif tab == "lineage":
            self._lineage(data)
        self._filled.add(tab)

    def _metrics(self, data: ProgramData) -> Table:
        spec = data.task.spec
        evaluations = data.evaluations
        table = Table(box=None, padding=(0, 1), header_style="bold")
        table.add_column("metric")
        for e in evaluations:
            label = ("train" if e.role == EvaluationRole.TRAIN else "validation" if e.role == EvaluationRole.VALIDATION
                     else "held-out" if e.split == spec.heldout_split else e.split)
            table.add_column(f"{label} ({e.split})", justify="right")
        table.add_column("better", style="dim")
        if not evaluations:
            return Table.grid()
        table.add_row("status", *[Text(e.status, style=STATUS_STYLE.get(e.status, "")) for e in evaluations], "")
        table.add_row(Text("score", style="bold"), *[Text(fmt_score(e.score, 6), style="bold") for e in evaluations],
                      "higher")
        names: list[str] = []
        for e in evaluations:
            names += [n for n in e.metrics if n not in names]
        for name in names:
            metric = spec.metrics.get(name)
            better = ("lower" if metric.direction == "minimize" else "higher") if metric else ""
            unit = f" {metric.unit}" if metric and metric.unit else ""
            table.add_row(name + unit, *[fmt_score(e.metrics.get(name), 6) for e in evaluations], better)
        descriptors = data.train.descriptors if data.train else {}
        for name, value in (descriptors or {}).items():
            table.add_row(Text(f"descriptor {name}", style="dim"), fmt_score(value, 5),
                          *["" for _ in evaluations[1:]], "")
        table.add_row("wall time s", *[f"{e.wall_time:.2f}" for e in evaluations], "")
        if data.heldout is None and spec.heldout_split in spec.splits:
            table.caption = f"not evaluated on {spec.heldout_split!r} yet: press v"
        return table

    def _artifacts(self, data: ProgramData):
        from rich.console import Group

        parts = []
        for e in data.evaluations:
            artifacts = dict(e.artifacts or {})
            if not artifacts:
                continue
            parts.append(Text(f"── {e.split} ({e.status}) ──", style="bold"))
            for key in ("message", "stderr_tail", "traceback"):
                value = artifacts.pop(key, None)
                if value:
                    parts.append(Text(key, style="bold cyan"))
                    parts.append(Text(str(value).rstrip(), style="red" if key == "traceback" else ""))
            worst = artifacts.pop("worst_cases", None)
            if worst:
                parts.append(Text("worst cases", style="bold cyan"))
                parts.append(Text(json.dumps(worst, indent=1, default=str)[:4000]))
            for key, value in artifacts.items():
                parts.append(Text(key, style="bold cyan"))
                parts.append(Text(json.dumps(value, indent=1, default=str)[:2000]))
        edit = data.program.edit or {}
        if edit:
            parts.append(Text("── edit ──", style="bold"))
            parts.append(Text(json.dumps(edit, indent=1, default=str)[:4000]))
        return Group(*parts) if parts else Text("no artifacts recorded", style="dim")

    def _lineage(self, data: ProgramData) -> None:
        table = self.query_one("#lineage-table", DataTable)
        table.clear()
        rows = data.lineage
        for i, r in enumerate(rows):
            parent_score = rows[i + 1]["score"] if i + 1 < len(rows) else None
            delta = "" if r["score"] is None or parent_score is None else f"{r['score'] - parent_score:+.4g}"
            status = r["status"] or r["state"]
            table.add_row(f"#{r['program_id']}", str(r["iteration"]), str(r["generation"]),
                          f"{r['mutator']}/{r['operator']}", Text(status, style=STATUS_STYLE.get(status, "dim")),
                          fmt_score(r["score"]), Text(delta, style="green" if delta.startswith("+") else "red"),
                          key=str(r["program_id"]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "lineage-table" and event.row_key.value:
            program_id = int(event.row_key.value)
            if program_id != self.program_id:
                self.app.open_program(program_id)

    # ---- actions -------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_parent(self) -> None:
        if self.data and self.data.program.parent_id:
            self.app.open_program(self.data.program.parent_id)
        else:
            self.notify("the seed program has no parent", severity="warning")

    def action_export(self) -> None:
        if self.data is None:
            return
        if self.data.program.code is None:
            self.notify("this program has no code to export (its edit failed)", severity="error")
            return
        default = os.path.join(self.app.cwd or os.getcwd(), f"{self.data.task.name}_p{self.program_id}.py")

        def chosen(answer) -> None:
            if answer:
                self._export(*answer)

        self.app.push_screen(ExportScreen(default, self.program_id), chosen)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, path: str, with_test: bool) -> None:
        from ..errors import UserError
        from ..export.module import export_program

        if with_test:
            self.app.call_from_thread(self.notify, "exporting: recording input/output pairs (a few seconds)…")
        try:
            done = export_program(self.data.campaign, self.program_id, path, with_test=with_test)
        except (UserError, ValueError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title="export failed", severity="error", timeout=12)
            return
        extra = f" and {done.test.name} ({done.cases} cases)" if done.test else ""
        self.app.call_from_thread(self.notify, f"wrote {done.module}, {done.sidecar.name}{extra}",
                                  title="exported", timeout=10)

    def action_heldout(self) -> None:
        if self.data is None or self.evaluating:
            return
        spec = self.data.task.spec
        if spec.heldout_split not in spec.splits:
            self.notify(f"task {self.data.task.name} has no held-out split", severity="warning")
            return
        if self.data.program.code is None:
            self.notify("this program has no code (its edit failed)", severity="error")
            return
        self.evaluating = True
        self.notify(f"evaluating #{self.program_id} on {spec.heldout_split!r} in a sandbox…")
        self._evaluate_heldout()

    @work(thread=True, exclusive=True, group="heldout")
    def _evaluate_heldout(self) -> None:
        data = self.data
        split = data.task.spec.heldout_split
        try:
            evaluation = asyncio.run(data.campaign.evaluate_report(self.program_id, split))
            message = f"{split}: {evaluation.status}, score {fmt_score(evaluation.score, 6)}"
            self.app.call_from_thread(self.notify, message, title=f"program #{self.program_id}")
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", title="held-out evaluation failed",
                                      severity="error", timeout=12)
        finally:
            self.evaluating = False
            self.app.call_from_thread(self.reload)
