"""A run's log pane: the log view, a status line and a search bar.

Thread workers do the reading, never the UI thread: one follows the run's log file and hands lines over in
batches, numbered as `launcher logs` numbers them (lines it skips to keep up with a flood are counted
exactly, not estimated); one searches the whole file on disk (launcher/logsearch.py) and reports its
progress in messages; others load a window of the file around a line that is no longer kept, write the log
for a pager, or save it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import Worker, get_current_worker

from launcher.errors import LaunchError
from launcher.logexport import LogExport
from launcher.logsearch import (
    LineFilter,
    LogQuery,
    LogScan,
    NumberedReader,
    StreamFilter,
    read_lines,
    read_lines_at,
    record_after,
    whole_records,
)
from launcher.states import RunState
from tui.widgets.log_view import NOTE, Entry, LogView, entries_of

if TYPE_CHECKING:
    from launcher.api import Api
    from tui.widgets.log_save_dialog import SaveRequest

#: The UI thread takes the lines that arrived once per frame: a flood costs one append per frame, and a
#: key press waits behind at most one of them.
FRAME_SECONDS = 1 / 30
#: A reader thread waits when this many lines are queued and not yet shown.
MAX_PENDING_LINES = 20_000
POLL_SECONDS = 0.05
#: Bytes of log file parsed per chunk (about 650 lines of 100 bytes, parsed in about a millisecond), and the
#: least pause after each chunk: the reader holds the GIL in short bursts, and the UI thread, which needs
#: it back after every turn of its event loop, waits a burst at most (measured in bench/bench_tui.py).
READ_BYTES = 1 << 16
YIELD_SECONDS = 0.0005
#: The most lines a pane parses per second. Parsing holds the GIL, which the UI thread needs for every key
#: press; a flood faster than this falls behind, and once its backlog is more than the pane keeps, the
#: pane skips to its tail (the full log stays on disk) instead of parsing lines it would drop anyway.
MAX_LINES_PER_SECOND = 500_000
#: The pane skips once its backlog is this many times what it keeps: a burst (a run printing 200k lines at
#: once) is still shown whole, while a sustained flood, whose backlog only grows, is not parsed in vain.
SKIP_AFTER_PANES = 6
#: After a skip, the pane reads this share of its bounded size from before the end of the file.
KEEP_AFTER_SKIP = 0.1
#: The shortest a line of the log file can be (its timestamp and stream letter): below this backlog in
#: bytes, a pane cannot be more than its bounded size behind.
MIN_LINE_BYTES = 30
#: A search of an active run looks for new lines this often once it has caught up.
SEARCH_POLL_SECONDS = 0.5
#: A search pauses this share of the time it took for each step of its scan.
SEARCH_PAUSE_SHARE = 0.5
#: A search posts its progress at most this often (and at once for its first match).
SEARCH_REPORT_SECONDS = 0.1
#: A window loaded around a line that is no longer kept: lines before it, and lines in all.
WINDOW_BEFORE = 2_000
WINDOW_LINES = 10_000
STREAM_MODES = {StreamFilter.STDOUT: "stdout only", StreamFilter.STDERR: "stderr only"}


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def note_entry(text: str, line: int) -> Entry:
    """A note of the pane's own, shown before the line numbered `line`."""
    return (time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), NOTE, text.encode(), line)


