"""A rich table that fits the terminal: ids and names give way, numbers never lose a digit."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table as RichTable

__all__ = ["grid"]


def grid(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, texts: int, width: int
) -> RichTable:
    """A table within `width` columns whose first `texts` columns (ids, names) are cut with an
    ellipsis when space is short: the numbers never lose a digit."""
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    room = max(6 * texts, width - sum(widths[texts:]) - 3 * len(headers))
    out = RichTable(box=box.SIMPLE_HEAD, pad_edge=False)
    for i, header in enumerate(headers):
        if i < texts:
            share = min(widths[i], max(6, room // texts))
            out.add_column(header, overflow="ellipsis", no_wrap=True, max_width=share)
        else:
            out.add_column(header, justify="right", no_wrap=True, min_width=widths[i])
    for row in rows:
        out.add_row(*row)
    return out
