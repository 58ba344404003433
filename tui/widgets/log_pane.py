"""A run's log pane: the log view, a status line and a search bar, fed by a thread worker that follows the
run's log file and hands lines over in batches."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static
from textual.worker import Worker, get_current_worker

from launcher.errors import LaunchError
from launcher.logfile import LAUNCHER, LogReader
from tui.widgets.log_view import LogView, entries_of

if TYPE_CHECKING:
    from launcher.api import Api

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


class LogPane(Vertical):
    BINDINGS = [
        Binding("slash", "search", "Search log"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("f", "only_matches", "Only matches"),
        Binding("w", "wrap", "Wrap"),
        Binding("t", "timestamps", "Timestamps"),
        Binding("s", "toggle_follow", "Follow"),
        Binding("ctrl+s", "save", "Save log"),
    ]

    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > .log-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    LogPane > Input { display: none; height: 3; }
    LogPane > Input.shown { display: block; }
    LogPane > LogView { height: 1fr; }
    """

    def __init__(self, api: Api, run_id: str | None = None, *, max_lines: int = 50_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = api
        self.run_id = run_id
        self.state = ""
        self.max_lines = max_lines
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self._pending: list = []
        self._pending_state = ""
        self._pending_skipped = 0
        self._token: object | None = None

    def compose(self) -> ComposeResult:
        yield Static("no run selected", classes="log-status")
        yield Input(placeholder="search the log (enter: keep, escape: close)", classes="log-search")
        yield LogView(max_lines=self.max_lines)

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
        token = object()
        with self._lock:
            if self._worker is not None:
                self._worker.cancel()
            self._worker = None
            self._token = token
            self._pending = []
            self._pending_state = ""
            self._pending_skipped = 0
        self.run_id = run_id
        self.state = ""
        self.view.clear()
        self.view.follow = True
        if run_id is not None:
            self._worker = self._follow(run_id, token)
        self._update_status()

    @work(thread=True, exit_on_error=False, group="logs")
    def _follow(self, run_id: str, token: object) -> None:
        worker = get_current_worker()
        try:
            run = self.api.run(run_id)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        reader = LogReader(run.log_path)
        line_bytes = 100.0  # bytes per line in the file, measured as it is read
        while not worker.is_cancelled:
            state = run.state  # read before the file, so no line written before the end is missed
            reader = self._skip_backlog(worker, token, reader, line_bytes, state)
            started, offset = time.monotonic(), reader.offset
            lines = reader.read(READ_BYTES)
            if lines:
                line_bytes = (reader.offset - offset) / len(lines)
            ended = not lines and state.is_terminal()
            if ended:  # the file is complete, and its backlog small: what is left is read at once
                lines = list(reader.read_available()) + reader.flush_pending()
            self._hand_over(worker, token, entries_of(lines), state)
            if ended:
                return
            if not lines:
                time.sleep(POLL_SECONDS)
                continue
            # Parsing holds the GIL: a pause after each chunk lets the UI thread take it at once instead of
            # queueing behind this thread, and holds the parsing rate to MAX_LINES_PER_SECOND.
            budget = len(lines) / MAX_LINES_PER_SECOND
            time.sleep(max(YIELD_SECONDS, budget - (time.monotonic() - started)))

    def _skip_backlog(self, worker: Worker, token: object, reader: LogReader, line_bytes: float,
                      state: str) -> LogReader:
        """A reader at the tail of the file when more of it is unread than the pane keeps; else `reader`."""
        try:
            size = os.stat(reader.path).st_size
        except FileNotFoundError:
            return reader
        backlog = size - reader.offset
        if backlog <= SKIP_AFTER_PANES * self.max_lines * min(line_bytes, MIN_LINE_BYTES):
            return reader
        with open(reader.path, "rb") as f:
            # How long the lines at the end are, from a sample there (lines read so far may differ).
            f.seek(max(reader.offset, size - (1 << 16)))
            sample = f.read(1 << 16)
            if sample.count(b"\n"):
                line_bytes = len(sample) / sample.count(b"\n")
            if backlog <= SKIP_AFTER_PANES * self.max_lines * line_bytes:
                return reader
            start = max(reader.offset, size - int(self.max_lines * KEEP_AFTER_SKIP * line_bytes))
            f.seek(start)  # the next whole record starts after the next newline
            head = f.read(1 << 16)
        cut = head.find(b"\n")
        if cut < 0:
            return reader
        start += cut + 1
        skipped = round((start - reader.offset) / line_bytes)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        note = (f"... about {skipped:,} lines ({(start - reader.offset) / 1e6:,.1f} MB) skipped to keep up with the "
                "run; the full log is on disk (ctrl+s saves it) ...").encode()
        self._hand_over(worker, token, [(stamp, LAUNCHER, note)], state, skipped=skipped)
        return LogReader(reader.path, offset=start)

    def _hand_over(self, worker: Worker, token: object, lines: list, state: str, skipped: int = 0) -> None:
        """Queue lines for the UI thread, which takes them at most FRAME_SECONDS apart; wait while the
        queue is full, so a flood cannot outrun the screen."""
        while True:
            with self._lock:
                if token is not self._token:
                    return  # this pane shows another run now
                if len(self._pending) < MAX_PENDING_LINES or not lines or skipped:
                    self._pending.extend(lines)
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
            state = self._pending_state
            skipped, self._pending_skipped = self._pending_skipped, 0
        if skipped:
            self.view.note_skipped(skipped)
        if lines:
            self.view.append(lines)
        if lines or state != self.state:
            self.state = state
            self._update_status()

    @property
    def busy(self) -> bool:
        """True while the pane's reader runs or lines it read wait to be shown (the run is active, or its
        log is not all shown yet)."""
        with self._lock:
            pending = bool(self._pending) or bool(self._pending_skipped)
        return pending or (self._worker is not None and self._worker.is_running)

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        view = self.view
        if self.run_id is None:
            text = "no run selected"
        else:
            if view.follow:
                follow = "[b]following[/]"
            elif view.unseen:
                follow = f"[b reverse] paused: {view.unseen} new lines (End resumes) [/]"
            else:
                follow = "[b reverse] paused (End follows) [/]"
            modes = [name for name, on_ in (("wrap", view.wrap), ("timestamps", view.timestamps),
                                            ("only matches", view.only_matches)) if on_]
            search = f" · search [i]{view.search}[/]" if view.search else ""
            kept = len(view.entries)
            if view.dropped:  # the pane keeps the newest lines; the whole log is on disk (ctrl+s saves it)
                shown = f" ([b]last {kept:,} shown[/], ctrl+s saves all)"
            else:
                shown = ""
            total = view.received + view.skipped
            noun = "line" if total == 1 else "lines"
            text = (f"run [b]{self.run_id}[/] · {self.state or '...'} · {total:,} {noun}{shown} · {follow}"
                    f"{' · ' + ', '.join(modes) if modes else ''}{search}")
        # One line high whatever it says: no layout of the screen on each frame of a flood.
        self.query_one(".log-status", Static).update(text, layout=False)

    def on_log_view_status_changed(self, event: LogView.StatusChanged) -> None:
        event.stop()
        self._update_status()

    # -- actions --------------------------------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one(".log-search", Input)
        search.add_class("shown")
        search.value = self.view.search
        # Focused now, not after the keys already queued: `/` and a quickly typed term go to the box.
        self.screen.set_focus(search)

    @on(Input.Changed, ".log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.view.set_modes(search=event.value)

    @on(Input.Submitted, ".log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("shown")
        self.view.focus()
        if event.value:
            self.view.jump_to_match(forward=True)
            self.notify(self.search_summary(), timeout=6)

    def search_summary(self) -> str:
        """How many kept lines match the search, and, when the pane dropped lines, that only those were
        searched and where the whole log is."""
        view = self.view
        count = view.match_count()
        found = (f"{count:,} of {len(view.entries):,} lines match {view.search!r}" if count
                 else f"no match for {view.search!r} in {len(view.entries):,} lines")
        if not view.dropped:
            return found
        return (f"{found}. The search covers only the lines kept in this pane ({view.dropped:,} earlier or "
                f"skipped lines are not); the full log is on disk: `launcher logs {self.run_id} | grep ...`, "
                "or ctrl+s to save it")

    def on_key(self, event) -> None:
        search = self.query_one(".log-search", Input)
        if event.key == "escape" and search.has_focus:
            event.stop()
            search.remove_class("shown")
            self.view.focus()

    def action_next_match(self) -> None:
        if not self.view.jump_to_match(forward=True):
            self.notify(self.search_summary() if self.view.search else "nothing to search for: press / first",
                        timeout=4)

    def action_previous_match(self) -> None:
        if not self.view.jump_to_match(forward=False):
            self.notify(self.search_summary() if self.view.search else "nothing to search for: press / first",
                        timeout=4)

    def action_only_matches(self) -> None:
        self.view.set_modes(only_matches=not self.view.only_matches)

    def action_wrap(self) -> None:
        self.view.set_modes(wrap=not self.view.wrap)

    def action_timestamps(self) -> None:
        self.view.set_modes(timestamps=not self.view.timestamps)

    def action_toggle_follow(self) -> None:
        if self.view.follow:
            self.view.follow = False
        else:
            self.view.action_follow()

    def action_save(self) -> None:
        if self.run_id is None:
            self.notify("no run selected", severity="warning")
            return
        from tui.screens.dialogs import SaveLogScreen

        run_id = self.run_id

        def save(path: str | None) -> None:
            if path:
                self.save_or_confirm(run_id, path)

        self.app.push_screen(SaveLogScreen(run_id), save)

    def save_or_confirm(self, run_id: str, path: str) -> None:
        """Save the log to a new file; an existing file is overwritten only once the user says so (y/n)."""
        from tui.screens.dialogs import ConfirmScreen

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
            self.save_log(run_id, path)
            return

        def answered(overwrite: bool | None) -> None:
            if overwrite:
                self.save_log(run_id, path, overwrite=True)
            else:
                self.notify(f"not saved: {target} already exists", severity="warning")

        self.app.push_screen(ConfirmScreen(f"{target} already exists. Overwrite it with the full log of run "
                                           f"{run_id}?", yes="Overwrite"), answered)

    @work(thread=True, exit_on_error=False, group="save")
    def save_log(self, run_id: str, path: str, overwrite: bool = False) -> None:
        try:
            data = self.api.run(run_id).get_log_bytes()
            target = Path(path).expanduser()
            target.parent.mkdir(parents=True, exist_ok=True)
            # Without the user's yes, a file that appeared since the check is not overwritten either.
            with open(target, "wb" if overwrite else "xb") as f:
                f.write(data)
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
        self.app.call_from_thread(self.notify, f"saved the full log of run {run_id} to {target} ({len(data):,} bytes)")
