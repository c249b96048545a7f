"""A table that fits the terminal: columns are dropped, in a stated order, rather than wrapped.

A wrapped row of ten columns is unreadable at 80 columns; a table that leaves out its least
useful columns and shortens long names with an ellipsis stays one line per row.
"""
from __future__ import annotations

from rich import box
from rich.table import Table

GAP = 3  # between two columns: padding, the (blank) divider, padding


def fitted_table(title: str, headers: list[str], rows: list[list[str]], width: int, *, shrink: str,
                 drop_order: list[str], shrink_min: int = 12, shrink_max: int = 32) -> Table:
    """A table of `rows` no wider than `width`.

    `shrink` names the column whose long values are cut with an ellipsis: at `shrink_max`
    characters always, and down to `shrink_min` once the columns in `drop_order` (dropped first
    to last while the table is too wide) are all gone.
    """
    natural = {h: max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)}
    natural[shrink] = min(natural[shrink], shrink_max)
    kept = list(headers)

    def others(columns: list[str]) -> int:
        return sum(natural[c] for c in columns if c != shrink) + GAP * (len(columns) - 1)

    for column in drop_order:
        if others(kept) + natural[shrink] <= width:
            break
        kept.remove(column)
    room = width - others(kept)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in kept:
        if column == shrink:
            table.add_column(column, no_wrap=True, overflow="ellipsis",
                             max_width=max(min(room, natural[shrink]), min(natural[shrink], shrink_min)))
        else:
            table.add_column(column, no_wrap=True, min_width=natural[column])  # never squeezed by rich
    index = [headers.index(c) for c in kept]
    for row in rows:
        table.add_row(*(row[i] for i in index))
    return table
