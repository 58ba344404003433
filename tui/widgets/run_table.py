"""The live run table: a line-API widget that draws only the rows on screen, so that opening a workspace
with many thousand runs stays fast. Rows are kept in a sorted, filtered list of run ids; records are
merged in as the engine reports changes, and the cursor stays on its run when rows move."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from launcher.states import RunState
from tui import formatting
from tui.columns import fit_columns
from tui.messages import RunChosen, RunHighlighted

if TYPE_CHECKING:
    from launcher.records import RunRecord

#: (column key, header, width)
COLUMNS = (
    ("id", "ID", 10),
    ("name", "NAME", 14),
    ("job", "JOB", 22),
    ("sweep", "SWEEP", 8),
    ("resource", "RESOURCE", 13),
    ("state", "STATE", 12),
    ("started", "STARTED", 14),
    ("duration", "DURATION", 8),
    ("exit", "EXIT", 4),
    ("metrics", "METRICS", 12),
)
GAP = 2
#: The last column (METRICS) takes the width left on screen, at least its own width.
FIXED_WIDTH = sum(w for _, _, w in COLUMNS[:-1]) + GAP * (len(COLUMNS) - 1)
#: On a narrow terminal, applied in this order until the row fits: (column, narrower width or 0 to hide).
#: ID, STATE and EXIT always stay; the hidden columns still count for the `/` filter.
NARROWING = (("job", 16), ("sweep", 0), ("started", 0), ("resource", 0), ("name", 12), ("job", 14),
             ("duration", 0), ("metrics", 0))


@functools.lru_cache(maxsize=16)
def column_layout(width: int) -> tuple[tuple[int, int], ...]:
    """(column index, width) of the columns shown on a row `width` cells wide; the last one shown takes
    what is left."""
    return fit_columns(COLUMNS, NARROWING, width, gap=GAP, stretch_last=True)


#: The narrowest row: what is left after every narrowing (narrower screens scroll sideways).
MIN_ROW_WIDTH = sum(w + GAP for _, w in column_layout(0))


#: Sorting by state follows a run's lifecycle: the order RunState declares its states in.
_STATE_RANK = {state: rank for rank, state in enumerate(RunState)}


def _sort_key(column: str) -> Callable[[RunRecord], Any]:
    now = time.time()
    keys: dict[str, Callable[[RunRecord], Any]] = {
        "id": lambda r: r.id,
        "name": lambda r: (r.name or "").lower(),
        "job": lambda r: (r.job or "").lower(),
        "resource": lambda r: r.resource or "",
        "state": lambda r: _STATE_RANK.get(r.state, len(_STATE_RANK)),
        # Runs of one sweep together (newest sweep first when descending), each sweep's trials in order.
        "sweep": lambda r: (r.sweep_id or "", r.created_at or 0.0),
        "started": lambda r: r.started_at or r.created_at or 0.0,
        "created": lambda r: r.created_at or 0.0,
        "duration": lambda r: (r.ended_at or now) - r.started_at if r.started_at else -1.0,
        "exit": lambda r: r.exit_code if r.exit_code is not None else -(1 << 31),
    }
    return keys[column]


def row_cells(record: RunRecord, now: float | None = None, metrics: str = "") -> tuple[Any, ...]:
    """The row's cells; the last one holds the latest metrics, or a preparing run's last set-up line."""
    setup = formatting.setup_line(record)
    return (
        record.id,
        record.name or "-",
        record.job or "-",
        record.sweep_id or "-",
        record.resource or "-",
        formatting.state_text(record.state),
        formatting.short_clock(record.started_at),
        formatting.duration(record, now),
        formatting.exit_code(record),
        Text(setup, style=formatting.SETUP_STYLE) if setup else (metrics or "-"),
    )


def _search_text(record: RunRecord, metrics: str = "") -> str:
    # The sweep id is a column too: `/` and a sweep's id shows that sweep's runs.
    cells = row_cells(record, metrics=metrics)
    return "\t".join(str(cell) for cell in cells).lower()


def _fit(text: str, width: int) -> str:
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


def _fit_end(text: str, width: int) -> str:
    """Cut at the start: a job's name and version are at the end of `entity/project/name:alias`, so whole
    leading parts go first (`…/name:v3`), then characters."""
    if len(text) <= width:
        return text.ljust(width)
    parts = text.split("/")
    for first in range(1, len(parts)):
        shorter = "…/" + "/".join(parts[first:])
        if len(shorter) <= width:
            return shorter.ljust(width)
    return "…" + text[len(text) - width + 1:]


#: Columns whose text keeps its end when cut.
_KEEP_END = frozenset(index for index, (key, _, _) in enumerate(COLUMNS) if key == "job")


class RunTable(ScrollView, can_focus=True):
    """Runs, newest first unless sorted otherwise; `filter_text` keeps rows whose columns contain it."""

    BINDINGS: ClassVar = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "Top", show=False),
        Binding("end,G", "last", "Bottom", show=False),
        Binding("enter", "select", "Open the run's log in a tab", show=False),
        Binding("I", "sort('id')", "Sort by id", show=False),
        Binding("N", "sort('name')", "Sort by name", show=False),
        Binding("J", "sort('job')", "Sort by job", show=False),
        Binding("P", "sort('sweep')", "Sort by sweep", show=False),
        Binding("R", "sort('resource')", "Sort by resource", show=False),
        Binding("S", "sort('state')", "Sort by state", show=False),
        Binding("A", "sort('started')", "Sort by start time", show=False),
        Binding("D", "sort('duration')", "Sort by duration", show=False),
        Binding("E", "sort('exit')", "Sort by exit code", show=False),
    ]
    COMPONENT_CLASSES: ClassVar = {"run-table--header", "run-table--cursor", "run-table--stripe"}
    DEFAULT_CSS = """
    RunTable { background: $surface; }
    RunTable > .run-table--header { background: $panel; color: $foreground; text-style: bold; }
    RunTable > .run-table--stripe { background: $surface-lighten-1; }
    RunTable > .run-table--cursor { background: $block-cursor-blurred-background; text-style: bold; }
    RunTable:focus > .run-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                          text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records: dict[str, RunRecord] = {}
        #: Run id -> its latest metrics as text (`loss=0.31 acc=0.9`), set by the main screen's poll.
        self.metrics: dict[str, str] = {}
        self._search: dict[str, str] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self.filter_text = ""
        self.sort_column = "created"
        self.sort_reverse = True
        #: (first row shown, rows shown), noted when the header is drawn: plain values a thread may read
        #: (reading the widget's reactives or size from a thread can touch the app's context and fail).
        self._window = (0, 1)

    # -- what is shown and selected -------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> dict[str, int]:
        """Run id -> row number, for the runs shown."""
        return self._index

    @property
    def visible_run_ids(self) -> list[str]:
        return list(self._order)

    @property
    def selected_run_id(self) -> str | None:
        return self._order[self.cursor] if 0 <= self.cursor < len(self._order) else None

    def get_row(self, run_id: str) -> tuple[Any, ...]:
        return row_cells(self.records[run_id], metrics=self.metrics.get(run_id, ""))

    def window_run_ids(self, margin: int = 10) -> list[str]:
        """The runs on screen (and a few around them); safe to call from a thread: `_order` and `_window`
        are only replaced, never changed in place."""
        order = self._order
        first, height = self._window
        top = max(0, first - margin)
        return order[top: top + max(1, height) + 2 * margin]

    def set_metrics(self, texts: dict[str, str]) -> None:
        """New metrics text for some runs; redraws when any shown one changed."""
        changed = False
        for run_id, text in texts.items():
            if self.metrics.get(run_id, "") != text:
                self.metrics[run_id] = text
                self._search.pop(run_id, None)
                changed = True
        if changed:
            self.refresh()

    def select_run(self, run_id: str) -> bool:
        row = self._index.get(run_id)
        if row is None:
            return False
        self.cursor = row
        return True

    # -- filling and updating -------------------------------------------------------------------------
    def load(self, records: Iterable[RunRecord]) -> None:
        for record in records:
            self.records[record.id] = record
            self._search.pop(record.id, None)
        self._reorder()

    def apply_updates(self, records: Iterable[RunRecord]) -> bool:
        """Merge changed records in; True when the rows shown changed order or membership."""
        before = self._order
        for record in records:
            self.records[record.id] = record
            self._search.pop(record.id, None)
        self._reorder()
        return self._order != before

    def tick(self) -> None:
        """Redraw while runs are active: their durations advance."""
        if any(r.active for r in self.records.values()):
            self.refresh()

    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        if text != self.filter_text:
            self.filter_text = text
            self._reorder()

    def _matches(self, run_id: str) -> bool:
        if not self.filter_text:
            return True
        text = self._search.get(run_id)
        if text is None:
            text = self._search[run_id] = _search_text(self.records[run_id], self.metrics.get(run_id, ""))
        return self.filter_text in text

    def _reorder(self) -> None:
        keep = self.selected_run_id
        key = _sort_key(self.sort_column)
        records = self.records
        shown = [run_id for run_id in records if self._matches(run_id)]
        shown.sort(key=lambda run_id: key(records[run_id]), reverse=self.sort_reverse)
        self._order = shown
        self._index = {run_id: row for row, run_id in enumerate(shown)}
        self.virtual_size = Size(MIN_ROW_WIDTH, len(shown) + 1)
        row = self._index.get(keep, min(self.cursor, max(len(shown) - 1, 0))) if keep else 0
        if row != self.cursor or keep != self.selected_run_id:
            self.cursor = row
        elif keep is None and shown:
            self.cursor = 0
        self.refresh()

    # -- cursor and sorting ---------------------------------------------------------------------------
    def validate_cursor(self, row: int) -> int:
        return max(0, min(row, len(self._order) - 1)) if self._order else 0

    def watch_cursor(self, old: int, row: int) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, force=True)
        elif row >= self.scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False, force=True)
        self.refresh()
        self.post_message(RunHighlighted(self, self.selected_run_id))

    def action_cursor(self, step: int) -> None:
        self.cursor += step

    def action_page(self, step: int) -> None:
        self.cursor += step * max(1, self.scrollable_content_region.height - 2)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._order) - 1

    def action_select(self) -> None:
        if (run_id := self.selected_run_id) is not None:
            self.post_message(RunChosen(self, run_id))

    def action_sort(self, column: str) -> None:
        if self.sort_column == column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in ("started", "duration", "created")
        self._reorder()
        self.notify(f"sorted by {column}{' (descending)' if self.sort_reverse else ''}", timeout=2)

    def header_title(self, key: str, title: str) -> str:
        """The column's title, with an arrow on the sort column: ▼ descending, ▲ ascending."""
        if key != self.sort_column:
            return title
        return f"{title} {'▼' if self.sort_reverse else '▲'}"

    def on_click(self, event: events.Click) -> None:
        x = event.x + int(self.scroll_x)
        if event.y == 0:
            start = 0
            for index, width in column_layout(self.scrollable_content_region.width):
                key = COLUMNS[index][0]
                if key == "metrics":
                    return
                if start <= x < start + width + GAP:
                    self.action_sort(key)
                    return
                start += width + GAP
            return
        row = int(self.scroll_y) + event.y - 1
        if row < len(self._order):
            if row == self.cursor and event.chain == 2:
                self.action_select()
            self.cursor = row

    # -- drawing --------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        layout = column_layout(width)
        base = self.rich_style
        if y == 0:
            self._window = (int(scroll_y), self.size.height)
            style = self.get_component_rich_style("run-table--header")
            segments = [Segment(" " + _fit(self.header_title(COLUMNS[i][0], COLUMNS[i][1]), w) + " " * (GAP - 1), style)
                        for i, w in layout]
            return Strip(segments).crop_extend(scroll_x, scroll_x + width, style)
        row = scroll_y + y - 1
        if row >= len(self._order):
            return Strip.blank(width, base)
        run_id = self._order[row]
        if row == self.cursor:
            style = self.get_component_rich_style("run-table--cursor")
        elif row % 2:
            style = self.get_component_rich_style("run-table--stripe")
        else:
            style = base
        segments = []
        cells = row_cells(self.records[run_id], metrics=self.metrics.get(run_id, ""))
        for i, w in layout:
            cell = cells[i]
            fit = _fit_end if i in _KEEP_END else _fit
            if isinstance(cell, Text):
                cell_style = style + Style.parse(str(cell.style)) if row != self.cursor or not self.has_focus else style
                segments.append(Segment(" " + fit(cell.plain, w) + " " * (GAP - 1), cell_style))
            else:
                segments.append(Segment(" " + fit(str(cell), w) + " " * (GAP - 1), style))
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, style)
