"""A scatter plot in character cells: programs, the Pareto front, baselines and the selected best.

One marker per cell; where several points share a cell the most telling one is drawn (the
highlighted point, then the best, the front, the baselines, the other programs). A log axis
places points by log10 of the value. Pure layout (`scatter_cells`) is separate from the widget
so it is tested without a terminal.
"""
from __future__ import annotations

import dataclasses
import math

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

MARKERS = {"program": ("·", "dim"), "front": ("●", "bold green"), "baseline": ("◆", "bold magenta"),
           "best": ("★", "bold yellow")}
PRECEDENCE = {"program": 0, "baseline": 1, "front": 2, "best": 3}


@dataclasses.dataclass(frozen=True)
class ScatterPoint:
    x: float
    y: float
    kind: str  # program | front | baseline | best


def _position(value: float, low: float, high: float, cells: int, log: bool) -> int:
    if log:
        value, low, high = (math.log10(max(v, 1e-300)) for v in (value, low, high))
    t = (value - low) / (high - low) if high > low else 0.5
    return min(cells - 1, max(0, round(t * (cells - 1))))


def axis_range(values: list[float], log: bool) -> tuple[float, float]:
    """The values' range with a little room either side (a ratio on a log axis)."""
    values = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not values:
        return (1.0, 10.0) if log else (0.0, 1.0)
    low, high = min(values), max(values)
    if log:
        return (low / 1.25, high * 1.25) if high > low else (low / 2, high * 2)
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 0.5)
    return low - pad, high + pad


def scatter_cells(points: list[ScatterPoint], x_range: tuple[float, float], y_range: tuple[float, float],
                  width: int, height: int, x_log: bool = False, y_log: bool = False,
                  highlight: int | None = None) -> dict[tuple[int, int], tuple[int, str]]:
    """(column, row from the top) -> (index of the point drawn there, its kind or 'highlight')."""
    cells: dict[tuple[int, int], tuple[int, str]] = {}
    rank: dict[tuple[int, int], int] = {}
    for i, p in enumerate(points):
        if not (math.isfinite(p.x) and math.isfinite(p.y)):
            continue
        cell = (_position(p.x, *x_range, width, x_log), height - 1 - _position(p.y, *y_range, height, y_log))
        level = 10 if i == highlight else PRECEDENCE[p.kind]
        if rank.get(cell, -1) < level:
            rank[cell] = level
            cells[cell] = (i, "highlight" if i == highlight else p.kind)
    return cells


def _label(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.1e}" if abs(value) >= 1e5 or abs(value) < 1e-3 else f"{value:.4g}"


class Scatter(Widget):
    """Points on two axes (x: cost, y: quality, typically) with labelled ends."""

    DEFAULT_CSS = """
    Scatter { height: 1fr; width: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.points: list[ScatterPoint] = []
        self.x_log = self.y_log = False
        self.x_name = self.y_name = ""  # axis titles
        self.highlight: int | None = None

    def set_data(self, points: list[ScatterPoint], *, x_name: str, y_name: str, x_log: bool = False,
                 y_log: bool = False) -> None:
        self.points, self.x_name, self.y_name, self.x_log, self.y_log = points, x_name, y_name, x_log, y_log
        self.refresh()

    def set_highlight(self, index: int | None) -> None:
        self.highlight = index
        self.refresh()

    def render(self) -> RenderableType:
        width, height = self.size.width, self.size.height
        if not self.points:
            return Text("no program evaluated ok yet", style="dim")
        x_range = axis_range([p.x for p in self.points], self.x_log)
        y_range = axis_range([p.y for p in self.points], self.y_log)
        labels = [_label(y_range[1]), _label(y_range[0])]
        gutter = max(len(s) for s in labels) + 1
        plot_w, plot_h = max(1, width - gutter - 1), max(1, height - 2)
        cells = scatter_cells(self.points, x_range, y_range, plot_w, plot_h, self.x_log, self.y_log, self.highlight)
        text = Text(no_wrap=True, overflow="crop")
        text.append((" " * (gutter + 1) + self.y_name)[:width] + "\n", style="dim")
        for row in range(plot_h):
            label = labels[0] if row == 0 else labels[1] if row == plot_h - 1 else ""
            text.append(label.rjust(gutter - 1) + " ", style="dim")
            text.append("┤" if label else "│", style="dim")
            for col in range(plot_w):
                found = cells.get((col, row))
                if found is None:
                    text.append(" ")
                elif found[1] == "highlight":
                    marker, _ = MARKERS[self.points[found[0]].kind]
                    text.append(marker, style="reverse bold")
                else:
                    text.append(*MARKERS[found[1]])
            text.append("\n")
        left, right = _label(x_range[0]), f"{_label(x_range[1])}  {self.x_name}{' (log scale)' if self.x_log else ''}"
        text.append(" " * gutter + "└" + left + " " * max(1, plot_w - len(left) - len(right)) + right, style="dim")
        return text
