"""The objectives screen: every program on the task's two first objectives, the Pareto front, the
baselines and the selected best program; the list beside the plot opens any program's code."""
from __future__ import annotations

import dataclasses
import hashlib

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Static

from archive.pareto import Objective, Point, hypervolume, nondominated

from .base import PollingScreen
from .format import fmt_score
from .scatter import MARKERS, Scatter, ScatterPoint


@dataclasses.dataclass
class FrontData:
    campaign: str
    split: str
    objectives: tuple[Objective, ...]
    programs: list[Point]            # every program evaluated ok on the split, by id
    front: list[int]                 # program ids on the front
    best: int | None
    baselines: list[tuple[str, tuple[float, ...]]]
    baselines_source: str            # "measured" (cached by `evolve front`), "task.yaml" or ""
    hypervolume: float


def load_front(archive, campaign_id: int) -> FrontData:
    from ..campaign import Campaign
    from ..front import front_split, objectives_of, reference_of

    campaign = Campaign.open(archive, campaign_id)
    task = campaign.task
    objectives, split = objectives_of(task), front_split(task)
    programs = archive.front_points(campaign_id, split, objectives)
    members, _ = nondominated(programs, objectives)
    best = archive.best(campaign_id)
    baselines, sources = [], set()
    names = [o.metric for o in objectives]
    for name in task.spec.baselines:  # the figures `evolve front` measured and cached, else task.yaml's
        code_hash = hashlib.sha256(task.baseline_code(name).encode()).hexdigest()
        row = archive.baseline_evaluation(campaign_id, name, split, code_hash)
        metrics, this = (row.metrics, "measured") if row is not None and row.status == "ok" else \
            (task.spec.baselines[name].measured.get(split, {}), "task.yaml")
        if all(n in (metrics or {}) for n in names):
            baselines.append((name, tuple(float(metrics[n]) for n in names)))
            sources.add(this)
    return FrontData(campaign=campaign.name, split=split, objectives=objectives, programs=programs,
                     front=[m.key for m in members], best=best[0].id if best else None, baselines=baselines,
                     baselines_source=" / ".join(sorted(sources)),
                     hypervolume=hypervolume(members, objectives, reference_of(task)))


class FrontScreen(PollingScreen):
    CSS_PATH = "front.tcss"
    HELP_TITLE = "Objectives and Pareto front"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "all_programs", "Front only / all"),
    ]
    EXTRA_HELP = [("up / down", "select a point (highlighted in the plot)"), ("enter", "open the program's code"),
                  ("markers", "● front  ★ best score  ◆ baseline  · other programs")]

    def __init__(self, campaign_id: int):
        super().__init__()
        self.campaign_id = campaign_id
        self.data: FrontData | None = None
        self.rows: list[tuple[str, int | str, int]] = []  # (kind, program id or baseline name, scatter index)
        self.show_all = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="front-title", classes="title-bar")
        with Horizontal(id="front-body"):
            with Vertical(id="scatter-box", classes="panel") as box:
                box.border_title = "objectives"
                yield Scatter(id="scatter")
            table = DataTable(id="points", cursor_type="row", classes="panel")
            table.border_title = "front"
            yield table
        yield Footer()

    def token(self):
        return self.app.archive.change_token(self.campaign_id)

    def fetch(self) -> FrontData:
        return load_front(self.app.archive, self.campaign_id)

    def show(self, data: FrontData) -> None:
        self.data = data
        objectives = data.objectives
        y, x = objectives[0], objectives[1]
        arrows = ["↑" if o.maximize else "↓" for o in objectives]
        self.query_one("#front-title", Static).update(Text.assemble(
            (data.campaign, "bold"), f"  ·  front on {data.split}: ", (str(len(data.front)), "bold"),
            f" of {len(data.programs)} programs  ·  hypervolume ", (fmt_score(data.hypervolume, 4), "bold"),
            f"  ·  baselines: {data.baselines_source or 'none'}"))
        on_front = set(data.front)
        points, self.rows = [], []
        by_id = {p.key: p for p in data.programs}

        def kind_of(program_id: int) -> str:
            return "best" if program_id == data.best else "front" if program_id in on_front else "program"

        for p in data.programs:
            points.append(ScatterPoint(p.values[1], p.values[0], kind_of(p.key)))
        index_of = {p.key: i for i, p in enumerate(data.programs)}
        for name, values in data.baselines:
            points.append(ScatterPoint(values[1], values[0], "baseline"))
        listed = [pid for pid in data.front]
        if data.best is not None and data.best not in on_front and data.best in by_id:
            listed.append(data.best)
        if self.show_all:
            listed += [p.key for p in data.programs if p.key not in on_front and p.key != data.best]
        table = self.query_one("#points", DataTable)
        row = table.cursor_row
        table.clear(columns=not table.columns or len(table.columns) != len(objectives) + 2)
        if not table.columns:  # fixed widths: auto-sized columns measured while rows load come out too narrow
            table.add_column("", key="marker", width=1)
            table.add_column("point", key="point", width=17)
            for o, arrow in zip(objectives, arrows):
                label = f"{o.metric} {arrow}"
                table.add_column(label, key=o.metric, width=min(20, max(9, len(label))))
        front_order = {pid: i for i, pid in enumerate(self._front_order(data))}
        listed.sort(key=lambda pid: (pid not in front_order, front_order.get(pid, 0), pid))
        for pid in listed:
            kind = kind_of(pid)
            marker, style = MARKERS[kind]
            label = f"#{pid}" + (f" (point {front_order[pid]})" if pid in front_order else "")
            table.add_row(Text(marker, style=style), label, *(fmt_score(v, 4) for v in by_id[pid].values))
            self.rows.append((kind, pid, index_of[pid]))
        for i, (name, values) in enumerate(data.baselines):
            marker, style = MARKERS["baseline"]
            table.add_row(Text(marker, style=style), Text(name, style="magenta"), *(fmt_score(v, 4) for v in values))
            self.rows.append(("baseline", name, len(data.programs) + i))
        table.border_title = "all programs" if self.show_all else "front"
        better = lambda o: f"{o.metric} ({'higher' if o.maximize else 'lower'} is better)"  # noqa: E731
        self.query_one("#scatter", Scatter).set_data(points, x_name=better(x), y_name=better(y), x_log=x.log10,
                                                     y_log=y.log10)
        if self.rows:
            table.move_cursor(row=min(row or 0, len(self.rows) - 1))
            self._highlight(table.cursor_row)

    @staticmethod
    def _front_order(data: FrontData) -> list[int]:
        """Front members as `evolve front` numbers them (the --front-point N of `evolve export`)."""
        from archive.front import order_front

        by_id = {p.key: p for p in data.programs}
        return [p.key for p in order_front([by_id[k] for k in data.front], data.objectives)]

    def _highlight(self, row: int | None) -> None:
        if row is not None and 0 <= row < len(self.rows):
            self.query_one("#scatter", Scatter).set_highlight(self.rows[row][2])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._highlight(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if not 0 <= event.cursor_row < len(self.rows):
            return
        kind, key, _ = self.rows[event.cursor_row]
        if kind == "baseline":
            self.notify(f"baseline {key!r} is the task's own program (`evolve eval TASK --baseline {key}`)")
            return
        self.app.open_program(key)

    def action_all_programs(self) -> None:
        self.show_all = not self.show_all
        if self.data is not None:
            self.show(self.data)

    def action_back(self) -> None:
        self.app.pop_screen()
