"""A step plot drawn with braille dots: best score so far against iterations.

Why hand-drawn rather than textual-plotext: the best-so-far curve is a step function, which
a braille canvas draws exactly (2x4 dots per cell, vertical risers included) in ~100 lines
with no new dependency; it renders in well under a millisecond for thousands of steps, and
its output is deterministic, which keeps the SVG snapshots stable.
"""
from __future__ import annotations

import bisect
import math

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

# Braille dot bits by (column, row) inside a 2x4 cell.
_BITS = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (1, 0): 0x08, (1, 1): 0x10, (1, 2): 0x20, (0, 3): 0x40,
         (1, 3): 0x80}


def _label(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.1e}"
    return f"{value:.4g}"


def braille_steps(points: list[tuple[float, float]], x_range: tuple[float, float], y_range: tuple[float, float],
                  width: int, height: int) -> list[str]:
    """Rows of braille characters drawing the step function through `points` (sorted by x)."""
    dots_w, dots_h = width * 2, height * 4
    grid = [[0] * width for _ in range(height)]
    (x0, x1), (y0, y1) = x_range, y_range
    xs = [p[0] for p in points]

    def row_of(y: float) -> int:
        t = (y - y0) / (y1 - y0) if y1 > y0 else 0.5
        return min(dots_h - 1, max(0, round((1 - t) * (dots_h - 1))))

    def plot(dx: int, dy: int) -> None:
        grid[dy // 4][dx // 2] |= _BITS[(dx % 2, dy % 4)]

    previous = None
    for dx in range(dots_w):
        x = x0 + (x1 - x0) * dx / max(1, dots_w - 1)
        index = bisect.bisect_right(xs, x + 1e-9) - 1
        if index < 0:
            previous = None
            continue
        dy = row_of(points[index][1])
        if previous is not None and previous != dy:  # the riser of a step
            for between in range(min(previous, dy), max(previous, dy) + 1):
                plot(dx, between)
        plot(dx, dy)
        previous = dy
    return ["".join(chr(0x2800 + bits) for bits in row) for row in grid]


class StepPlot(Widget):
    """Best score so far (y) over iterations (x), with labelled axes."""

    DEFAULT_CSS = """
    StepPlot { height: 1fr; min-height: 5; }
    """

    def __init__(self, *, id: str | None = None, x_label: str = "iterations", style: str = "bold green",
                 empty_message: str = "no successful evaluation yet", y_min: float | None = None):
        super().__init__(id=id)
        self.points: list[tuple[float, float]] = []
        self.x_max: float = 1.0
        self.x_label = x_label
        self.style = style
        self.empty_message = empty_message
        self.y_min = y_min  # a floor for the y axis (a QD score or a coverage is never below 0)

    def set_data(self, points: list[tuple[float, float]], x_max: float) -> None:
        self.points = sorted(points)
        self.x_max = max(x_max, self.points[-1][0] if self.points else 0, 1)
        self.refresh()

    def render(self) -> RenderableType:
        width, height = self.size.width, self.size.height
        if not self.points:
            return Text(self.empty_message, style="dim")
        if width < 12 or height < 3:
            return Text(_label(self.points[-1][1]))
        ys = [p[1] for p in self.points]
        lo, hi = min(ys), max(ys)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return Text("scores are not finite", style="dim")
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.5)
        y0, y1 = lo - pad, hi + pad
        if self.y_min is not None and lo >= self.y_min:
            y0 = max(y0, self.y_min)
        labels = [_label(y1), _label((y0 + y1) / 2), _label(y0)]
        gutter = max(len(s) for s in labels) + 1
        plot_w, plot_h = width - gutter - 1, height - 1
        rows = braille_steps(self.points, (0.0, float(self.x_max)), (y0, y1), plot_w, plot_h)
        text = Text(no_wrap=True, overflow="crop")
        for i, row in enumerate(rows):
            label = labels[0] if i == 0 else labels[2] if i == plot_h - 1 else labels[1] if i == plot_h // 2 else ""
            text.append(label.rjust(gutter - 1) + " ", style="dim")
            text.append("┤" if label else "│", style="dim")
            text.append(row, style=self.style)
            text.append("\n")
        left, right = "0", f"{int(self.x_max)} {self.x_label}"
        text.append(" " * gutter + "└" + left + " " * max(1, plot_w - len(left) - len(right)) + right, style="dim")
        return text
