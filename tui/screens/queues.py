"""The queues screen (k9s-like): queues with their item counts, the items of the chosen queue (state,
priority, job, run, failure reason), and the agent running inside the app with its events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log, Static

from launcher.errors import LaunchError
from launcher.states import AgentState, ItemState
from tui import formatting
from tui.engine_calls import in_thread
from tui.widgets.table_sync import cursor_key, sync_rows

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import AgentRecord, ItemRecord, QueueRecord

REFRESH_SECONDS = 1.0
#: Items listed for one queue (active ones first, then the newest ended ones).
ITEM_LIMIT = 500
ALL = "*"


def served_queues(agents: Iterable[AgentRecord]) -> set[str]:
    """The queues some running agent takes items from (agents of this app and of other processes: every
    agent records itself in the workspace; see api.queues.agents)."""
    return {name for agent in agents if agent.state is AgentState.RUNNING for name in agent.queues}


def no_agent_text(queue_name: str, *, on_queues_screen: bool = False) -> str:
    """Why items of a queue no agent serves stay queued, and how to start one."""
    how = "a starts one" if on_queues_screen else "Q, then a starts one"
    return f"no agent takes items from {queue_name!r}: {how}"


def unserved_note(api: Api, queue_name: str) -> str:
    """For a confirmation of items put on a queue: "; no agent takes items from 'sw': Q, then a starts
    one" when no running agent takes that queue's items, else "". Call it from a worker thread."""
    try:
        served = served_queues(api.queues.agents())
    except LaunchError:
        return ""  # the note is a hint: the confirmation stands without it
    return "" if queue_name in served else f"; {no_agent_text(queue_name)}"


def item_reason(item: ItemRecord, paused_sweeps: set[str], served: set[str]) -> str:
    """The REASON column: the item's message, or why a queued item waits (its sweep is paused, or no agent
    takes items from its queue)."""
    if item.state is not ItemState.QUEUED:
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
        formatting.item_state_text(item.state),
        item.describe(),
        item.run_id or "-",
        item.sweep_id or "-",
        formatting.short_clock(item.created_at),
        (item.message or "") if reason is None else reason,
    )


