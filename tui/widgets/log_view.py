"""A line-API log view built for floods: lines are appended in batches, only visible rows are rendered, and
the view keeps at most `max_lines` lines (the full log stays on disk).

Every kept line carries its number in the log (as `launcher logs` counts them), so the view can also hold a
window loaded from anywhere in the file (a search jumping to an old line) or a set of matching lines.

Modes: follow (stick to the end; scrolling up pauses and counts new lines, End resumes), wrap,
timestamps, a stream marker column, a line filter (streams, `@metrics` lines), a search term whose matches
are highlighted, and show-only-matching-lines."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from launcher.logfile import LAUNCHER, STDERR, LogLine
from launcher.logsearch import LineFilter
from launcher.logtext import (
    CONTROL_BUT_ESCAPE,
    ESCAPE,
    after_carriage_return,
    clean,
    local_time_of_day,
    search_pattern,
    visible_text,
)

__all__ = ["NOTE", "Entry", "LogView", "clean", "entries_of", "local_time_of_day", "visible", "visible_text"]

#: A kept line: (timestamp, stream, payload bytes, its number in the log). Plain tuples of strings, bytes and
#: ints, because the garbage collector stops tracking those; tens of thousands of kept objects would make its
#: full passes stall the UI.
Entry = tuple[str, str, bytes, int]
#: The stream of a note the pane itself adds (lines skipped, a window of the log): not a line of the log.
NOTE = "note"
STREAM_STYLES = {STDERR: Style(color="yellow"), LAUNCHER: Style(color="magenta", italic=True),
                 NOTE: Style(color="cyan", italic=True)}
MATCH_STYLE = Style(color="black", bgcolor="yellow", bold=True)
TIMESTAMP_STYLE = Style(dim=True)
TIMESTAMP_WIDTH = 13  # "HH:MM:SS.mmm "
#: The stream marker column: a letter, not only a colour, for every line that is not the program's stdout.
MARKERS = {STDERR: ("E ", Style(color="yellow", bold=True)), LAUNCHER: ("L ", Style(color="magenta", bold=True)),
           NOTE: ("\u2026 ", Style(color="cyan", bold=True))}
MARKER_WIDTH = 2


def entries_of(lines: Sequence[LogLine], first_line: int = 0) -> list[Entry]:
    """Kept lines for these log lines, numbered from first_line."""
    return [(line.timestamp, line.stream, line.data, number) for number, line in enumerate(lines, first_line)]


def visible(data: bytes) -> str | Text:
    """What a terminal shows for this line: a str for a line without colour codes (the fast path), else a
    Text with the colours as spans. Of a line with carriage returns (progress bars), only the text after
    the last one shows, as on a terminal; a carriage return just before the newline blanks nothing."""
    text = after_carriage_return(data.decode("utf-8", "replace"))
    if "\x1b" not in text:
        return clean(text)
    text = CONTROL_BUT_ESCAPE.sub("\ufffd", ESCAPE.sub(r"\1", text))
    shown = AnsiDecoder().decode_line(text)  # SGR codes only now; a new decoder: no colour carried over
    shown.expand_tabs(8)  # after the codes are gone, so that tab stops count visible columns only
    return shown


def _line_of(entry: Entry) -> int:
    return entry[3]


class LogView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("k", "scroll_up", "Scroll up (pauses follow)", show=False),
        Binding("j", "scroll_down", "Scroll down", show=False),
    ]

    DEFAULT_CSS = """
    LogView { background: $surface; color: $foreground; }
    """

    follow: reactive[bool] = reactive(True)

    class StatusChanged(Message):
        """Follow mode, the count of lines that arrived while paused, or the shown modes changed."""

        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    class EndRequested(Message):
        """End (follow) was asked for while the view holds a window from elsewhere in the log: only the pane
        can bring the end of the log back."""

        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, *, max_lines: int = 50_000, markers: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_lines = max_lines
        self.entries: list[Entry] = []
        #: Absolute number of the first entry kept (earlier ones were pruned from the view).
        self.base = 0
        #: Lines received in total (the pane's throughput figure; the pane's own notes do not count).
        self.received = 0
        #: Lines that arrived while follow was paused.
        self.unseen = 0
        #: Lines of the log the pane skipped to keep up with a flood (they are in the file, not here).
        self.skipped = 0
        #: True while the view holds lines from elsewhere in the log than its end (a search jumped to an old
        #: line, or only the matching lines of the whole log are shown): new lines are counted, not shown.
        self.detached = False
        self.wrap = False
        self.timestamps = False
        #: A column with each line's stream as a letter (E stderr, L the launcher; blank for stdout).
        self.markers = markers
        self.line_filter = LineFilter()
        self.search = ""
        self.only_matches = False
        self._pattern: re.Pattern[str] | None = None
        #: (absolute entry number, start column) per row; None when each entry is exactly one row.
        self._rows: list[tuple[int, int]] | None = None
        self._width = 0
        self._adjusting = False

    # -- feeding --------------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        """The kept lines as text, as shown (without colour codes, progress bars at their last state)."""
        return [visible_text(entry[2]) for entry in self.entries]

    def shown_entries(self) -> list[Entry]:
        """The kept lines the view shows now (its filters applied), in order."""
        if self._rows is None:
            return list(self.entries)
        numbers = dict.fromkeys(number for number, _ in self._rows)
        return [self.entries[number - self.base] for number in numbers]

    @property
    def next_line(self) -> int:
        """The number in the log of the line after the last one kept."""
        if not self.entries:
            return self.received + self.skipped
        last = self.entries[-1]
        return last[3] if last[1] == NOTE else last[3] + 1

    def append(self, lines: Sequence[Entry] | Sequence[LogLine], notes: int = 0) -> None:
        """Add lines at the end (LogLines are numbered on from the last kept line); `notes` of them are the
        pane's own notes, not lines of the log."""
        if not lines:
            return
        if isinstance(lines[0], LogLine):
            lines = entries_of(lines, self.next_line)  # type: ignore[arg-type]
        first = self.base + len(self.entries)
        self.entries.extend(lines)  # type: ignore[arg-type]
        self.received += len(lines) - notes
        added_rows = len(lines)
        if self._rows is not None:
            before = len(self._rows)
            self._rows.extend(self._rows_for(first, lines))  # type: ignore[arg-type]
            added_rows = len(self._rows) - before
        else:
            widest = max(map(len, [line[2] for line in lines]))
            if widest > self._width:
                self._width = widest
        self._prune()
        self._resize()
        if self.follow:
            self._to_end()
        elif added_rows:
            self.unseen += added_rows if self._rows is None else len(lines) - notes
            self.post_message(self.StatusChanged(self))
        self.refresh()

    def note_skipped(self, count: int) -> None:
        """The pane skipped this many lines of the log; a paused reader counts them as new too."""
        self.skipped += count
        if not self.follow:
            self.unseen += count

    def clear(self) -> None:
        self.entries.clear()
        self.base = self.received = self.unseen = self.skipped = 0
        self.detached = False
        self._width = 0
        if self._rows is not None:
            self._rows = []
        self._resize()
        self.refresh()

    def show_window(self, entries: list[Entry]) -> None:
        """Hold these lines instead of the end of the log: a window from elsewhere in it, or its matching
        lines. Lines that arrive meanwhile are counted (note_skipped), and End asks the pane for the end."""
        self.detached = True
        self.follow = False
        self.entries = list(entries)
        self.base = 0
        self._width = max((len(entry[2]) for entry in entries), default=0)
        self._relayout(keep_place=False)
        self.post_message(self.StatusChanged(self))

    def _prune(self) -> None:
        excess = len(self.entries) - self.max_lines
        if excess <= self.max_lines // 10:  # prune in steps, so a flood does not pay on every batch
            return
        del self.entries[:excess]
        self.base += excess
        removed_rows = excess
        if self._rows is not None:
            removed_rows = bisect.bisect_left(self._rows, (self.base, -1))
            del self._rows[:removed_rows]
        if not self.follow:
            self._adjusting = True
            try:
                self.scroll_to(y=max(0, self.scroll_y - removed_rows), animate=False, immediate=True, force=True)
            finally:
                self._adjusting = False

    # -- modes ----------------------------------------------------------------------------------------
    def set_modes(self, *, wrap: bool | None = None, timestamps: bool | None = None, search: str | None = None,
                  only_matches: bool | None = None, markers: bool | None = None,
                  line_filter: LineFilter | None = None) -> None:
        if wrap is not None:
            self.wrap = wrap
        if timestamps is not None:
            self.timestamps = timestamps
        if markers is not None:
            self.markers = markers
        if line_filter is not None:
            self.line_filter = line_filter
        if search is not None:
            self.search = search
            self._pattern = search_pattern(search)
        if only_matches is not None:
            self.only_matches = only_matches
        self._relayout()
        self.post_message(self.StatusChanged(self))

    @property
    def filtering(self) -> bool:
        """Whether some kept lines are not shown (a line filter, or only the matching lines)."""
        return not self.line_filter.shows_all or (self.only_matches and self._pattern is not None)

    def _relayout(self, keep_place: bool = True) -> None:
        # The line at the top of the view stays there when the rows change (only-matches off, wrap on):
        # the reader keeps their place instead of landing at the top of the log.
        anchor = self.entry_at_row(int(self.scroll_y)) if keep_place and not self.follow else None
        if self.wrap or self.filtering:
            self._rows = self._rows_for(self.base, self.entries)
        else:
            self._rows = None
        self._adjusting = True
        try:
            self._resize()
            if self.follow:
                self._to_end()
            elif anchor is not None:
                self.scroll_to(y=self.row_of_entry(anchor), animate=False, immediate=True, force=True)
        finally:
            self._adjusting = False
        self.refresh()

    def entry_at_row(self, row: int) -> int | None:
        """The absolute number of the line drawn on this row, or None past the end."""
        if row < 0 or row >= self.row_count:
            return None
        return self.base + row if self._rows is None else self._rows[row][0]

    def row_of_entry(self, number: int) -> int:
        """The first row showing this line, or the next line that is shown (with only-matches on)."""
        if self._rows is None:
            return max(0, min(number - self.base, len(self.entries) - 1))
        return min(bisect.bisect_left(self._rows, (number, -1)), max(len(self._rows) - 1, 0))

    def on_resize(self) -> None:
        if self.wrap:
            self._relayout()
        elif self.follow:
            self._to_end()
            self.call_after_refresh(self._follow_end)  # once the scrollbars know the new size

    @property
    def _prefix_width(self) -> int:
        return (TIMESTAMP_WIDTH if self.timestamps else 0) + (MARKER_WIDTH if self.markers else 0)

    @property
    def _content_width(self) -> int:
        return max(10, self.scrollable_content_region.width - self._prefix_width)

    def _shown(self, entry: Entry) -> bool:
        """Whether the line filter lets this kept line show (the pane's notes always do)."""
        return entry[1] == NOTE or self.line_filter.shows(entry[1], entry[2])

    def _rows_for(self, first: int, lines: Sequence[Entry]) -> list[tuple[int, int]]:
        rows: list[tuple[int, int]] = []
        pattern = self._pattern if self.only_matches else None
        line_filter = None if self.line_filter.shows_all else self.line_filter
        width = self._content_width
        for offset, line in enumerate(lines):
            if pattern is None and line_filter is None and not self.wrap:
                rows.append((first + offset, 0))
                continue
            if line_filter is not None and line[1] != NOTE and not line_filter.shows(line[1], line[2]):
                continue
            if pattern is None and not self.wrap:
                rows.append((first + offset, 0))
                continue
            text = visible_text(line[2])
            if pattern is not None and (line[1] == NOTE or not pattern.search(text)):
                continue
            if not self.wrap:
                rows.append((first + offset, 0))
                continue
            length = len(text)
            number = first + offset
            rows.extend((number, start) for start in range(0, max(length, 1), width))
        return rows

    @property
    def row_count(self) -> int:
        return len(self.entries) if self._rows is None else len(self._rows)

    def _resize(self) -> None:
        width = self._content_width if self.wrap else self._width
        size = Size(width + self._prefix_width, self.row_count)
        if size == self.virtual_size:
            return
        if not self.is_mounted:
            self.virtual_size = size
            return
        # Assigning virtual_size re-lays out the whole screen, once per batch of lines during a flood.
        # The view's own box does not change when lines arrive, so only its scrollbars are updated here,
        # unless one of them appears or disappears.
        scrollbars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self.set_reactive(LogView.virtual_size, size)
        self._scroll_update(size)
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != scrollbars:
            self.refresh(layout=True)

    # -- follow ---------------------------------------------------------------------------------------
    def _to_end(self) -> None:
        self._adjusting = True
        try:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        finally:
            self._adjusting = False

    def _follow_end(self) -> None:
        if self.follow:  # still following: a jump meanwhile (a search) keeps its place
            self._to_end()

    def action_follow(self) -> None:
        if self.detached:
            self.post_message(self.EndRequested(self))
            return
        self.follow = True
        self._to_end()

    def watch_follow(self, following: bool) -> None:
        if following:
            self.unseen = 0
        if self.is_mounted:
            self.post_message(self.StatusChanged(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._adjusting:
            return
        # Scrolled up, away from the end: the reader's doing, so stop jumping to the end. Not when the end
        # itself moved up (the oldest lines were dropped and the view's height shrank): still at the end.
        if new_value < old_value and self.follow and new_value < self.max_scroll_y:
            self.follow = False
        elif new_value > old_value and not self.follow and not self.detached and new_value >= self.max_scroll_y:
            self.follow = True  # scrolled back down to the end

    # -- lines by number ------------------------------------------------------------------------------
    def index_of_line(self, line: int) -> int | None:
        """Where the line with this number in the log is among the kept lines, or None."""
        entries = self.entries
        index = bisect.bisect_left(entries, line, key=_line_of)
        while index < len(entries) and entries[index][1] == NOTE and entries[index][3] == line:
            index += 1
        if index < len(entries) and entries[index][3] == line:
            return index
        return None

    def line_at_row(self, row: int) -> int | None:
        """The number in the log of the line drawn on this row (None past the end)."""
        number = self.entry_at_row(row)
        return None if number is None else self.entries[number - self.base][3]

    @property
    def top_line(self) -> int | None:
        """The number in the log of the line at the top of the view."""
        return self.line_at_row(int(self.scroll_y))

    def on_screen(self, line: int) -> bool:
        """Whether the line with this number in the log is on one of the rows the view shows now."""
        top = int(self.scroll_y)
        return any(self.line_at_row(row) == line for row in range(top, top + self.scrollable_content_region.height))

    @property
    def line_range(self) -> tuple[int, int] | None:
        """The numbers of the first and last kept lines of the log (the pane's notes aside)."""
        numbers = [entry[3] for entry in (self.entries[:2] + self.entries[-1:]) if entry[1] != NOTE]
        return (min(numbers), max(numbers)) if numbers else None

    def jump_to_line(self, line: int) -> bool:
        """Scroll so that the kept line with this number is at the top; False when it is not kept."""
        index = self.index_of_line(line)
        if index is None:
            return False
        self.follow = False
        self.scroll_to(y=self.row_of_entry(self.base + index), animate=False, immediate=True, force=True)
        return True

    # -- searching ------------------------------------------------------------------------------------
    def _matches(self, entry: Entry) -> bool:
        pattern = self._pattern
        return (pattern is not None and entry[1] != NOTE and self._shown(entry)
                and pattern.search(visible_text(entry[2])) is not None)

    def match_rows(self) -> list[int]:
        if self._pattern is None:
            return []
        if self._rows is None:
            return [y for y, line in enumerate(self.entries) if self._matches(line)]
        seen: set[int] = set()
        found = []
        for y, (number, _) in enumerate(self._rows):
            if number not in seen and self._matches(self.entries[number - self.base]):
                seen.add(number)
                found.append(y)
        return found

    def match_count(self) -> int:
        """How many kept lines match the search (a wrapped line counts once)."""
        if self._pattern is None:
            return 0
        return sum(1 for entry in self.entries if self._matches(entry))

    @property
    def dropped(self) -> int:
        """Lines of the log not kept here: skipped to keep up with a flood, or pruned as the oldest."""
        return self.skipped + self.base

    def jump_to_match(self, forward: bool = True) -> bool:
        rows = self.match_rows()
        if not rows:
            return False
        current = int(self.scroll_y)
        if forward:
            target = next((y for y in rows if y > current), rows[0])
        else:
            target = next((y for y in reversed(rows) if y < current), rows[-1])
        self.follow = False
        self.scroll_to(y=target, animate=False, immediate=True, force=True)
        return True

    # -- drawing --------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        style = self.rich_style
        if row >= self.row_count:
            return Strip.blank(width, style)
        if self._rows is None:
            number, start = self.base + row, 0
        else:
            number, start = self._rows[row]
        timestamp, stream, data, _ = self.entries[number - self.base]
        shown = visible(data)
        if isinstance(shown, str):
            content = Text(shown[start:start + self._content_width] if self.wrap else shown, no_wrap=True, end="")
        else:  # the line's own colours
            content = shown[start:start + self._content_width] if self.wrap else shown
            content.no_wrap, content.end = True, ""
        stream_style = STREAM_STYLES.get(stream)
        if stream_style is not None:
            # A span, not the base style (Text.render drops the base style), under the line's own colours.
            content.stylize_before(stream_style)
        if self._pattern is not None and stream != NOTE:
            for match in self._pattern.finditer(content.plain):
                content.stylize(MATCH_STYLE, match.start(), match.end())
        if self.markers:
            marker, marker_style = MARKERS.get(stream, ("  ", None)) if start == 0 else ("  ", None)
            content = Text.assemble((marker, marker_style) if marker_style else marker, content, no_wrap=True, end="")
        if self.timestamps:
            prefix = local_time_of_day(timestamp) + " " if start == 0 else " " * TIMESTAMP_WIDTH
            content = Text.assemble((prefix, TIMESTAMP_STYLE), content, no_wrap=True, end="")
        segments = [Segment(s.text, style + s.style if s.style else style)
                    for s in content.render(self.app.console)]
        strip = Strip(segments, content.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, style)
