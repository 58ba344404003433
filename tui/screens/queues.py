"""The queues screen (k9s-like): queues with their item counts, the items of the chosen queue (state,
priority, job, run, failure reason), and the agent running inside the app with its events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log, Static

from launcher.errors import LaunchError
from tui import formatting
from tui.widgets.table_sync import cursor_key, sync_rows

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.queue import ItemRecord

REFRESH_SECONDS = 1.0
#: Items listed for one queue (active ones first, then the newest ended ones).
ITEM_LIMIT = 500
ALL = "*"
ITEM_STYLES = {"queued": "yellow", "claimed": "bold yellow", "running": "bold cyan", "finished": "green",
               "failed": "bold red", "cancelled": "magenta"}
COUNT_COLUMNS = ("queued", "claimed", "running", "finished", "failed", "cancelled")


def served_queues(agents: list[dict[str, Any]]) -> set[str]:
    """The queues some running agent takes items from (agents of this app and of other processes: every
    agent records itself in the workspace; see launcher.agent.list_agents)."""
    return {name for agent in agents if agent["state"] == "running" for name in agent["queues"]}


def with_app_agent(app: Any, served: set[str]) -> set[str]:
    """`served` plus the queues of the app's own agent: it takes items as soon as it runs, a moment before
    the workspace records it."""
    agent = getattr(app, "agent", None)
    if agent is not None and getattr(app, "agent_stop_asked", None) is None and agent.status()["state"] == "running":
        return served | set(agent.queues)
    return served


def no_agent_text(queue_name: str, *, on_queues_screen: bool = False) -> str:
    """Why items of a queue no agent serves stay queued, and how to start one."""
    how = "a starts one" if on_queues_screen else "Q, then a starts one"
    return f"no agent takes items from {queue_name!r}: {how}"


def unserved_note(api: Api, queue_name: str) -> str:
    """For a confirmation of items put on a queue: "; no agent takes items from 'sw': Q, then a starts
    one" when no running agent takes that queue's items, else "". Call it from a worker thread."""
    from launcher.agent import list_agents

    try:
        served = served_queues(list_agents(api))
    except LaunchError:
        return ""  # the note is a hint: the confirmation stands without it
    return "" if queue_name in served else f"; {no_agent_text(queue_name)}"


def item_reason(item: ItemRecord, paused_sweeps: set[str], served: set[str]) -> str:
    """The REASON column: the item's message, or why a queued item waits (its sweep is paused, or no agent
    takes items from its queue)."""
    if item.state != "queued":
        return item.message or ""
    if item.sweep_id is not None and item.sweep_id in paused_sweeps:
        hint = "sweep paused (u on the sweeps screen resumes it)"
    elif item.queue not in served:
        hint = no_agent_text(item.queue, on_queues_screen=True)
    else:
        return item.message or ""
    return f"{item.message}; {hint}" if item.message else hint


def item_row(item: ItemRecord, reason: str | None = None) -> tuple[Any, ...]:
    return (
        str(item.id),
        item.queue,
        item.priority,
        Text(item.state, style=ITEM_STYLES.get(item.state, "")),
        item.describe(),
        item.run_id or "-",
        item.sweep_id or "-",
        formatting.short_clock(item.created_at),
        (item.message or "") if reason is None else reason,
    )


class QueuesScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("c", "cancel_item", "Cancel item"),
        Binding("x", "remove_item", "Remove item"),
        Binding("enter", "show_run", "Show run"),
        Binding("d", "run_details", "Run details"),
        Binding("a", "start_agent", "Start agent"),
        Binding("s", "stop_agent", "Stop agent"),
        Binding("N", "new_queue", "New queue"),
        Binding("W", "app.sweeps", "Sweeps"),
    ]

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api
        self.queue_rows: list[dict[str, Any]] = []
        self.items: dict[str, ItemRecord] = {}
        self.selected_queue = ALL
        self.other_agents: list[dict[str, Any]] = []
        #: Queues a running agent (in this app or elsewhere) takes items from, and the paused sweeps.
        self.served: set[str] = set()
        self.paused_sweeps: set[str] = set()
        self.loaded = False
        #: The refresh's last problem, said once (the screen refreshes every second).
        self._last_problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="queues-top"):
            yield DataTable(id="queues", cursor_type="row", zebra_stripes=True)
            with Vertical(id="agent-box"):
                yield Static("", id="agent")
                yield Log(id="agent-events", max_lines=500)
        yield Static("", id="items-title", classes="section")
        yield DataTable(id="items", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "queues"
        queues = self.query_one("#queues", DataTable)
        queues.add_column("QUEUE", key="name", width=14)
        for state in COUNT_COLUMNS:
            queues.add_column(state.upper(), key=state)
        items = self.query_one("#items", DataTable)
        for key, title, width in (("id", "ITEM", 6), ("queue", "QUEUE", 10), ("priority", "PRIORITY", 8),
                                  ("state", "STATE", 9), ("job", "JOB", 24), ("run", "RUN", 10),
                                  ("sweep", "SWEEP", 8), ("created", "CREATED", 14), ("reason", "REASON", None)):
            items.add_column(title, key=key, width=width)
        log = self.query_one("#agent-events", Log)
        log.write_lines(list(self.app.agent_events))
        # Written before the log has a size: it is not at its end, so it would not follow new events.
        self.call_after_refresh(self._follow_events)
        self._show_agent()
        items.focus()
        self.refresh_data()
        self.set_interval(REFRESH_SECONDS, self.refresh_data)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._follow_events)

    def _follow_events(self) -> None:
        self.query_one("#agent-events", Log).scroll_end(animate=False, immediate=True, x_axis=False)

    # -- data -----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="queues")
    def refresh_data(self) -> None:
        from launcher.agent import list_agents
        from launcher.sweeps import paused_sweep_ids

        selected = self.selected_queue
        try:
            queues = self.api.queues()
            items = self.api.queue_items(None if selected == ALL else selected, limit=ITEM_LIMIT)
            agents = list_agents(self.api)
            paused = paused_sweep_ids(self.api)
        except Exception as error:  # noqa: BLE001 - never a traceback in the UI; said once until it changes
            text = str(error) if isinstance(error, LaunchError) else f"{type(error).__name__}: {error}"
            if text != self._last_problem:
                self._last_problem = text
                self.app.call_from_thread(self.notify, text, severity="error")
            return
        self._last_problem = None
        self.app.call_from_thread(self._loaded, selected, queues, items, agents, paused)

    def _loaded(self, selected: str, queues: list[dict[str, Any]], items: list[ItemRecord],
                agents: list[dict[str, Any]], paused_sweeps: set[str] | None = None) -> None:
        if selected != self.selected_queue:
            return  # the choice changed meanwhile; the next refresh brings the right items
        self.queue_rows = queues
        agent = self.app.agent
        own = agent.id if agent is not None else None
        self.other_agents = [a for a in agents if a["id"] != own and a["state"] == "running"]
        self.served = with_app_agent(self.app, served_queues(agents))
        self.paused_sweeps = paused_sweeps or set()
        self._fill_queues(queues)
        self._fill_items(items)
        self._show_agent()
        self.loaded = True

    def _fill_queues(self, queues: list[dict[str, Any]]) -> None:
        table = self.query_one("#queues", DataTable)
        total = {state: sum(q["counts"][state] for q in queues) for state in COUNT_COLUMNS}
        rows = [(ALL, "(all queues)", total)] + [(q["name"], q["name"], q["counts"]) for q in queues]
        sync_rows(table, [(key, [label, *[_count(counts[state], state) for state in COUNT_COLUMNS]])
                          for key, label, counts in rows])

    def _fill_items(self, items: list[ItemRecord]) -> None:
        table = self.query_one("#items", DataTable)
        self.items = {str(item.id): item for item in items}
        sync_rows(table, [(str(item.id), item_row(item, item_reason(item, self.paused_sweeps, self.served)))
                          for item in items])
        where = "all queues" if self.selected_queue == ALL else f"queue {self.selected_queue}"
        self.query_one("#items-title", Static).update(f"Items of {where} ({len(items)} shown; active first, in the "
                                                      "order agents take them)")

    @on(DataTable.RowHighlighted, "#queues")
    def _queue_highlighted(self) -> None:
        # The row under the cursor now (an event may be older than the last refresh of the table).
        key = cursor_key(self.query_one("#queues", DataTable))
        if key is not None and key != self.selected_queue:
            self.selected_queue = key
            self.refresh_data()

    @on(DataTable.RowSelected, "#queues")
    def _queue_selected(self) -> None:
        self.query_one("#items", DataTable).focus()

    @on(DataTable.RowSelected, "#items")
    def _item_selected(self) -> None:
        self.action_show_run()

    @property
    def selected_item_id(self) -> str | None:
        return cursor_key(self.query_one("#items", DataTable))

    def _selected_item(self) -> ItemRecord | None:
        item_id = self.selected_item_id
        item = self.items.get(item_id) if item_id is not None else None
        if item is None:
            self.notify("no queue item selected", severity="warning", timeout=2)
        return item

    # -- the agent ------------------------------------------------------------------------------------
    def agent_event(self, text: str) -> None:
        self.query_one("#agent-events", Log).write_line(text)
        self._show_agent()
        self.refresh_data()

    def _show_agent(self) -> None:
        agent = self.app.agent
        text = Text()
        if agent is None:
            text.append("No agent runs in this app: ", style="bold")
            text.append("a starts one (queues, max jobs).")
        else:
            status = agent.status()
            style = {"running": "bold green", "stopping": "bold yellow"}.get(status["state"], "dim")
            text.append(f"agent {status['id']}  ", style="bold")
            if status["state"] != "stopped" and self.app.agent_stop_asked is not None:
                # Asked to stop: it may wait for its runs a long time; say so, and how to stop them.
                text.append(f"stopping: {self.app.agent_stopping_text()}", style="bold yellow")
            else:
                text.append(status["state"], style=style)
            max_jobs = "unlimited" if status["max_jobs"] < 0 else str(status["max_jobs"])
            text.append(f"\nqueues {', '.join(status['queues'])}  max jobs {max_jobs}\n"
                        f"active {status['active']}  launched {status['launched']}  "
                        f"failed launches {status['failed_launches']}")
            if status["adopted"]:
                text.append(f"  adopted {status['adopted']} (runs of agents that are gone)")
            if agent.error is not None:
                text.append(f"\nerror: {agent.error}", style="bold red")
        if self.other_agents:
            text.append(f"\n{len(self.other_agents)} other agent(s) running on this workspace: "
                        + ", ".join(a["id"] for a in self.other_agents[:3]), style="dim")
        self.query_one("#agent", Static).update(text)

    def action_start_agent(self) -> None:
        queue = self.selected_queue if self.selected_queue != ALL else "default"
        self.app.action_start_agent(queue)

    def action_stop_agent(self) -> None:
        """s: the agent stops taking items; s again while it waits for its runs: they are stopped."""
        self.app.action_stop_agent()
        self._show_agent()

    # -- items ----------------------------------------------------------------------------------------
    def action_cancel_item(self) -> None:
        from tui.screens.dialogs import ConfirmScreen

        item = self._selected_item()
        if item is None:
            return
        if item.done:
            self.notify(f"item {item.id} is already {item.state}", severity="warning", timeout=3)
            return
        what = f"its run {item.run_id} is stopped" if item.run_id else "it will never run"
        self.app.push_screen(ConfirmScreen(f"Cancel queue item {item.id} ({item.describe()})? {what.capitalize()}.",
                                           yes="Cancel item"),
                             lambda yes: self._change_item("cancel", item.id) if yes else None)

    def action_remove_item(self) -> None:
        from tui.screens.dialogs import ConfirmScreen

        item = self._selected_item()
        if item is None:
            return
        if item.state in ("claimed", "running"):
            self.notify(f"item {item.id} is {item.state}; cancel it first (c)", severity="warning", timeout=4)
            return
        self.app.push_screen(ConfirmScreen(f"Remove queue item {item.id} ({item.describe()}, {item.state}) from "
                                           f"queue {item.queue}?", yes="Remove item"),
                             lambda yes: self._change_item("remove", item.id) if yes else None)

    @work(thread=True, exit_on_error=False, group="queue-actions")
    def _change_item(self, action: str, item_id: int) -> None:
        from launcher.queue import cancel_item, remove_item

        try:
            if action == "cancel":
                state = cancel_item(self.api, item_id)
                message = f"item {item_id}: {state}"
            else:
                remove_item(self.api, item_id)
                message = f"item {item_id} removed"
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.notify, message)
        self.app.call_from_thread(self.refresh_data)

    def action_show_run(self) -> None:
        item = self._selected_item()
        if item is None:
            return
        if not item.run_id:
            self.notify(f"item {item.id} has no run yet ({item.state})", severity="warning", timeout=3)
            return
        self.app.show_main()
        self.app.select_run(item.run_id)

    def action_run_details(self) -> None:
        item = self._selected_item()
        if item is not None and item.run_id:
            self.app.action_details(item.run_id)
        elif item is not None:
            self.notify(f"item {item.id} has no run yet ({item.state})", severity="warning", timeout=3)

    # -- queues ---------------------------------------------------------------------------------------
    def action_new_queue(self) -> None:
        from tui.screens.dialogs import TextPromptScreen

        self.app.push_screen(TextPromptScreen("Create the queue named:", placeholder="e.g. gpu"),
                             lambda name: self._create_queue(name) if name else None)

    @work(thread=True, exit_on_error=False, group="queue-actions")
    def _create_queue(self, name: str) -> None:
        from launcher.queue import create_queue

        try:
            create_queue(self.api, name)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.notify, f"queue {name!r} created")
        self.app.call_from_thread(self.refresh_data)

    def screen_commands(self):
        """Command palette entries for this screen (the app adds them)."""
        item_id = self.selected_item_id
        if item_id is not None:
            yield SystemCommand(f"Cancel queue item {item_id}", "it never runs, or its run stops (c)", self.action_cancel_item)
            yield SystemCommand(f"Remove queue item {item_id}", "a queued or ended item (x)", self.action_remove_item)
            yield SystemCommand(f"Show the run of item {item_id}", "in the run table (enter)", self.action_show_run)
        yield SystemCommand("Create a queue", "a new named queue (N)", self.action_new_queue)


def _count(value: int, state: str) -> Text:
    return Text(str(value), style=ITEM_STYLES.get(state, "") if value else "dim", justify="right")
