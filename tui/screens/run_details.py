"""Run details: the resolved spec (job, version and commit, image, argv, config, resource args), timestamps,
exit code, the error message of a failed run and its state history."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static

from launcher.states import RunState
from tui import formatting
from tui.engine_calls import in_thread

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import ItemRecord, RunEvent, RunRecord

#: Points drawn per metric chart (the latest ones); the chart squeezes them into its width.
CHART_POINTS = 400


def details_table(record: RunRecord, events: Sequence[RunEvent], tail: list[str] | None = None,
                  item: ItemRecord | None = None, image: str | None = None) -> Table:
    """`image`: the image a container run runs (api.runs.image), when it has one."""
    spec = record.spec
    source = spec.get("source") or {}
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def row(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            table.add_row(label, value if isinstance(value, Text) else str(value))

    row("run", record.id)
    row("name", record.name)
    row("state", formatting.state_text(record.state))
    if record.message and (record.state.is_failure() or record.state is RunState.STOPPED):
        row("error" if record.state.is_failure() else "message", Text(record.message, style="bold red"))
    elif (setup := formatting.setup_line(record)) is not None:
        row("set-up", Text(setup, style=formatting.SETUP_STYLE))  # the last line of what it is doing now
    elif record.message:
        row("message", record.message)
    row("exit code", formatting.exit_code(record))
    row("project", f"{record.entity}/{record.project}")
    row("sweep", record.sweep_id)
    if item is not None:
        row("queue item", f"#{item.id} on queue {item.queue!r} ({item.priority} priority, {item.state})")
    row("job", spec.get("job") or "-")
    row("job kind", spec.get("job_kind"))
    row("version", spec.get("version"))
    row("commit", source.get("commit"))
    row("git url", source.get("url"))
    row("snapshot", source.get("snapshot"))
    # The image asked for, or the one built for the run (recorded by its owner).
    row("image", spec.get("docker_image") or image)
    row("entry point", spec.get("entry_point_name"))
    row("argv", json.dumps(list(spec.get("argv") or [])))
    row("resource", record.resource)
    row("resource args", json.dumps(dict(spec.get("resource_args") or {})))
    row("config", json.dumps(dict(spec.get("run_config") or {}), indent=2))
    row("requirements", ", ".join(spec.get("requirements") or []))
    row("repository", spec.get("repository"))
    row("created", formatting.clock(record.created_at))
    row("started", formatting.clock(record.started_at))
    row("ended", formatting.clock(record.ended_at))
    row("duration", formatting.duration(record))
    history = Text()
    for event in events:
        history.append(f"{formatting.clock(event.at)}  ")
        history.append(str(event.state), style=formatting.STATE_STYLES.get(event.state, ""))
        if event.message:
            history.append(f"  {event.message}")
        history.append("\n")
    history.rstrip()
    row("history", history if history.plain else None)
    if tail:
        row("last output", Text("\n".join(tail), style="dim"))
    return table


@dataclass(frozen=True)
class DetailsView:
    """One refresh of the details, read in a worker."""

    table: Table
    #: The metric series to draw, or None when they did not change.
    series: dict[str, list] | None
    #: The run's metrics cannot change any more.
    final: bool


class RunDetailsScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "relaunch", "Relaunch"),
        Binding("c", "cancel_run", "Cancel run"),
        Binding("l,enter", "logs", "Logs"),
        Binding("y", "copy_id", "Copy id"),
    ]

    def __init__(self, api: Api, run_id: str) -> None:
        super().__init__()
        self.api = api
        self.run_id = run_id
        #: name -> number of points drawn; the charts stop refreshing once the run's metrics are final
        self.charts: dict[str, int] = {}
        self._metrics_final = False
        self._series = MetricSeries()
        #: Refreshes done (each one asks the engine what changed), and refreshes drawn on the screen.
        self.loads = 0
        self.shown = 0
        self._item: ItemRecord | None = None
        self._item_looked_up = False
        self._image: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("loading ...", id="details")
            yield Static("Metrics", id="metrics-title", classes="section")
            yield Vertical(id="metrics")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        self.query_one("#metrics-title").display = False
        self._load()
        self.set_interval(1.0, self._load)

    def _load(self) -> None:
        in_thread(self, self._read, then=self._show, group="details", exclusive=True)

    def _read(self) -> DetailsView:
        """In a worker: the run's record, history and metrics."""
        from tui.live_metrics import SETTLE_SECONDS

        run = self.api.runs.get(self.run_id)
        record = run.record
        events = run.events()
        tail = run.tail(8) if record.state.is_failure() else None
        if not self._item_looked_up:  # which queue item launched the run, and its image, do not change: asked once
            self._item = self._queue_item(record)
            self._item_looked_up = True
        if self._image is None:
            self._image = self.api.runs.image(record)  # known once its owner has built or found it
        ended = record.ended_at
        final = record.done and ended is not None and time.time() - ended > SETTLE_SECONDS
        series = None
        if not self._metrics_final:
            series = self._series.refresh(self.api, self.run_id, final=final)
        self.loads += 1
        return DetailsView(details_table(record, events, tail, self._item, self._image), series, final)

    def _queue_item(self, record: RunRecord) -> ItemRecord | None:
        sweep_id = record.sweep_id
        items = self.api.queues.items(sweep_id=sweep_id) if sweep_id else self.api.queues.items()
        return next((item for item in items if item.run_id == self.run_id), None)

    async def _show(self, view: DetailsView) -> None:
        self.query_one("#details", Static).update(view.table)
        if view.series is not None:
            await self.show_metrics(view.series)
        self._metrics_final = self._metrics_final or view.final
        self.shown += 1

    async def show_metrics(self, series: dict[str, list]) -> None:
        """One line per metric (name, latest value, step, points) and a sparkline of its latest points."""
        box = self.query_one("#metrics", Vertical)
        self.query_one("#metrics-title").display = bool(series)
        # series holds the latest CHART_POINTS points of each metric; counts and bounds cover all of them.
        for name, points in sorted(series.items()):
            widget_id = "metric-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
            last = points[-1]
            low, high = self._series.bounds[name]
            label = Text.assemble((name, "bold"), "  ", (formatting.number(last.value), "bold cyan"),
                                  f"  step {last.step}  ({_count(self._series.counts[name], 'point')}, min {formatting.number(low)}"
                                  f", max {formatting.number(high)})")
            data = [p.value for p in points]
            if name not in self.charts:
                await box.mount(Static(label, id=f"{widget_id}-label", classes="metric-label"),
                                Sparkline(data, id=widget_id, classes="metric-chart"))
            else:
                box.query_one(f"#{widget_id}-label", Static).update(label)
                box.query_one(f"#{widget_id}", Sparkline).data = data
            self.charts[name] = self._series.counts[name]

    def action_relaunch(self) -> None:
        self.app.pop_screen()
        self.app.action_relaunch(self.run_id)

    def action_cancel_run(self) -> None:
        self.app.action_cancel_run(self.run_id)

    async def action_logs(self) -> None:
        self.app.pop_screen()
        await self.app.action_open_logs(self.run_id)

    def action_copy_id(self) -> None:
        self.app.action_copy_id(self.run_id)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class MetricSeries:
    """A run's metrics as the details screen shows them, refreshed cheaply while the run is active.

    The engine returns a run's metrics only whole (`Api.metrics`), so re-reading them every second would
    cost more and more as a long run reports. Instead, each refresh asks for the latest point of each
    metric (`Api.latest_metrics`, one small query); nothing more is read while those do not change.
    When they change, the latest points are appended, and the whole series is read again only as often
    as its cost allows (a full read takes at most FULL_READ_SHARE of the time), which fills in points
    reported between two refreshes. Only the last CHART_POINTS points of each metric are kept."""

    FULL_READ_SHARE = 0.05

    def __init__(self) -> None:
        self.points: dict[str, list] = {}
        self.counts: dict[str, int] = {}
        self.bounds: dict[str, tuple[float, float]] = {}
        #: name -> (step, time) of the latest point kept: the cursor new points are compared with
        self.cursor: dict[str, tuple[int, float]] = {}
        self.full_reads = 0
        self._next_full_read = 0.0
        #: Points were appended from the latest values since the last full read (some may be missing).
        self._appended = False

    def refresh(self, api: Api, run_id: str, *, final: bool = False) -> dict[str, list] | None:
        """The series to draw, or None when nothing changed since the last call. `final`: the run's
        metrics cannot change any more; they are read whole once more if points were only appended."""
        if self.full_reads == 0 or (final and self._appended):
            return self._read_all(api, run_id)
        latest = api.runs.latest_metrics([run_id]).get(run_id, {})
        fresh = {name: point for name, point in latest.items()
                 if self.cursor.get(name) != (point.step, point.time)}
        if not fresh:
            return None
        if time.monotonic() >= self._next_full_read:
            return self._read_all(api, run_id)
        for name, point in fresh.items():
            self._add(name, [point], replace=False)
        self._appended = True
        return self.points

    def _read_all(self, api: Api, run_id: str) -> dict[str, list]:
        started = time.monotonic()
        series = api.runs.metrics(run_id)
        for name, points in series.items():
            self._add(name, points, replace=True)
        self.full_reads += 1
        self._appended = False
        took = time.monotonic() - started
        self._next_full_read = time.monotonic() + took / self.FULL_READ_SHARE
        return self.points

    def _add(self, name: str, points: list, *, replace: bool) -> None:
        if not points:
            return
        low, high = min(p.value for p in points), max(p.value for p in points)
        if replace or name not in self.points:
            self.points[name] = points[-CHART_POINTS:]
            self.counts[name] = len(points)
            self.bounds[name] = (low, high)
        else:
            kept = self.points[name]
            kept.extend(points)
            del kept[:-CHART_POINTS]
            self.counts[name] += len(points)
            old_low, old_high = self.bounds[name]
            self.bounds[name] = (min(low, old_low), max(high, old_high))
        last = points[-1]
        self.cursor[name] = (last.step, last.time)
