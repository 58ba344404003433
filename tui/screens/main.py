"""The main screen: the live run table on top, log panes (the selected run, plus pinned tabs) below."""

from __future__ import annotations

import gc
import re
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from launcher.errors import LaunchError
from launcher.states import RunState
from tui.engine_calls import error_text
from tui.live_metrics import LatestMetrics
from tui.messages import RunChosen, RunHighlighted
from tui.widgets.log_pane import LogPane
from tui.widgets.run_table import RunTable

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import RunRecord

#: How often the table asks the store what changed, and how often runs whose owner may have died are checked.
POLL_SECONDS = 0.5
RECONCILE_SECONDS = 5.0
#: Changes are read with this much overlap, so a write committed late by another process is not missed.
OVERLAP_SECONDS = 2.0


class MainScreen(Screen):
    BINDINGS = [
        Binding("n", "app.new_launch", "New"),
        Binding("r", "relaunch_selected", "Relaunch"),
        Binding("c", "cancel_selected", "Cancel run"),
        Binding("l", "logs_selected", "Logs"),
        Binding("d", "details_selected", "Details"),
        Binding("y", "copy_selected", "Copy id"),
        Binding("slash", "filter", "Filter"),
        # Run before the key is forwarded to the focused widget, so the box it opens has the focus when the
        # next key (already queued: a fast typist, a paste) is forwarded: it lands in the box.
        Binding("slash", "slash", "Filter or search", show=False, priority=True),
        Binding("Q", "app.queues", "Queues"),
        Binding("W", "app.sweeps", "Sweeps"),
        Binding("x", "close_tab", "Close tab", show=False),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", show=False),
        Binding("right_square_bracket", "tab(1)", "Next tab", show=False),
        Binding("escape", "escape", "Clear the filter; in a log pane: back to the run table", show=False),
    ]

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api
        self._select_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self.loaded_at: float | None = None
        self._pinned: dict[str, str] = {}
        self._tab_serial = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter runs: text in any column (enter keeps it, escape clears)", id="filter")
        yield RunTable(id="runs")
        with TabbedContent(id="logs"):
            with TabPane("selected run", id="tab-selected"):
                yield LogPane(self.api, id="pane-selected")
        yield Footer()

    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        # The tab strip would be a focus stop that shows no focus and takes no useful key: tab goes from the
        # table straight to the log, `[` `]` and clicks switch tabs.
        self.query_one("#logs", TabbedContent).query_one(Tabs).can_focus = False
        self.table.focus()
        self._watch_runs(self.table)
        self.set_interval(1.0, self.table.tick)

    # -- the live table -------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="poll")
    def _watch_runs(self, table: RunTable) -> None:
        worker = get_current_worker()
        app = self.app
        try:
            records = self.api.runs()
        except LaunchError as error:
            app.call_from_thread(self.notify, str(error), severity="error")
            records = []
        newest = max((r.updated_at for r in records), default=0.0)
        app.call_from_thread(self._loaded, records)
        metrics = LatestMetrics(self.api)
        metrics.note(records)
        metrics_warned = False
        del records
        next_reconcile = time.monotonic() + RECONCILE_SECONDS
        while not worker.is_cancelled:
            try:
                # One batch per refresh, for the runs on screen whose metrics may still change.
                texts = metrics.refresh(table.window_run_ids())
                if texts and not worker.is_cancelled:
                    app.call_from_thread(table.set_metrics, texts)
            except Exception as error:  # noqa: BLE001 - metrics are extra; the table goes on without them
                if not metrics_warned:
                    metrics_warned = True
                    app.call_from_thread(self.notify, f"cannot read metrics: {error}", severity="warning")
            time.sleep(POLL_SECONDS)
            try:
                if time.monotonic() >= next_reconcile:
                    self.api.reconcile()
                    next_reconcile = time.monotonic() + RECONCILE_SECONDS
                changed = self.api.runs(updated_since=newest - OVERLAP_SECONDS)
            except LaunchError as error:
                app.call_from_thread(self.notify, str(error), severity="error")
                continue
            except Exception as error:  # noqa: BLE001 - e.g. a locked database; try again next time
                app.call_from_thread(self.notify, f"cannot read runs: {error_text(error)}", severity="warning")
                continue
            if changed:
                metrics.note(changed)
                newest = max(newest, max(r.updated_at for r in changed))
                if not worker.is_cancelled:
                    app.call_from_thread(self._changed, changed)

    def _loaded(self, records: list[RunRecord]) -> None:
        self.table.load(records)
        self.loaded_at = time.perf_counter()
        self._selection_changed()
        # What exists now (the app's widgets, the run records) lives as long as the app: moving it out of
        # the collector's reach keeps its full passes short while a log flood allocates many objects.
        gc.freeze()

    def _changed(self, records: list[RunRecord]) -> None:
        fresh = [r for r in records if self.table.records.get(r.id) != r]
        for record in fresh:
            if record.state is RunState.START_FAILED and record.id in self.app.launched_runs:
                self.app.tell_start_failed(record.id, record.message)
        if fresh:
            self.table.apply_updates(fresh)
            if self.query_one("#pane-selected", LogPane).run_id is None:
                self._selection_changed()

    @on(RunHighlighted, "#runs")
    def _row_highlighted(self) -> None:
        if self._select_timer is not None:
            self._select_timer.stop()
        self._select_timer = self.set_timer(0.15, self._selection_changed)

    def _selection_changed(self) -> None:
        self.query_one("#pane-selected", LogPane).show_run(self.table.selected_run_id)

    @on(RunChosen, "#runs")
    async def _row_chosen(self, event: RunChosen) -> None:
        await self.open_logs(event.run_id)

    # -- filter ---------------------------------------------------------------------------------------
    def action_slash(self) -> None:
        """`/`: the log pane's search when the focus is in a log pane, else the run filter; typed into a
        focused box as it is."""
        if isinstance(self.focused, Input):
            raise SkipAction()
        pane = self._focused_pane()
        if pane is not None:
            pane.action_search()
        else:
            self.action_filter()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        # Focused now, not after the keys already queued: `/` and a quickly typed text go to the box.
        self.set_focus(box)

    def show_filter(self, text: str) -> None:
        """Filter the table on this text and show it in the filter bar."""
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = text
        self.table.set_filter(text)
        self.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.1, lambda: self.table.set_filter(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.table.set_filter(event.value)
        if not event.value:
            event.input.display = False
        self.table.focus()

    def action_escape(self) -> None:
        """esc: from a log pane back to the run table; on the table, clear the filter."""
        if self._focused_pane() is not None:
            self.table.focus()
        else:
            self.action_clear_filter()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.table.set_filter("")
            self.table.focus()

    def select_run(self, run_id: str, *, reveal: bool = True) -> bool:
        """Put the table's cursor on the run; False when the table does not have it (yet). reveal: also
        clear a filter that hides it, show the "selected run" tab and focus the table."""
        if run_id not in self.table.records:
            return False
        if reveal:
            if run_id not in self.table.rows:
                self.action_clear_filter()
            self.query_one("#logs", TabbedContent).active = "tab-selected"
            self.table.focus()
        return self.table.select_run(run_id)

    # -- log tabs -------------------------------------------------------------------------------------
    async def open_logs(self, run_id: str) -> None:
        """Pin a tab following this run's log (or show the one already open) and focus it."""
        tabs = self.query_one("#logs", TabbedContent)
        tab_id = self._pinned.get(run_id)
        if tab_id is None:
            self._tab_serial += 1
            tab_id = "tab-run-" + re.sub(r"[^A-Za-z0-9_-]", "_", run_id) + f"-{self._tab_serial}"
            self._pinned[run_id] = tab_id
            await tabs.add_pane(TabPane(f"run {run_id}", LogPane(self.api, run_id), id=tab_id))
        self._focus_tab(tab_id)

    def _focus_tab(self, tab_id: str) -> None:
        tabs = self.query_one("#logs", TabbedContent)
        tabs.active = tab_id
        panes = tabs.get_pane(tab_id).query(LogPane)
        if panes:
            panes.first().view.focus()

    def action_close_tab(self) -> None:
        tabs = self.query_one("#logs", TabbedContent)
        active = tabs.active
        if not active or active == "tab-selected":
            return
        for run_id, tab_id in list(self._pinned.items()):
            if tab_id == active:
                del self._pinned[run_id]
        for pane in tabs.get_pane(active).query(LogPane):
            if pane._worker is not None:
                pane._worker.cancel()
        tabs.remove_pane(active)
        self.table.focus()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#logs", TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if tabs.active in ids:
            self._focus_tab(ids[(ids.index(tabs.active) + step) % len(ids)])

    # -- actions on the selected run ------------------------------------------------------------------
    def _focused_pane(self) -> LogPane | None:
        focused = self.focused
        return next((node for node in (focused.ancestors_with_self if focused else ()) if isinstance(node, LogPane)),
                    None)

    @property
    def target_run_id(self) -> str | None:
        """The run the run keys act on: the one of the focused log pane, else the table's selected run."""
        pane = self._focused_pane()
        if pane is not None and pane.run_id is not None:
            return pane.run_id
        return self.table.selected_run_id

    def _selected(self) -> str | None:
        run_id = self.target_run_id
        if run_id is None:
            self.notify("no run selected", severity="warning", timeout=2)
        return run_id

    def action_relaunch_selected(self) -> None:
        if (run_id := self._selected()) is not None:
            self.app.action_relaunch(run_id)

    def action_cancel_selected(self) -> None:
        if (run_id := self._selected()) is not None:
            self.app.action_cancel_run(run_id)

    async def action_logs_selected(self) -> None:
        if (run_id := self._selected()) is not None:
            await self.open_logs(run_id)

    def action_details_selected(self) -> None:
        if (run_id := self._selected()) is not None:
            self.app.action_details(run_id)

    def action_copy_selected(self) -> None:
        if (run_id := self._selected()) is not None:
            self.app.action_copy_id(run_id)
