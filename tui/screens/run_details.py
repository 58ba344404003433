"""Run details: the resolved spec (job, version and commit, image, argv, config, resource args), timestamps,
exit code, the error message of a failed run and its state history."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from launcher.errors import LaunchError
from tui import formatting

if TYPE_CHECKING:
    from launcher.api import Api


def details_table(record: dict[str, Any], events: list[dict[str, Any]], tail: list[str] | None = None) -> Table:
    spec = record.get("spec") or {}
    source = spec.get("source") or {}
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def row(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            table.add_row(label, value if isinstance(value, Text) else str(value))

    row("run", record["id"])
    row("name", record.get("name"))
    row("state", formatting.state_text(record.get("state") or "?"))
    if record.get("state") in ("failed", "start_failed", "stopped") and record.get("message"):
        row("error" if record.get("state") != "stopped" else "message", Text(record["message"], style="bold red"))
    elif record.get("message"):
        row("message", record["message"])
    row("exit code", formatting.exit_code(record))
    row("project", f"{record.get('entity')}/{record.get('project')}")
    row("job", spec.get("job") or "-")
    row("job kind", spec.get("job_kind"))
    row("version", spec.get("version"))
    row("commit", source.get("commit"))
    row("git url", source.get("url"))
    row("snapshot", source.get("snapshot"))
    row("image", spec.get("docker_image"))
    row("entry point", spec.get("entry_point_name"))
    row("argv", json.dumps(spec.get("argv") or []))
    row("resource", record.get("resource"))
    row("resource args", json.dumps(spec.get("resource_args") or {}))
    row("config", json.dumps(spec.get("run_config") or {}, indent=2))
    row("requirements", ", ".join(spec.get("requirements") or []))
    row("repository", spec.get("repository"))
    row("created", formatting.clock(record.get("created_at")))
    row("started", formatting.clock(record.get("started_at")))
    row("ended", formatting.clock(record.get("ended_at")))
    row("duration", formatting.duration(record))
    history = Text()
    for event in events:
        history.append(f"{formatting.clock(event['at'])}  ")
        history.append(event["state"], style=formatting.STATE_STYLES.get(event["state"], ""))
        if event.get("message"):
            history.append(f"  {event['message']}")
        history.append("\n")
    history.rstrip()
    row("history", history if history.plain else None)
    if tail:
        row("last output", Text("\n".join(tail), style="dim"))
    return table


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

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("loading ...", id="details")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        self._load()
        self.set_interval(1.0, self._load)

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def _load(self) -> None:
        try:
            run = self.api.run(self.run_id)
            record = run.record
            events = self.api.store.run_events(self.run_id)
            tail = run.tail(8) if record["state"] in ("failed", "start_failed") else None
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.query_one("#details", Static).update, details_table(record, events, tail))

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