@dataclass(frozen=True)
class QueuesView:
    """One refresh of the screen, read in a worker."""

    selected: str
    queues: list[QueueRecord]
    items: list[ItemRecord]
    agents: list[AgentRecord]
    paused_sweeps: set[str]


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
        self.queue_rows: list[QueueRecord] = []
        self.items: dict[str, ItemRecord] = {}
        self.selected_queue = ALL
        self.other_agents: list[AgentRecord] = []
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
        for state in ItemState:
            queues.add_column(state.upper(), key=state)
        items = self.query_one("#items", DataTable)
        for key, title, width in (("id", "ITEM", 6), ("queue", "QUEUE", 10), ("priority", "PRIORITY", 8),
                                  ("state", "STATE", 9), ("job", "JOB", 24), ("run", "RUN", 10),
                                  ("sweep", "SWEEP", 8), ("created", "CREATED", 14), ("reason", "REASON", None)):
            items.add_column(title, key=key, width=width)
        log = self.query_one("#agent-events", Log)
        log.write_lines(list(self.app.agent_control.events))
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
    def refresh_data(self) -> None:
        selected = self.selected_queue
        api = self.api

        def read() -> QueuesView:
            return QueuesView(selected, api.queues(),
                              api.queues.items(None if selected == ALL else selected, limit=ITEM_LIMIT),
                              api.queues.agents(), api.sweeps.paused_ids())

        in_thread(self, read, then=self._loaded, failed=self._refresh_failed, group="queues", exclusive=True)

    def _refresh_failed(self, error: LaunchError) -> None:
        if str(error) != self._last_problem:  # said once until it changes: the screen refreshes every second
            self._last_problem = str(error)
            self.notify(str(error), severity="error")

    def _loaded(self, view: QueuesView) -> None:
        self._last_problem = None
        if view.selected != self.selected_queue:
            return  # the choice changed meanwhile; the next refresh brings the right items
        self.queue_rows = view.queues
        agent = self.app.agent_control.agent
        own = agent.id if agent is not None else None
        self.other_agents = [a for a in view.agents if a.id != own and a.state is AgentState.RUNNING]
        self.served = self.app.agent_control.served(served_queues(view.agents))
        self.paused_sweeps = view.paused_sweeps
        self._fill_queues(view.queues)
        self._fill_items(view.items)
        self._show_agent()
        self.loaded = True

    def _fill_queues(self, queues: list[QueueRecord]) -> None:
        table = self.query_one("#queues", DataTable)
        total = {state: sum(q.counts.get(state, 0) for q in queues) for state in ItemState}
        rows = [(ALL, "(all queues)", total)] + [(q.name, q.name, q.counts) for q in queues]
        sync_rows(table, [(key, [label, *[_count(counts.get(state, 0), state) for state in ItemState]])
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
        status = self.app.agent_control.status()
        text = Text()
        if status is None:
            text.append("No agent runs in this app: ", style="bold")
            text.append("a starts one (queues, max jobs).")
        else:
            text.append(f"agent {status.id}  ", style="bold")
            if status.stopping is not None:
                # Asked to stop: it may wait for its runs a long time; say so, and how to stop them.
                text.append(f"stopping: {status.stopping}", style="bold yellow")
            else:
                text.append(status.state, style=AGENT_STYLES.get(status.state, "dim"))
            max_jobs = "unlimited" if status.max_jobs < 0 else str(status.max_jobs)
            text.append(f"\nqueues {', '.join(status.queues)}  max jobs {max_jobs}\n"
                        f"active {status.active}  launched {status.launched}  "
                        f"failed launches {status.failed_launches}")
            if status.adopted:
                text.append(f"  adopted {status.adopted} (runs of agents that are gone)")
            if status.error is not None:
                text.append(f"\nerror: {status.error}", style="bold red")
        if self.other_agents:
            text.append(f"\n{len(self.other_agents)} other agent(s) running on this workspace: "
                        + ", ".join(a.id for a in self.other_agents[:3]), style="dim")
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
        if not item.done and item.state is not ItemState.QUEUED:  # an agent holds it
            self.notify(f"item {item.id} is {item.state}; cancel it first (c)", severity="warning", timeout=4)
            return
        self.app.push_screen(ConfirmScreen(f"Remove queue item {item.id} ({item.describe()}, {item.state}) from "
                                           f"queue {item.queue}?", yes="Remove item"),
                             lambda yes: self._change_item("remove", item.id) if yes else None)

    def _change_item(self, action: str, item_id: int) -> None:
        queues = self.api.queues

        def change() -> str:
            if action == "cancel":
                return f"item {item_id}: {queues.cancel_item(item_id)}"
            queues.remove_item(item_id)
            return f"item {item_id} removed"

        in_thread(self, change, then=self._changed, group="queue-actions")

    def _changed(self, message: str) -> None:
        self.notify(message)
        self.refresh_data()

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

    def _create_queue(self, name: str) -> None:
        in_thread(self, lambda: self.api.queues.create(name), then=lambda _: self._changed(f"queue {name!r} created"),
                  group="queue-actions")

    def screen_commands(self):
        """Command palette entries for this screen (the app adds them)."""
        item_id = self.selected_item_id
        if item_id is not None:
            yield SystemCommand(f"Cancel queue item {item_id}", "it never runs, or its run stops (c)", self.action_cancel_item)
            yield SystemCommand(f"Remove queue item {item_id}", "a queued or ended item (x)", self.action_remove_item)
            yield SystemCommand(f"Show the run of item {item_id}", "in the run table (enter)", self.action_show_run)
        yield SystemCommand("Create a queue", "a new named queue (N)", self.action_new_queue)


def _count(value: int, state: ItemState) -> Text:
    return Text(str(value), style=formatting.ITEM_STYLES.get(state, "") if value else "dim", justify="right")


AGENT_STYLES = {AgentState.RUNNING: "bold green", AgentState.STOPPING: "bold yellow"}
