"""The MAP-Elites heatmap: one coloured cell per (x bin, y bin), colour = the elite's score.

Keyboard: arrows / hjkl move, home/end jump, enter opens the elite. Mouse: click selects, a
second click (or double click) opens. Grids larger than the widget scroll with the cursor.
"""
from __future__ import annotations

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

# viridis, sampled: low scores dark purple, high scores yellow.
STOPS = [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
         (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37)]


def score_colour(t: float) -> Color:
    t = min(1.0, max(0.0, t))
    position = t * (len(STOPS) - 1)
    i = min(len(STOPS) - 2, int(position))
    f = position - i
    a, b = STOPS[i], STOPS[i + 1]
    return Color.from_rgb(*(round(x + (y - x) * f) for x, y in zip(a, b)))


def _short(value: float, width: int) -> str:
    for digits in (4, 3, 2, 1):
        text = f"{value:.{digits}g}"
        if len(text) <= width:
            return text
    return ""


class HeatMap(Widget, can_focus=True):
    DEFAULT_CSS = """
    HeatMap { width: 1fr; height: 1fr; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", show=False),
        Binding("right,l", "move(1, 0)", "Right", show=False),
        Binding("up,k", "move(0, 1)", "Up", show=False),
        Binding("down,j", "move(0, -1)", "Down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(1)", "Last", show=False),
        Binding("enter", "open", "Open elite"),
    ]

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    class Moved(Message):
        def __init__(self, heatmap: "HeatMap", col: int, row: int):
            super().__init__()
            self.heatmap, self.col, self.row = heatmap, col, row

    class Opened(Message):
        def __init__(self, heatmap: "HeatMap", col: int, row: int, program_id: int):
            super().__init__()
            self.heatmap, self.col, self.row, self.program_id = heatmap, col, row, program_id

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.cols, self.rows = 1, 1
        self.cells: dict[tuple[int, int], tuple[float, int]] = {}
        self.col_labels: list[str] = [""]
        self.row_labels: list[str] = [""]
        self.lo, self.hi = 0.0, 1.0
        self._offset = [0, 0]  # first visible column, first visible row (from the bottom)

    # ---- data --------------------------------------------------------------------------------
    def set_grid(self, cols: int, rows: int, cells: dict[tuple[int, int], tuple[float, int]],
                 col_labels: list[str], row_labels: list[str]) -> None:
        self.cols, self.rows = max(1, cols), max(1, rows)
        self.cells = cells
        self.col_labels, self.row_labels = col_labels, row_labels
        scores = [score for score, _ in cells.values()]
        self.lo, self.hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
        col, row = self.cursor
        self.cursor = (min(col, self.cols - 1), min(row, self.rows - 1))
        self.refresh()

    def elite(self, col: int, row: int) -> tuple[float, int] | None:
        return self.cells.get((col, row))

    # ---- geometry ----------------------------------------------------------------------------
    @property
    def label_width(self) -> int:
        return max((len(s) for s in self.row_labels), default=0) + 1

    def cell_size(self) -> tuple[int, int]:
        width = max(1, self.size.width - self.label_width)
        height = max(1, self.size.height - 1)
        return max(2, min(8, width // self.cols)), max(1, min(3, height // self.rows))

    def _visible(self) -> tuple[int, int]:
        cw, ch = self.cell_size()
        return (min(self.cols, max(1, (self.size.width - self.label_width) // cw)),
                min(self.rows, max(1, (self.size.height - 1) // ch)))

    def _scroll_to_cursor(self) -> None:
        vis_c, vis_r = self._visible()
        col, row = self.cursor
        for axis, value, visible in ((0, col, vis_c), (1, row, vis_r)):
            if value < self._offset[axis]:
                self._offset[axis] = value
            elif value >= self._offset[axis] + visible:
                self._offset[axis] = value - visible + 1

    def watch_cursor(self, cursor: tuple[int, int]) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Moved(self, *cursor))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    # ---- rendering ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        cw, ch = self.cell_size()
        vis_c, vis_r = self._visible()
        gutter = self.label_width
        dim = Style(dim=True)
        if y == vis_r * ch:  # the x axis labels
            segments = [Segment(" " * gutter, dim)]
            for c in range(self._offset[0], min(self.cols, self._offset[0] + vis_c)):
                label = self.col_labels[c] if c < len(self.col_labels) else ""
                segments.append(Segment(label[:cw - 1].ljust(cw), dim))
            return Strip(segments).crop(0, self.size.width)
        if y > vis_r * ch:
            return Strip.blank(self.size.width)
        visual_row, line_in_cell = divmod(y, ch)
        row = self._offset[1] + (vis_r - 1 - visual_row)  # row 0 at the bottom, like a plot
        if row < 0 or row >= self.rows:
            return Strip.blank(self.size.width)
        label = (self.row_labels[row] if line_in_cell == ch // 2 and row < len(self.row_labels) else "")
        segments = [Segment(label.rjust(gutter - 1) + " ", dim)]
        focused = self.has_focus
        for c in range(self._offset[0], min(self.cols, self._offset[0] + vis_c)):
            elite = self.cells.get((c, row))
            selected = (c, row) == self.cursor
            middle = line_in_cell == ch // 2
            if elite is None:
                text = ("·" if middle else " ").center(cw - 1) + " "
                style = Style(color="grey35", bgcolor="grey11")
                if selected:
                    text = ("[" + ("·" if middle else " ").center(cw - 3) + "]" if cw >= 3 else "[]")[:cw]
                    style = Style(color="white", bgcolor="grey30", bold=True)
            else:
                score = elite[0]
                t = 0.5 if self.hi == self.lo else (score - self.lo) / (self.hi - self.lo)
                background = score_colour(t)
                r, g, b = background.get_truecolor()
                foreground = "black" if (0.299 * r + 0.587 * g + 0.114 * b) > 110 else "white"
                body = _short(score, cw - 1) if (middle and cw >= 5) else ""
                text = body.center(cw - 1) + " "
                if selected:
                    text = ("[" + body.center(cw - 2)[: cw - 2] + "]") if cw >= 3 else "[]"
                style = Style(color=foreground, bgcolor=background, bold=selected)
            if selected and focused:
                style += Style(underline=True, reverse=elite is None)
            segments.append(Segment(text[:cw].ljust(cw), style))
        return Strip(segments).crop(0, self.size.width)

    # ---- input -------------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        col, row = self.cursor
        self.cursor = (min(self.cols - 1, max(0, col + dx)), min(self.rows - 1, max(0, row + dy)))

    def action_jump(self, end: int) -> None:
        self.cursor = (self.cols - 1, self.rows - 1) if end else (0, 0)

    def action_open(self) -> None:
        elite = self.cells.get(self.cursor)
        if elite is not None:
            self.post_message(self.Opened(self, *self.cursor, elite[1]))
        else:
            self.notify("this cell is empty: no program has landed here yet", severity="warning")

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        cw, ch = self.cell_size()
        vis_c, vis_r = self._visible()
        if x < self.label_width or y >= vis_r * ch:
            return None
        col = self._offset[0] + (x - self.label_width) // cw
        row = self._offset[1] + (vis_r - 1 - y // ch)
        if 0 <= col < self.cols and 0 <= row < self.rows:
            return col, row
        return None

    def on_click(self, event) -> None:
        target = self.cell_at(event.x, event.y)
        if target is None:
            return
        if target == self.cursor or getattr(event, "chain", 1) >= 2:
            self.cursor = target
            self.action_open()
        else:
            self.cursor = target

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._scroll_to_cursor()