class LogPane(Vertical):
    BINDINGS = [
        Binding("slash", "search", "Search log"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("f", "only_matches", "Only matches"),
        Binding("e", "streams", "Streams: all, stdout, stderr", show=False),
        Binding("m", "metrics", "Hide @metrics lines", show=False),
        Binding("w", "wrap", "Wrap"),
        Binding("t", "timestamps", "Timestamps"),
        Binding("s", "toggle_follow", "Follow"),
        Binding("o", "pager", "Open in $PAGER", show=False),
        Binding("ctrl+s", "save", "Save log"),
    ]

    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > .log-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    LogPane > Input { display: none; height: 3; }
    LogPane > Input.shown { display: block; }
    LogPane > LogView { height: 1fr; }
    """

    class SearchProgress(Message):
        """The whole-log search found more, or reached the end of the log as it is now (`caught_up`)."""

        def __init__(self, scan: LogScan, caught_up: bool) -> None:
            super().__init__()
            self.scan = scan
            self.caught_up = caught_up

    class WindowLoaded(Message):
        """Lines read from the file around `line` (or its matching lines), to be shown instead of the end."""

        def __init__(self, token: object, entries: list[Entry] | None, line: int, matches_only: bool) -> None:
            super().__init__()
            self.token = token
            self.entries = entries
            self.line = line
            self.matches_only = matches_only

    def __init__(self, api: Api, run_id: str | None = None, *, max_lines: int = 50_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = api
        self.run_id = run_id
        self.state = ""
        self.max_lines = max_lines
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self._pending: list[Entry] = []
        self._pending_notes = 0
        self._pending_state = ""
        self._pending_skipped = 0
        self._pending_reset = False
        self._token: object | None = None
        #: The run's log file, once the reader has found the run.
        self._log_path: Path | None = None
        #: The reader only counts new lines (the view holds a window from elsewhere in the log).
        self._detached = False
        #: The whole-log search of the current term and filter, and whether it has reached the end of the
        #: log as it is now.
        self.scan: LogScan | None = None
        self._scan_caught_up = False
        self._scan_worker: Worker | None = None
        #: The matching line n or N (or enter) went to last.
        self.current_match: int | None = None
        #: n/N pressed before the search got far enough to answer: (forward, from line).
        self._waiting_jump: tuple[bool, int] | None = None
        #: Say how many lines match once the search has caught up (after enter in the search box).
        self._tell_count = False
        self._window_token: object | None = None
        #: What the window shown instead of the end holds: "lines" (a stretch of the log) or "matches".
        self._window_kind = ""
        self._window_pending = False
        #: The view shows the matching lines of the whole log, loaded before the search had caught up.
        self._matches_window_partial = False

    def compose(self) -> ComposeResult:
        yield Static("no run selected", classes="log-status")
        yield Input(placeholder="search the whole log (enter: find, escape: close)", classes="log-search")
        yield LogView(max_lines=self.max_lines, markers=True)

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.set_interval(FRAME_SECONDS, self._drain)
        if self.run_id is not None:
            self.show_run(self.run_id, force=True)

    # -- following a run ------------------------------------------------------------------------------
    def show_run(self, run_id: str | None, *, force: bool = False) -> None:
        if run_id == self.run_id and not force:
            return
        self._stop_search()
        self._window_token, self._window_kind, self._matches_window_partial = None, "", False
        self._window_pending = False
        self.run_id = run_id
        self.state = ""
        self.view.clear()
        self.view.follow = True
        self._restart_reader(from_end=False)
        self._update_status()

    def _restart_reader(self, *, from_end: bool) -> None:
        """A new reader for the pane's run: from the start of its log, or showing only its end (the view is
        then replaced when its first batch arrives)."""
        token = object()
        with self._lock:
            if self._worker is not None:
                self._worker.cancel()
            self._worker = None
            self._token = token
            self._pending = []
            self._pending_notes = 0
            self._pending_state = ""
            self._pending_skipped = 0
            self._pending_reset = False
            self._detached = False
            if not from_end:
                self._log_path = None
        if self.run_id is not None:
            self._worker = self._follow(self.run_id, token, from_end)

    @work(thread=True, exit_on_error=False, group="logs")
    def _follow(self, run_id: str, token: object, from_end: bool) -> None:
        worker = get_current_worker()
        try:
            run = self.api.run(run_id)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        reader = NumberedReader(run.log_path)
        with self._lock:
            if token is self._token:
                self._log_path = run.log_path  # for searches: no store read on the UI thread
        line_bytes = 100.0  # bytes per line in the file, measured as it is read
        if from_end:
            self._skip_to_end(worker, token, reader, run.state)
        while not worker.is_cancelled:
            state = run.state  # read before the file, so no line written before the end is missed
            with self._lock:
                detached = self._detached
            if detached:
                if self._count_only(worker, token, reader, state):
                    return
                time.sleep(POLL_SECONDS)
                continue
            self._skip_backlog(worker, token, reader, line_bytes, state)
            started, offset, first = time.monotonic(), reader.offset, reader.line
            lines = reader.read(READ_BYTES)
            if lines:
                line_bytes = (reader.offset - offset) / len(lines)
            ended = not lines and state.is_terminal()
            if ended:  # the file is complete, and its backlog small: what is left is read at once
                lines = list(reader.read_available()) + reader.flush_pending()
            self._hand_over(worker, token, entries_of(lines, first), state)
            if ended:
                return
            if not lines:
                time.sleep(POLL_SECONDS)
                continue
            # Parsing holds the GIL: a pause after each chunk lets the UI thread take it at once instead of
            # queueing behind this thread, and holds the parsing rate to MAX_LINES_PER_SECOND.
            budget = len(lines) / MAX_LINES_PER_SECOND
            time.sleep(max(YIELD_SECONDS, budget - (time.monotonic() - started)))

    def _count_only(self, worker: Worker, token: object, reader: NumberedReader, state: RunState) -> bool:
        """While the view shows a window from elsewhere: count the new lines without parsing them. True
        once the run has ended and every line is counted."""
        try:
            end = whole_records(reader.path, reader.next_record)
        except FileNotFoundError:
            end = reader.next_record
        counted = reader.skip_to(end) if end > reader.next_record else 0
        ended = not counted and state.is_terminal()
        if ended:
            counted = len(reader.flush_pending())
        if counted or ended:
            self._hand_over(worker, token, [], state, skipped=counted)
        return ended

    def _skip_to_end(self, worker: Worker, token: object, reader: NumberedReader, state: str) -> None:
        """Jump to about the last `max_lines` lines of the file, counting the lines before them, and have
        the view start over with them."""
        try:
            size = whole_records(reader.path, 0)
            with open(reader.path, "rb") as f:
                f.seek(max(0, size - (1 << 16)))
                sample = f.read(1 << 16)
            line_bytes = len(sample) / max(1, sample.count(b"\n"))
            start = record_after(reader.path, size - int(self.max_lines * line_bytes))
        except FileNotFoundError:
            start = 0
        skipped = reader.skip_to(start) if start > 0 else 0
        self._hand_over(worker, token, [], state, skipped=skipped, reset=True)

    def _skip_backlog(self, worker: Worker, token: object, reader: NumberedReader, line_bytes: float,
                      state: str) -> None:
        """Move the reader to the tail of the file when more of it is unread than the pane keeps."""
        try:
            size = os.stat(reader.path).st_size
        except FileNotFoundError:
            return
        backlog = size - reader.offset
        if backlog <= SKIP_AFTER_PANES * self.max_lines * min(line_bytes, MIN_LINE_BYTES):
            return
        with open(reader.path, "rb") as f:
            # How long the lines at the end are, from a sample there (lines read so far may differ).
            f.seek(max(reader.offset, size - (1 << 16)))
            sample = f.read(1 << 16)
            if sample.count(b"\n"):
                line_bytes = len(sample) / sample.count(b"\n")
            if backlog <= SKIP_AFTER_PANES * self.max_lines * line_bytes:
                return
        # The next whole record from there on.
        start = record_after(reader.path, max(reader.offset, size - int(self.max_lines * KEEP_AFTER_SKIP * line_bytes)))
        if start <= reader.next_record:
            return
        skipped_bytes = start - reader.next_record
        skipped = reader.skip_to(start)  # counted exactly, not estimated
        note = (f"{skipped:,} lines ({skipped_bytes / 1e6:,.1f} MB) skipped to keep up with the run; the full "
                "log is on disk (/ searches it, ctrl+s saves it)")
        self._hand_over(worker, token, [note_entry(note, reader.line)], state, skipped=skipped, notes=1)

    def _hand_over(self, worker: Worker, token: object, lines: list[Entry], state: str, skipped: int = 0,
                   notes: int = 0, reset: bool = False) -> None:
        """Queue lines for the UI thread, which takes them at most FRAME_SECONDS apart; wait while the
        queue is full, so a flood cannot outrun the screen. `reset`: the view starts over with these."""
        while True:
            with self._lock:
                if token is not self._token:
                    return  # this pane shows another run now
                if reset:
                    self._pending, self._pending_notes, self._pending_skipped = [], 0, 0
                    self._pending_reset = True
                if len(self._pending) < MAX_PENDING_LINES or not lines or skipped or reset:
                    self._pending.extend(lines)
                    self._pending_notes += notes
                    self._pending_state = state
                    self._pending_skipped += skipped
                    return
            if worker.is_cancelled:
                return
            time.sleep(FRAME_SECONDS / 4)

    def _drain(self) -> None:
        """Runs on the UI thread every frame: one append for everything that arrived since the last."""
        with self._lock:
            lines, self._pending = self._pending, []
            notes, self._pending_notes = self._pending_notes, 0
            state = self._pending_state
            skipped, self._pending_skipped = self._pending_skipped, 0
            reset, self._pending_reset = self._pending_reset, False
        view = self.view
        if reset:
            self._window_token, self._window_kind, self._window_pending = None, "", False
            self._matches_window_partial = False
            view.clear()
            view.follow = True
        if skipped:
            view.note_skipped(skipped)
        if lines:
            if view.detached:  # a window from elsewhere is shown: these lines are counted, not shown
                view.note_skipped(len(lines) - notes)
            else:
                view.append(lines, notes)
        if lines or skipped or reset or state != self.state:
            self.state = state
            self._update_status()

    @property
    def reading(self) -> bool:
        """True while the pane's reader runs or lines it read wait to be shown (the run is active, or its
        log is not all shown yet)."""
        with self._lock:
            pending = bool(self._pending) or bool(self._pending_skipped) or self._pending_reset
        return pending or (self._worker is not None and self._worker.is_running)

    @property
    def ended(self) -> bool:
        """Whether the run shown has ended (its log is complete)."""
        return isinstance(self.state, RunState) and self.state.is_terminal()

    @property
    def busy(self) -> bool:
        """True while the pane is reading its log, searching it, or loading a window of it."""
        searching = self._scan_worker is not None and self._scan_worker.is_running
        return self.reading or searching or self._window_pending

    @property
    def line_count(self) -> int:
        """Lines of the log the pane has gone through (shown, or counted past): `launcher logs RUN | wc -l`
        once the pane has caught up (plus a last line the program never ended)."""
        return self.view.received + self.view.skipped

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        view = self.view
        if self.run_id is None:
            text = "no run selected"
        else:
            if view.detached:
                follow = "[b reverse] End: back to the end [/]"
            elif view.follow:
                follow = "[b]following[/]"
            elif view.unseen:
                follow = f"[b reverse] paused: {view.unseen} new lines (End resumes) [/]"
            else:
                follow = "[b reverse] paused (End follows) [/]"
            line_filter = view.line_filter
            modes = [name for name, on_ in (("wrap", view.wrap), ("timestamps", view.timestamps),
                                            (STREAM_MODES.get(line_filter.streams, ""),
                                             line_filter.streams is not StreamFilter.ALL),
                                            ("@metrics hidden", line_filter.hide_metrics),
                                            ("only matches", view.only_matches)) if on_]
            kept = len(view.entries)
            lines = view.line_range
            if view.detached and lines is not None:
                what = "matches in lines" if self._window_kind == "matches" else "lines"
                shown = f" ([b]{what} {lines[0] + 1:,}-{lines[1] + 1:,}[/])"
            elif view.dropped:  # the pane keeps the newest lines; the whole log is on disk (ctrl+s saves it)
                shown = f" ([b]last {kept:,} shown[/], ctrl+s saves all)"
            else:
                shown = ""
            total = self.line_count
            noun = "line" if total == 1 else "lines"
            # The search before the modes: a narrow pane cuts the end of the line.
            text = (f"run [b]{self.run_id}[/] · {self.state or '...'} · {total:,} {noun}{shown} · {follow}"
                    f"{self._search_status()}{' · ' + ', '.join(modes) if modes else ''}")
        # One line high whatever it says: no layout of the screen on each frame of a flood.
        self.query_one(".log-status", Static).update(text, layout=False)

    def _search_status(self) -> str:
        view = self.view
        if not view.search:
            return ""
        scan = self.scan
        if scan is None:
            return f" · search [i]{view.search}[/]"
        more = "" if self._scan_caught_up else " so far, searching..."
        if not scan.count:
            return f" · search [i]{view.search}[/]: " + ("no match" if self._scan_caught_up else "searching...")
        current = self._reference_line()
        rank = scan.rank(current)
        at = f"{rank + 1:,} of " if 0 <= rank < scan.count and scan.match_lines[rank] == current else ""
        return f" · search [i]{view.search}[/]: {at}{scan.count:,}{more} matching lines"

    def on_log_view_status_changed(self, event: LogView.StatusChanged) -> None:
        event.stop()
        self._update_status()

    def on_log_view_end_requested(self, event: LogView.EndRequested) -> None:
        event.stop()
        self.back_to_end()

    def back_to_end(self) -> None:
        """Leave a window from elsewhere in the log: show its end again, and follow it."""
        if self.run_id is None:
            return
        self._window_token, self._window_kind, self._window_pending = None, "", False
        self._restart_reader(from_end=True)

    # -- searching the whole log ----------------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one(".log-search", Input)
        search.add_class("shown")
        search.value = self.view.search
        # Focused now, not after the keys already queued: `/` and a quickly typed term go to the box.
        self.screen.set_focus(search)

    @on(Input.Changed, ".log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self.scan is not None and self.scan.query.term != event.value:
            self._stop_search()  # its matches are another term's; enter searches the whole log again
        self.view.set_modes(search=event.value)  # the kept lines light up as the term is typed

    @on(Input.Submitted, ".log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("shown")
        self.view.focus()
        if not event.value:
            self._stop_search()
            return
        self._start_search(tell_count=True)
        view = self.view
        # A match after the top line among the kept ones is shown at once. Otherwise the next one in the
        # whole log, wrapping around; when the pane shows the whole end of an ended run's log, there is none
        # after it, and the first match of the log (the search reads from the start) is shown as soon as found.
        current = int(view.scroll_y)
        later = next((row for row in view.match_rows() if row > current), None)
        if later is not None:
            view.follow = False
            view.scroll_to(y=later, animate=False, immediate=True, force=True)
            self.current_match = view.line_at_row(later)
        else:
            at_the_end = not view.detached and not self.reading and self.ended
            self._find(True, -1 if at_the_end else self._reference_line())
        self._update_status()

    def on_key(self, event) -> None:
        search = self.query_one(".log-search", Input)
        if event.key == "escape" and search.has_focus:
            event.stop()
            search.remove_class("shown")
            self.view.focus()

    def _query(self) -> LogQuery | None:
        view = self.view
        return LogQuery(view.search, view.line_filter) if view.search else None

    def _start_search(self, tell_count: bool = False) -> None:
        """Search the whole log file for the view's term and filter (again, when they changed)."""
        query = self._query()
        if self.run_id is None or query is None:
            return
        if self.scan is not None and self.scan.query == query:
            self._tell_count = self._tell_count or tell_count
            if tell_count and self._scan_caught_up:
                self._say_count()
            return
        self._stop_search()
        with self._lock:
            path = self._log_path
        if path is None:  # the reader has not found the run yet (or it does not exist: the reader says so)
            self.notify("the log is not open yet; search again in a moment", severity="warning")
            return
        self.scan = LogScan(path, query)
        self._scan_caught_up = False
        self._tell_count = tell_count
        self._scan_worker = self._search_log(self.run_id, self.scan)

    def _stop_search(self) -> None:
        if self._scan_worker is not None:
            self._scan_worker.cancel()
        self._scan_worker = None
        self.scan = None
        self._scan_caught_up = False
        self._waiting_jump = None
        self._tell_count = False
        self.current_match = None

    @work(thread=True, exit_on_error=False, group="search")
    def _search_log(self, run_id: str, scan: LogScan) -> None:
        worker = get_current_worker()
        try:
            run = self.api.run(run_id)
        except LaunchError:
            return
        reported, found = 0.0, 0
        while not worker.is_cancelled:
            state = run.state  # before the file: no line written before the end is missed
            started = time.monotonic()
            if scan.step():
                now = time.monotonic()
                if (scan.count and not found) or now - reported >= SEARCH_REPORT_SECONDS:
                    self.post_message(self.SearchProgress(scan, caught_up=False))
                    reported, found = now, scan.count
                # A step holds the GIL: a pause after it, half as long, leaves a third of the time to the UI
                # thread and to a window being read for the first match, which shows long before the count.
                time.sleep(max(YIELD_SECONDS, (now - started) * SEARCH_PAUSE_SHARE))
                continue
            ended = state.is_terminal()
            if ended:
                scan.finish()
            self.post_message(self.SearchProgress(scan, caught_up=True))
            reported, found = time.monotonic(), scan.count
            if ended:
                return
            while not worker.is_cancelled and _size(scan.path) <= scan.offset and not run.state.is_terminal():
                time.sleep(SEARCH_POLL_SECONDS)

    def on_log_pane_search_progress(self, event: LogPane.SearchProgress) -> None:
        event.stop()
        if event.scan is not self.scan:
            return  # an earlier search
        if event.caught_up:
            self._scan_caught_up = True
            if self._tell_count:
                self._tell_count = False
                self._say_count()
            if self._matches_window_partial:
                self._load_window(self.view.top_line or 0, matches_only=True)
        if self._waiting_jump is not None and event.scan.query == self._query():
            forward, line = self._waiting_jump
            self._find(forward, line)
        self._update_status()

    def _say_count(self) -> None:
        scan = self.scan
        if scan is None:
            return
        term = scan.query.term
        self.notify(f"{scan.count:,} of {scan.lines:,} lines match {term!r}" if scan.count
                    else f"no match for {term!r} in {scan.lines:,} lines", timeout=6)

    def action_next_match(self) -> None:
        self._find(forward=True)

    def action_previous_match(self) -> None:
        self._find(forward=False)

    def _find(self, forward: bool, line: int | None = None) -> None:
        """Go to the next (previous) matching line of the whole log after (before) `line`, by default the
        line at the top of the view; wait for the search when it has not got that far yet."""
        view = self.view
        if not view.search:
            self.notify("nothing to search for: press / first", timeout=4)
            return
        self._start_search()
        scan = self.scan
        if scan is None:
            return
        self._waiting_jump = None
        if line is None:
            line = self._reference_line()
        done = self._scan_caught_up
        if forward:
            target = scan.next_match(line, forward=True, wrap=done)
        else:
            target = scan.next_match(line, forward=False, wrap=done) if done or scan.lines > line else None
        if target is None:
            if done:
                self._say_count()
            else:
                self._waiting_jump = (forward, line)
            return
        self._go_to(target.line)

    def _reference_line(self) -> int:
        """Where n and N go on from: the match last gone to while it is on screen, else the top line."""
        view = self.view
        if self.current_match is not None and view.on_screen(self.current_match):
            return self.current_match
        top = view.top_line
        return -1 if top is None else top

    def _go_to(self, line: int) -> None:
        """Show this line of the log at the top: scrolled to when it is kept, else read from the file."""
        view = self.view
        self.current_match = line
        if view.jump_to_line(line):
            self._update_status()
            return
        self._load_window(line, matches_only=view.only_matches)

    def _load_window(self, line: int, matches_only: bool) -> None:
        scan = self.scan
        if scan is None:
            return
        token = object()
        self._window_token, self._window_kind = token, "matches" if matches_only else "lines"
        self._window_pending = True
        self._read_window(scan, token, line, matches_only)

    @work(thread=True, exit_on_error=False, group="window", exclusive=True)
    def _read_window(self, scan: LogScan, token: object, line: int, matches_only: bool) -> None:
        entries: list[Entry] | None = None
        try:
            if matches_only:
                half = self.max_lines // 2
                numbered = read_lines_at(scan.path, scan.matches_around(line, half, half))
            else:
                numbered = read_lines(scan.path, scan.checkpoints, line - WINDOW_BEFORE,
                                      min(WINDOW_LINES, self.max_lines))
            entries = [(found.timestamp, found.stream, found.data, number) for number, found in numbered]
        except OSError as error:
            self.app.call_from_thread(self.notify, f"cannot read the log: {error.strerror or error}",
                                      severity="error")
        if not get_current_worker().is_cancelled:
            self.post_message(self.WindowLoaded(token, entries, line, matches_only))

    def on_log_pane_window_loaded(self, event: LogPane.WindowLoaded) -> None:
        event.stop()
        if event.token is not self._window_token or self.scan is None:
            return
        self._window_pending = False
        if event.entries is None:  # the file could not be read (said so)
            return
        with self._lock:
            self._detached = True
        self._matches_window_partial = event.matches_only and not self._scan_caught_up
        view = self.view
        view.show_window(event.entries)
        if not view.jump_to_line(event.line) and view.entries:
            # Not among them (only-matches, and the line does not match): the nearest one after it.
            later = next((entry[3] for entry in view.entries if entry[3] >= event.line), view.entries[-1][3])
            view.jump_to_line(later)
            self.current_match = later
        self._update_status()

    # -- modes ----------------------------------------------------------------------------------------
    def action_only_matches(self) -> None:
        view = self.view
        view.set_modes(only_matches=not view.only_matches)
        if not view.search:
            return
        self._start_search()
        if view.only_matches and (view.dropped or view.detached):
            # Lines not kept may match too: show the matching lines of the whole log.
            self._load_window(view.top_line or 0, matches_only=True)
        elif not view.only_matches and self._window_kind == "matches":
            self._load_window(view.top_line or 0, matches_only=False)

    def _set_filter(self, line_filter: LineFilter) -> None:
        self.view.set_modes(line_filter=line_filter)
        if self.scan is not None:
            self._start_search()  # the search covers what the filter shows
            if self._window_kind == "matches":
                self._matches_window_partial = True  # reloaded once the new search has caught up

    def action_streams(self) -> None:
        line_filter = self.view.line_filter
        self._set_filter(replace(line_filter, streams=line_filter.streams.following()))

    def action_metrics(self) -> None:
        line_filter = self.view.line_filter
        self._set_filter(replace(line_filter, hide_metrics=not line_filter.hide_metrics))

    def action_wrap(self) -> None:
        self.view.set_modes(wrap=not self.view.wrap)

    def action_timestamps(self) -> None:
        self.view.set_modes(timestamps=not self.view.timestamps)

    def action_toggle_follow(self) -> None:
        if self.view.detached:
            self.back_to_end()
        elif self.view.follow:
            self.view.follow = False
        else:
            self.view.action_follow()

    # -- the log elsewhere: a pager, a file -----------------------------------------------------------
    def action_pager(self) -> None:
        """The whole log as the pane shows it (its filter, only-matches, timestamps and stream column) in
        $PAGER, the app suspended meanwhile."""
        if self.run_id is None:
            self.notify("no run selected", severity="warning")
            return
        view = self.view
        export = LogExport(timestamps=view.timestamps, markers=view.markers, as_shown=True,
                           line_filter=view.line_filter, term=view.search if view.only_matches else "")
        self._write_for_pager(self.run_id, export)

    @work(thread=True, exit_on_error=False, group="pager", exclusive=True)
    def _write_for_pager(self, run_id: str, export: LogExport) -> None:
        try:
            path = self.api.run(run_id).log_path
            with tempfile.NamedTemporaryFile("wb", prefix=f"launcher-{run_id}-", suffix=".log", delete=False) as out:
                if path.exists():
                    export.write(path, out)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        except OSError as error:
            self.app.call_from_thread(self.notify, f"cannot write the log for the pager: {error.strerror or error}",
                                      severity="error")
            return
        self.app.call_from_thread(self.open_pager, out.name)

    def open_pager(self, path: str) -> None:
        """Run $PAGER (else less, else more) on the file, with the terminal handed over to it."""
        argv = shlex.split(os.environ.get("PAGER", "")) or (["less"] if shutil.which("less") else ["more"])
        if shutil.which(argv[0]) is None:
            self.notify(f"no pager {argv[0]!r} found (set $PAGER); the log as shown is in {path}", severity="error")
            return
        try:
            with self.app.suspend():
                subprocess.run([*argv, path], check=False)
        except SuspendNotSupported:
            self.notify(f"this terminal cannot be handed to a pager; the log as shown is in {path}",
                        severity="warning", timeout=10)
            return
        except OSError as error:
            self.notify(f"cannot run the pager {argv[0]!r}: {error.strerror or error}", severity="error")
        Path(path).unlink(missing_ok=True)

    def action_save(self) -> None:
        if self.run_id is None:
            self.notify("no run selected", severity="warning")
            return
        from tui.widgets.log_save_dialog import SaveLogDialog

        run_id = self.run_id

        def save(request: SaveRequest | None) -> None:
            if request:
                self.save_or_confirm(run_id, request.path, LogExport(request.timestamps, request.markers))

        self.app.push_screen(SaveLogDialog(run_id), save)

    def save_or_confirm(self, run_id: str, path: str, export: LogExport | None = None) -> None:
        """Save the log to a new file; an existing file is overwritten only once the user says so (y/n)."""
        from tui.screens.dialogs import ConfirmScreen

        export = export or LogExport()
        try:
            target = Path(path).expanduser()
            is_dir, exists = target.is_dir(), target.exists()
        except (OSError, RuntimeError) as error:  # ~nosuchuser, a folder that may not be looked into
            self.notify(f"cannot save the log to {path!r}: {getattr(error, 'strerror', None) or error}",
                        severity="error")
            return
        if is_dir:
            self.notify(f"cannot save the log to {str(target)!r}: it is a folder; give a file name", severity="error")
            return
        if not exists:
            self.save_log(run_id, path, export=export)
            return

        def answered(overwrite: bool | None) -> None:
            if overwrite:
                self.save_log(run_id, path, overwrite=True, export=export)
            else:
                self.notify(f"not saved: {target} already exists", severity="warning")

        self.app.push_screen(ConfirmScreen(f"{target} already exists. Overwrite it with the full log of run "
                                           f"{run_id}?", yes="Overwrite"), answered)

    @work(thread=True, exit_on_error=False, group="save")
    def save_log(self, run_id: str, path: str, overwrite: bool = False, export: LogExport | None = None) -> None:
        export = export or LogExport()
        try:
            log_path = self.api.run(run_id).log_path
            target = Path(path).expanduser()
            target.parent.mkdir(parents=True, exist_ok=True)
            # Without the user's yes, a file that appeared since the check is not overwritten either.
            with open(target, "wb" if overwrite else "xb") as f:
                written = export.write(log_path, f) if log_path.exists() else 0
        except FileExistsError:
            self.app.call_from_thread(self.notify, f"not saved: {path} already exists (save again to overwrite it)",
                                      severity="warning")
            return
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        except (OSError, RuntimeError) as error:  # RuntimeError: ~nosuchuser
            self.app.call_from_thread(self.notify, f"cannot save the log to {path!r}: "
                                      f"{getattr(error, 'strerror', None) or error}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"saved the full log of run {run_id} to {target} ({written:,} bytes)")
