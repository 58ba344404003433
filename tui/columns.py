"""Fitting a table's columns to the terminal's width: narrowings applied in order until a row fits."""

from __future__ import annotations

from collections.abc import Sequence

#: (column key, header, width)
Column = tuple[str, str, int]
#: (column key, narrower width, or 0 to hide it)
Narrowing = tuple[str, int]


def fit_columns(columns: Sequence[Column], narrowing: Sequence[Narrowing], width: int, *, gap: int,
                stretch_last: bool = False) -> tuple[tuple[int, int], ...]:
    """(column index, width) of the columns shown in a row `width` cells wide, each taking `gap` cells
    more; with stretch_last, the last column shown takes the width left."""
    widths = {key: w for key, _, w in columns}

    def needed() -> int:
        return sum(w + gap for w in widths.values() if w)

    for key, narrower in narrowing:
        if needed() <= width:
            break
        widths[key] = narrower
    shown = [(index, widths[key]) for index, (key, _, _) in enumerate(columns) if widths[key]]
    if stretch_last:
        index, last = shown[-1]
        shown[-1] = (index, max(last, width - needed() + last))
    return tuple(shown)
