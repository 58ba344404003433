"""Refresh a DataTable from fresh rows without losing the cursor: cells are updated in place when the rows
are the same ones in the same order, otherwise the table is rebuilt and the cursor put back on its row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if not table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
    except Exception:  # noqa: BLE001 - the cursor is past the rows
        return None


def sync_rows(table: DataTable, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    keys = [key for key, _ in rows]
    current = [row_key.value for row_key in table.rows]
    if keys == current:
        for index, (_, cells) in enumerate(rows):
            old = table.get_row_at(index)
            for column, cell in enumerate(cells):
                if column >= len(old) or _differ(old[column], cell):
                    table.update_cell_at(Coordinate(index, column), cell)
        return
    keep = cursor_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if keep in keys:
        table.move_cursor(row=keys.index(keep), animate=False)


def _differ(old: Any, new: Any) -> bool:
    return str(old) != str(new) or str(getattr(old, "style", "")) != str(getattr(new, "style", ""))
