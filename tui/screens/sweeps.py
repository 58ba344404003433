"""The sweeps screen: every sweep with its state and progress, and the chosen sweep's trials (parameters,
state, run and the sweep's metric), best first. Pause, resume, cancel; create one from a TOML file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from launcher.errors import LaunchError
from launcher.states import ItemState, SweepState
from tui import formatting
from tui.columns import fit_columns
from tui.engine_calls import in_thread
from tui.screens.queues import no_agent_text, served_queues
from tui.widgets.table_sync import cursor_key, sync_rows

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import SweepRecord, TrialRecord

REFRESH_SECONDS = 1.0

#: (column key, header, width) of the sweeps table, in sweep_row's order.
SWEEP_COLUMNS = (("id", "ID", 10), ("name", "NAME", 14), ("state", "STATE", 9), ("method", "METHOD", 6),
                 ("metric", "METRIC", 16), ("queue", "QUEUE", 8), ("trials", "TRIALS", 6), ("done", "DONE", 5),
                 ("running", "RUNNING", 7), ("queued", "QUEUED", 6), ("failed", "FAILED", 6),
                 ("cancelled", "CANCELLED", 9))
#: On a narrow terminal, applied in this order until the row fits (as the run table does): (column,
#: narrower width or 0 to hide). The trials title names the metric; the state says "cancelled".
SWEEP_NARROWING = (("method", 0), ("metric", 0), ("cancelled", 0), ("queue", 0), ("name", 10), ("id", 8))
#: The trials table, in trial_row's order; its last column (other metrics / reason) takes what is left.
TRIAL_COLUMNS = (("rank", "#", 4), ("item", "ITEM", 6), ("state", "STATE", 9), ("run", "RUN", 10),
                 ("metric", "METRIC", 10), ("parameters", "PARAMETERS", 48), ("other", "OTHER METRICS / REASON", 16))
TRIAL_NARROWING = (("item", 0), ("parameters", 32), ("parameters", 24), ("rank", 0), ("metric", 8),
                   ("parameters", 18))
#: Cells a DataTable adds around each column (cell_padding 1 on each side), and room for its scrollbar.
CELL_PADDING = 2
SCROLLBAR = 2


def table_layout(columns: tuple[tuple[str, str, int], ...], narrowing: tuple[tuple[str, int], ...], width: int,
                 *, stretch_last: bool = False) -> tuple[tuple[int, str, str, int], ...]:
    """(index, key, header, width) of the columns shown in a table `width` cells wide (tui/columns.py)."""
    return tuple((index, columns[index][0], columns[index][1], shown)
                 for index, shown in fit_columns(columns, narrowing, width, gap=CELL_PADDING, stretch_last=stretch_last))


def sweep_row(sweep: SweepRecord) -> tuple[Any, ...]:
    counts = sweep.counts
    metric = sweep.metric
    return (
        sweep.id,
        sweep.name,
        formatting.sweep_state_text(sweep.state),
        sweep.method or "-",
        f"{metric['name']} ({metric['goal']})" if metric else "-",
        sweep.queue,
        str(sweep.trials),
        str(counts.get(ItemState.FINISHED, 0)),
        str(counts.get(ItemState.CLAIMED, 0) + counts.get(ItemState.RUNNING, 0)),
        str(counts.get(ItemState.QUEUED, 0)),
        str(counts.get(ItemState.FAILED, 0)),
        str(counts.get(ItemState.CANCELLED, 0)),
    )


def parameters_text(parameters: Mapping[str, Any]) -> str:
    parts = []
    for name, value in parameters.items():
        shown = formatting.number(value) if isinstance(value, float) else json.dumps(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def trial_row(rank: int | None, trial: TrialRecord, metric: str | None) -> tuple[Any, ...]:
    others = {k: v for k, v in trial.metrics.items() if k != metric}
    return (
        str(rank) if rank is not None else "-",
        str(trial.item_id),
        formatting.item_state_text(trial.state),
        trial.run_id or "-",
        formatting.number(trial.metric) if trial.metric is not None else "-",
        parameters_text(trial.parameters),
        " ".join(f"{k}={formatting.number(v)}" for k, v in others.items()) or (trial.message or ""),
    )


def metric_name(sweep: SweepRecord | None) -> str | None:
    return sweep.metric["name"] if sweep is not None and sweep.metric else None


@dataclass(frozen=True)
class SweepsView:
    """One refresh of the screen, read in a worker."""

    sweeps: list[SweepRecord]
    chosen: str | None
    trials: list[TrialRecord]
    served: set[str]


class SweepsScreen(Screen):
    #: Its commands offer these with the sweep's id, and not at all for a sweep that ended.
    SCREEN_COMMAND_ACTIONS = ("pause", "resume", "cancel_sweep", "show_runs")
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("n", "app.create_sweep", "New sweep (TOML)"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("c", "cancel_sweep", "Cancel sweep"),
        Binding("f", "show_runs", "Its runs"),
        Binding("enter", "show_run", "Show run"),
        Binding("d", "run_details", "Run details"),
        Binding("Q", "app.queues", "Queues"),
    ]

    def __init__(self, api: Api, select: str | None = None) -> None:
        super().__init__()
        self.api = api
        self.selected_sweep: str | None = select
        self.sweeps: dict[str, SweepRecord] = {}
        self.trials: list[TrialRecord] = []
        self.loaded = False
        self._refresh_error: str | None = None
        #: Queues a running agent (in this app or elsewhere) takes items from.
        self.served: set[str] = set()
        self.layouts: dict[str, tuple[tuple[int, str, str, int], ...]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Sweeps", classes="section")
        yield DataTable(id="sweeps", cursor_type="row", zebra_stripes=True)
        yield Static("", id="trials-title", classes="section")
        yield DataTable(id="trials", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sweeps"
        self._lay_out(self.app.size.width)
        self.query_one("#sweeps", DataTable).focus()
        self.refresh_data()
        self.set_interval(REFRESH_SECONDS, self.refresh_data)

    # -- layout ---------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._lay_out(self.size.width)

    def _lay_out(self, width: int) -> None:
        """Columns that fit the screen's width: the less needed ones narrowed or hidden first."""
        room = max(width - SCROLLBAR, 0)
        layouts = {"sweeps": table_layout(SWEEP_COLUMNS, SWEEP_NARROWING, room),
                   "trials": table_layout(TRIAL_COLUMNS, TRIAL_NARROWING, room, stretch_last=True)}
        if layouts == self.layouts:
            return
        self.layouts = layouts
        for table_id, layout in layouts.items():
            table = self.query_one(f"#{table_id}", DataTable)
            keep = cursor_key(table)
            table.clear(columns=True)
            for _, key, title, column_width in layout:
                table.add_column(title, key=key, width=column_width)
            self._fill(table_id)
            if keep is not None and keep in table.rows:
                table.move_cursor(row=table.get_row_index(keep), animate=False)

    def _shown(self, table_id: str, cells: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(cells[index] for index, *_ in self.layouts[table_id])

    def _fill(self, table_id: str) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table_id == "sweeps":
            sync_rows(table, [(s.id, self._shown("sweeps", sweep_row(s))) for s in self.sweeps.values()])
            return
        metric = metric_name(self.sweeps.get(self.selected_sweep) if self.selected_sweep else None)
        rows = []
        rank = 0
        for trial in self.trials:
            ranked = None
            if metric and trial.metric is not None:
                rank += 1
                ranked = rank
            rows.append((str(trial.item_id), self._shown("trials", trial_row(ranked, trial, metric))))
        sync_rows(table, rows)

    # -- data -----------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        api = self.api
        selected = self.selected_sweep

        def read() -> SweepsView:
            sweeps = api.sweeps()
            chosen = selected if selected in {s.id for s in sweeps} else None
            chosen = chosen or (sweeps[0].id if sweeps else None)
            trials = api.sweeps.trials(chosen) if chosen else []
            return SweepsView(sweeps, chosen, trials, served_queues(api.queues.agents()))

        in_thread(self, read, then=self._loaded, failed=self._refresh_failed, group="sweeps", exclusive=True)

    def _refresh_failed(self, error: LaunchError) -> None:
        if str(error) != self._refresh_error:  # once per problem, not once a second
            self._refresh_error = str(error)
            self.notify(str(error), severity="error")

    def _loaded(self, view: SweepsView) -> None:
        self._refresh_error = None
        chosen = view.chosen
        if self.selected_sweep is not None and chosen != self.selected_sweep and \
                self.selected_sweep in {s.id for s in view.sweeps}:
            return  # the choice changed meanwhile
        self.sweeps = {s.id: s for s in view.sweeps}
        self.selected_sweep = chosen
        self.served = self.app.agent_control.served(view.served)
        table = self.query_one("#sweeps", DataTable)
        self._fill("sweeps")
        if chosen is not None and cursor_key(table) != chosen:
            table.move_cursor(row=table.get_row_index(chosen), animate=False)
        self.trials = view.trials
        self._fill("trials")
        sweep = self.sweeps.get(chosen) if chosen else None
        if sweep is None:
            title = "No sweeps yet: n creates one from a TOML file (job, method, parameters, metric, queue)."
        else:
            metric = sweep.metric
            order = (f"best first by {metric['name']} ({metric['goal']})" if metric else "in launch order (no metric)")
            title = f"Trials of sweep {sweep.id} ({sweep.name}, {sweep.state}): {order}"
            if (waiting := self.waiting_hint(sweep)) is not None:
                title += f". {waiting}"
        self.query_one("#trials-title", Static).update(title)
        self.loaded = True

    def waiting_hint(self, sweep: SweepRecord) -> str | None:
        """Why the sweep's queued trials do not start, if they cannot: it is paused, or no agent takes items
        from its queue."""
        if not sweep.counts.get(ItemState.QUEUED):
            return None
        if sweep.state is SweepState.PAUSED:
            return "Paused: agents skip its trials (u resumes it)"
        if sweep.state is SweepState.RUNNING and sweep.queue not in self.served:
            text = no_agent_text(sweep.queue)
            return text[0].upper() + text[1:]
        return None

    def select_sweep(self, sweep_id: str) -> None:
        self.selected_sweep = sweep_id
        self.refresh_data()

    @on(DataTable.RowHighlighted, "#sweeps")
    def _sweep_highlighted(self) -> None:
        key = cursor_key(self.query_one("#sweeps", DataTable))
        if key is not None and key != self.selected_sweep:
            self.selected_sweep = key
            self.refresh_data()

    @on(DataTable.RowSelected, "#sweeps")
    def _sweep_selected(self) -> None:
        self.query_one("#trials", DataTable).focus()

    @on(DataTable.RowSelected, "#trials")
    def _trial_selected(self) -> None:
        self.action_show_run()

    def _chosen(self) -> str | None:
        if self.selected_sweep is None:
            self.notify("no sweep selected", severity="warning", timeout=2)
        return self.selected_sweep

    def _selected_trial(self) -> TrialRecord | None:
        key = cursor_key(self.query_one("#trials", DataTable))
        trial = next((t for t in self.trials if str(t.item_id) == key), None)
        if trial is None:
            self.notify("no trial selected", severity="warning", timeout=2)
        elif trial.run_id is None:
            self.notify(f"trial (item {trial.item_id}) has no run yet ({trial.state})", severity="warning", timeout=3)
            return None
        return trial

    def _ended(self, sweep_id: str, target: SweepState) -> bool:
        """True (and says why) when the sweep has ended: nothing is left to move."""
        sweep = self.sweeps.get(sweep_id)
        if sweep is None or not sweep.state.is_terminal():
            return False
        if sweep.state is SweepState.CANCELLED:
            text = f"sweep {sweep_id} is {sweep.state}; it cannot be moved to {target}"
        else:  # shown finished or failed: every trial ended
            text = f"sweep {sweep_id} is {sweep.state}: its trials have all ended; it cannot be moved to {target}"
        self.notify(text, severity="warning", timeout=4)
        return True

    # -- actions --------------------------------------------------------------------------------------
    def action_pause(self) -> None:
        if (sweep_id := self._chosen()) is not None and not self._ended(sweep_id, SweepState.PAUSED):
            self._move("pause", sweep_id)

    def action_resume(self) -> None:
        if (sweep_id := self._chosen()) is not None and not self._ended(sweep_id, SweepState.RUNNING):
            self._move("resume", sweep_id)

    def action_cancel_sweep(self) -> None:
        from tui.screens.dialogs import ConfirmScreen

        if (sweep_id := self._chosen()) is None or self._ended(sweep_id, SweepState.CANCELLED):
            return
        self.app.push_screen(ConfirmScreen(f"Cancel sweep {sweep_id}? Its waiting trials are cancelled and its "
                                           "running runs stopped.", yes="Cancel sweep"),
                             lambda yes: self._move("cancel", sweep_id) if yes else None)

    def _move(self, action: str, sweep_id: str) -> None:
        sweeps = self.api.sweeps
        operation = {"pause": sweeps.pause, "resume": sweeps.resume, "cancel": sweeps.cancel}[action]

        def moved(sweep: SweepRecord) -> None:
            self.notify(f"sweep {sweep_id} is {sweep.state}")
            self.refresh_data()

        in_thread(self, lambda: operation(sweep_id), then=moved, group="sweep-actions")

    def action_show_runs(self) -> None:
        """The run table, filtered to this sweep's runs (its id is searchable there)."""
        if (sweep_id := self._chosen()) is None:
            return
        self.app.show_main()
        self.app.main.show_filter(sweep_id)

    def action_show_run(self) -> None:
        if self.focused is self.query_one("#sweeps", DataTable):
            self.query_one("#trials", DataTable).focus()
            return
        trial = self._selected_trial()
        if trial is not None:
            self.app.show_main()
            self.app.select_run(trial.run_id)

    def action_run_details(self) -> None:
        trial = self._selected_trial()
        if trial is not None:
            self.app.action_details(trial.run_id)

    def screen_commands(self):
        """Command palette entries for this screen (the app adds them)."""
        if self.selected_sweep is not None:
            sweep_id = self.selected_sweep
            sweep = self.sweeps.get(sweep_id)
            if sweep is None or not sweep.state.is_terminal():  # an ended sweep is not moved any more
                yield SystemCommand(f"Pause sweep {sweep_id}", "agents stop taking its trials (p)", self.action_pause)
                yield SystemCommand(f"Resume sweep {sweep_id}", "agents take its trials again (u)", self.action_resume)
                yield SystemCommand(f"Cancel sweep {sweep_id}", "after a confirmation (c)", self.action_cancel_sweep)
            yield SystemCommand(f"Runs of sweep {sweep_id}", "the run table filtered to them (f)", self.action_show_runs)
