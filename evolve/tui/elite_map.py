"""The elite map: the MAP-Elites grid over two chosen descriptors, coloured by score."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from .base import PollingScreen
from .data import EliteMapData, load_elite_map
from .format import fmt_score
from .heatmap import HeatMap, score_colour


def _range(lo: float, hi: float) -> str:
    return f"{lo:.3g}–{hi:.3g}"


class EliteMapScreen(PollingScreen):
    CSS_PATH = "elite_map.tcss"
    HELP_TITLE = "Elite map"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "cycle_axis(0)", "X axis"),
        Binding("y", "cycle_axis(1)", "Y axis"),
        Binding("i", "cycle_island", "Island"),
    ]
    EXTRA_HELP = [("arrows / hjkl", "move between cells"), ("home / end", "first / last cell"),
                  ("enter / click", "open the cell's elite"), ("colour", "score: dark purple low, yellow high")]

    def __init__(self, campaign_id: int):
        super().__init__()
        self.campaign_id = campaign_id
        self.data: EliteMapData | None = None
        self.axes: list[int] = [0, 1]
        self.island: int | None = None
        self._placed = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="axes", classes="title-bar")
        with Horizontal(id="body"):
            with Vertical(id="map-box", classes="panel") as box:
                box.border_title = "elites"
                yield HeatMap(id="heatmap")
            yield Static("", id="cell", classes="panel")
        yield Static("", id="legend")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cell").border_title = "cell"
        super().on_mount()
        self.query_one(HeatMap).focus()

    def token(self):
        return self.app.archive.change_token(self.campaign_id)

    def fetch(self) -> EliteMapData:
        return load_elite_map(self.app.archive, self.campaign_id, self.island)

    def show(self, data: EliteMapData) -> None:
        self.data = data
        axes = data.grid.axes
        if len(axes) < 2:
            self.axes = [0, -1] if axes else [-1, -1]
        else:
            self.axes = [a if a < len(axes) else i for i, a in enumerate(self.axes)]
            if self.axes[0] == self.axes[1]:
                self.axes[1] = (self.axes[0] + 1) % len(axes)
        self._project()

    def _project(self) -> None:
        data = self.data
        axes = data.grid.axes
        ax, ay = self.axes
        x_axis = axes[ax] if ax >= 0 else None
        y_axis = axes[ay] if ay >= 0 else None
        cells: dict[tuple[int, int], tuple[float, int]] = {}
        for elite in data.elites:
            coords = data.grid.parse(elite.key) if axes else (0,)
            key = (coords[ax] if x_axis else 0, coords[ay] if y_axis else 0)
            if key not in cells or elite.score > cells[key][0]:
                cells[key] = (elite.score, elite.program_id)
        cols = x_axis.bins if x_axis else 1
        rows = y_axis.bins if y_axis else 1
        col_labels = [f"{x_axis.edges(i)[0]:.3g}" for i in range(cols)] if x_axis else [""]
        row_labels = [f"{y_axis.edges(i)[0]:.3g}" for i in range(rows)] if y_axis else [""]
        heatmap = self.query_one(HeatMap)
        heatmap.set_grid(cols, rows, cells, col_labels, row_labels)
        if not self._placed and cells:  # start on the best elite
            self._placed = True
            heatmap.cursor = max(cells, key=lambda k: cells[k][0])
        island = "all islands" if self.island is None else f"island {self.island}"
        others = len(axes) - (x_axis is not None) - (y_axis is not None)
        folded = f" · {others} other axis(es) folded: best shown" if others > 0 else ""
        self.query_one("#axes", Static).update(Text.assemble(
            "x ", (x_axis.name if x_axis else "-", "bold cyan"), "  ·  y ", (y_axis.name if y_axis else "-", "bold cyan"),
            f"  ·  {island}  ·  {len(cells)}/{cols * rows} filled{folded}"))
        self.query_one("#map-box").border_title = f"elites of {data.campaign.name}"
        legend = Text(" score ", style="dim")
        if cells:
            legend.append(fmt_score(heatmap.lo, 4) + " ")
            for i in range(16):
                legend.append(" ", style=f"on {score_colour(i / 15).name}")
            legend.append(" " + fmt_score(heatmap.hi, 4))
        self.query_one("#legend", Static).update(legend)
        self._describe(*heatmap.cursor)

    def on_heat_map_moved(self, event: HeatMap.Moved) -> None:
        if self.data is not None:
            self._describe(event.col, event.row)

    def on_heat_map_opened(self, event: HeatMap.Opened) -> None:
        self.app.open_program(event.program_id)

    def _describe(self, col: int, row: int) -> None:
        data = self.data
        axes = data.grid.axes
        ax, ay = self.axes
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column()
        if ax >= 0:
            table.add_row(axes[ax].name, _range(*axes[ax].edges(col)))
        if ay >= 0:
            table.add_row(axes[ay].name, _range(*axes[ay].edges(row)))
        elite = self.query_one(HeatMap).elite(col, row)
        if elite is None:
            table.add_row("", "")
            table.add_row("elite", Text("empty", style="dim"))
        else:
            table.add_row("", "")
            table.add_row("score", Text(fmt_score(elite[0], 6), style="bold"))
            table.add_row("program", f"#{elite[1]}")
            table.add_row("", Text("⏎ opens it", style="dim"))
        self.query_one("#cell", Static).update(table)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cycle_axis(self, which: int) -> None:
        if self.data is None or len(self.data.grid.axes) < 2:
            self.notify("this campaign's map has fewer than two descriptors", severity="warning")
            return
        n = len(self.data.grid.axes)
        other = self.axes[1 - which]
        value = (self.axes[which] + 1) % n
        if value == other:
            value = (value + 1) % n
        if n == 2:  # with two descriptors, cycling swaps them
            self.axes = [self.axes[1], self.axes[0]]
        else:
            self.axes[which] = value
        self._placed = False
        self._project()

    def action_cycle_island(self) -> None:
        if self.data is None:
            return
        order = [None] + list(range(self.data.islands))
        self.island = order[(order.index(self.island) + 1) % len(order)]
        self.reload()
