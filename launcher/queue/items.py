"""Queues and their items as users see them: named lists of launches waiting for an agent, ordered by
priority and then first in first out.

An item stores its launch settings as JSON (the arguments of launch(), merged and validated again when an
agent takes it). Item states: queued -> claimed (an agent took it) -> running (it has a run) -> finished |
failed | cancelled. How agents take items is claims.py's business; how an item follows its run, sync.py's.
Everything here that only reads shows items as rows.SHOWN_ITEMS computes them, and writes nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launcher.errors import LaunchError, RunError, SpecError
from launcher.queue.claims import recover_items
from launcher.queue.rows import (
    DEFAULT_PRIORITY,
    HELD,
    PRIORITIES,
    SHOWN_ITEMS,
    SHOWN_ITEMS_PARAMS,
    WITHOUT_RUN,
    count_states,
    item_record,
    marks,
    shown_counts,
)
from launcher.queue.sync import sync_items
from launcher.reconcile import reconcile
from launcher.records import ItemRecord, QueueRecord
from launcher.run import Run
from launcher.spec import merge_request
from launcher.states import ItemState, SweepState

if TYPE_CHECKING:
    import sqlite3

    from launcher.workspace import HasWorkspace, Workspace

DEFAULT_QUEUE = "default"

QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: How often a process waiting on an item re-reads the store.
WAIT_POLL_SECONDS = 0.1
#: How often a process waiting on an item hands back the items of gone agents and settles the item's run.
WAIT_RECOVER_SECONDS = 2.0

#: The launch() arguments an item may carry.
SETTING_KEYS = ("job", "config", "resource", "resource_args", "entry_point", "version", "project", "entity",
                "name", "run_id", "docker_image", "repository", "parameters", "refresh")


class QueueError(LaunchError):
    """A queue or an item is unknown, or cannot be changed as asked."""


# -- queues -------------------------------------------------------------------------------------------
def queue_names(workspace: Workspace) -> list[str]:
    return [r["name"] for r in workspace.store.query("SELECT name FROM queues ORDER BY name")]


def check_queue(workspace: Workspace, name: Any) -> str:
    if not isinstance(name, str) or not workspace.store.query("SELECT 1 FROM queues WHERE name=?", (name,)):
        raise QueueError(f"unknown queue {name!r}; expected one of: {', '.join(queue_names(workspace))} "
                         f"(create it: 'launcher queue create NAME', or N on the queues screen)")
    return name


def create_queue(workspace: Workspace, name: str) -> str:
    if not isinstance(name, str) or not QUEUE_NAME_PATTERN.match(name):
        raise QueueError(f"queue name {name!r} is not valid; expected 1-64 letters, digits, '_', '.' or '-'")
    workspace.store.execute("INSERT OR IGNORE INTO queues (name, created_at) VALUES (?, ?)", (name, time.time()))
    return name


def delete_queue(workspace: Workspace, name: str) -> None:
    """Delete a queue and its ended items; refused while it still has queued, claimed or running items."""
    check_queue(workspace, name)
    with workspace.store.transaction() as conn:
        counts = shown_counts(conn.execute, "queue=?", (name,))
        active = sum(counts[state] for state in ItemState.active())
        if active:
            raise QueueError(f"queue {name!r} still has {active} active item(s); cancel or remove them first")
        live = [state for state in SweepState if not state.is_terminal()]
        if conn.execute(f"SELECT 1 FROM sweeps WHERE queue=? AND state IN ({marks(live)})", (name, *live)).fetchone():
            raise QueueError(f"queue {name!r} is used by an active sweep; cancel the sweep first")
        conn.execute("DELETE FROM queue_items WHERE queue=?", (name,))
        conn.execute("DELETE FROM queues WHERE name=?", (name,))


def queues(workspace: Workspace) -> list[QueueRecord]:
    """Every queue with its item counts by (shown) state."""
    rows: dict[str, list[sqlite3.Row]] = {}
    for row in workspace.store.query(f"SELECT queue, shown_state, COUNT(*) AS n FROM ({SHOWN_ITEMS}) "
                                     "GROUP BY queue, shown_state", SHOWN_ITEMS_PARAMS):
        rows.setdefault(row["queue"], []).append(row)
    return [QueueRecord(r["name"], r["created_at"], count_states(rows.get(r["name"], ())))
            for r in workspace.store.query("SELECT name, created_at FROM queues ORDER BY name")]


# -- adding -------------------------------------------------------------------------------------------
def priority_rank(priority: Any) -> int:
    if priority is None:
        return PRIORITIES.index(DEFAULT_PRIORITY)
    if isinstance(priority, str) and priority.lower() in PRIORITIES:
        return PRIORITIES.index(priority.lower())
    raise QueueError(f"unknown priority {priority!r}; expected one of: {', '.join(PRIORITIES)}")


def launch_add(
    api: HasWorkspace | None = None,
    job: str | None = None,
    config: Mapping[str, Any] | None = None,
    queue_name: str = DEFAULT_QUEUE,
    priority: str | None = None,
    resource: str | None = None,
    resource_args: Mapping[str, Mapping[str, Any]] | None = None,
    entry_point: list[str] | str | None = None,
    version: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    name: str | None = None,
    run_id: str | None = None,
    *,
    docker_image: str | None = None,
    repository: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> QueuedItem:
    """Put a launch on a queue; an agent (`launcher agent --queue NAME`) takes it and starts the run.

    The settings are checked now (shapes, the job reference, the resource name), so that a bad request
    fails here with a clear error; what depends on the job's contents is checked when it is launched,
    and a failure then is kept on the item as its reason."""
    from launcher.workspace import workspace_of

    settings = {"job": job, "config": config, "resource": resource, "resource_args": resource_args,
                "entry_point": entry_point, "version": version, "project": project, "entity": entity,
                "name": name, "run_id": run_id, "docker_image": docker_image, "repository": repository,
                "parameters": parameters}
    return add_item(workspace_of(api), {k: v for k, v in settings.items() if v is not None}, queue_name=queue_name,
                    priority=priority)


def add_item(workspace: Workspace, settings: Mapping[str, Any], *, queue_name: str = DEFAULT_QUEUE,
             priority: str | None = None, sweep_id: str | None = None) -> QueuedItem:
    return add_items(workspace, [settings], queue_name=queue_name, priority=priority, sweep_id=sweep_id)[0]


def add_items(workspace: Workspace, many: Iterable[Mapping[str, Any]], *, queue_name: str = DEFAULT_QUEUE,
              priority: str | None = None, sweep_id: str | None = None) -> list[QueuedItem]:
    """Queue several launches in one transaction (a sweep's trials appear together or not at all)."""
    prepared = prepare_items(workspace, many, queue_name=queue_name, priority=priority)
    with workspace.store.transaction() as conn:
        ids = insert_items(conn, prepared, sweep_id=sweep_id)
    return [QueuedItem(workspace, item_id) for item_id in ids]


@dataclass(frozen=True)
class PreparedItem:
    queue: str
    priority: int
    settings: dict[str, Any]
    run_id: str | None


def prepare_items(workspace: Workspace, many: Iterable[Mapping[str, Any]], *, queue_name: str = DEFAULT_QUEUE,
                  priority: str | None = None) -> list[PreparedItem]:
    """Check items before anything is stored: the queue, the priority and every item's settings."""
    check_queue(workspace, queue_name)
    rank = priority_rank(priority)
    prepared = []
    for settings in many:
        data, run_id = check_settings(workspace, settings)
        prepared.append(PreparedItem(queue_name, rank, data, run_id))
    return prepared


def insert_items(conn, prepared: list[PreparedItem], *, sweep_id: str | None = None) -> list[int]:
    """Store checked items inside the caller's transaction; returns their ids."""
    now = time.time()
    ids = []
    for item in prepared:
        cursor = conn.execute(
            "INSERT INTO queue_items (queue, priority, state, settings, run_id, sweep_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (item.queue, item.priority, ItemState.QUEUED, json.dumps(item.settings), item.run_id, sweep_id, now, now))
        ids.append(cursor.lastrowid)
    return ids


def check_settings(workspace: Workspace, settings: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Validate launch settings as far as can be done before the launch; returns them as plain JSON data,
    and the run id they ask for, if any."""
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise SpecError(f"unknown launch setting {unknown[0]!r}; expected one of: {', '.join(SETTING_KEYS)}")
    request = merge_request(**settings)
    try:
        data = json.loads(json.dumps(dict(settings)))
    except (TypeError, ValueError) as error:
        raise SpecError(f"queued launch settings must be JSON values: {error}") from None
    if request.job:
        workspace.jobs.resolve(request.job)
    if request.run_id is not None and workspace.store.get_run(request.run_id) is not None:
        raise RunError(f"run_id {request.run_id!r} is already used by another run; choose another or leave it out")
    if request.resource is not None:
        from launcher import runners

        runners.get_runner(request.resource)
    return data, request.run_id


# -- items --------------------------------------------------------------------------------------------
class QueuedItem:
    """A launch waiting on a queue, as launch_add returns it; any process can open it by id."""

    def __init__(self, workspace: Workspace, item_id: int) -> None:
        self.workspace = workspace
        self.id = int(item_id)
        self.record  # noqa: B018 - raises for an unknown id

    def __repr__(self) -> str:
        return f"QueuedItem({self.id}, state={self.state!r})"

    @property
    def record(self) -> ItemRecord:
        """The item as shown now (an item whose run has ended shows that end; nothing is written)."""
        rows = self.workspace.store.query(f"SELECT * FROM ({SHOWN_ITEMS}) WHERE id=?", (*SHOWN_ITEMS_PARAMS, self.id))
        if not rows:
            raise QueueError(f"queue item {self.id} does not exist (see 'launcher queue list')")
        return item_record(rows[0])

    @property
    def state(self) -> ItemState:
        return self.record.state

    @property
    def run_id(self) -> str | None:
        return self.record.run_id

    @property
    def message(self) -> str | None:
        return self.record.message

    def get_run(self) -> Run | None:
        """The item's run once it has one, else None."""
        run_id = self.run_id
        if run_id is None or self.workspace.store.get_run(run_id) is None:
            return None
        return Run(self.workspace, run_id)

    def wait_until_running(self, timeout: float | None = None) -> Run:
        """Block until an agent has launched the item; returns its run. Raises RunError when the item
        ended without a run (cancelled, or its launch was rejected)."""
        def has_run() -> bool:
            record = self.record
            return record.done or (record.state is ItemState.RUNNING and record.run_id is not None)

        self._wait(has_run, timeout, "to be launched")
        return self._run_or_error()

    def wait_until_finished(self, timeout: float | None = None) -> Run:
        """Block until the item has ended; returns its run (check run.state). Raises RunError when the
        item ended without a run."""
        self._wait(lambda: self.record.done, timeout, "to end")
        return self._run_or_error()

    def _run_or_error(self) -> Run:
        run = self.get_run()
        if run is None:
            record = self.record
            raise RunError(f"queue item {self.id} {record.state} without a run"
                           + (f": {record.message}" if record.message else ""))
        return run

    def cancel(self) -> str:
        return cancel_item(self.workspace, self.id)

    def remove(self) -> None:
        remove_item(self.workspace, self.id)

    def _wait(self, condition: Callable[[], bool], timeout: float | None, what: str) -> None:
        """Waiting on an item is one of the places that write: the agent that took it may be gone, and its
        run's owner too, so the waiter hands back gone agents' items, settles the run and writes the item's
        end once its run has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        next_recover = 0.0
        while True:
            now = time.monotonic()
            if now >= next_recover:
                recover_items(self.workspace)
                record = self.record
                if record.state is ItemState.RUNNING and record.run_id:
                    reconcile(self.workspace, [record.run_id])
                next_recover = now + WAIT_RECOVER_SECONDS
            sync_items(self.workspace, [self.id])
            if condition():
                return
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"queue item {self.id} still {self.record.state} after {timeout}s, waiting {what}")
            time.sleep(WAIT_POLL_SECONDS)


def get_item(workspace: Workspace, item_id: int | str) -> QueuedItem:
    try:
        number = int(item_id)
    except (TypeError, ValueError):
        raise QueueError(f"queue item id {item_id!r} is not valid; expected a number (see 'launcher queue list')") from None
    return QueuedItem(workspace, number)


def list_items(workspace: Workspace, *, queue_name: str | None = None, item_states: Iterable[str] | None = None,
               sweep_id: str | None = None, limit: int | None = None) -> list[ItemRecord]:
    """Items as shown (see rows.SHOWN_ITEMS), in the order an agent takes them: active ones (those an agent
    holds first) by priority then age, then ended ones, newest first. A read: nothing is written."""
    where, params = ["archived = 0"], []  # archived with their runs (launcher/cleanup.py)
    if queue_name is not None:
        check_queue(workspace, queue_name)
        where.append("queue=?")
        params.append(queue_name)
    if item_states is not None:
        wanted = list(item_states)
        bad = [s for s in wanted if s not in tuple(ItemState)]
        if bad:
            raise QueueError(f"unknown item state {bad[0]!r}; expected one of: {', '.join(tuple(ItemState))}")
        where.append(f"shown_state IN ({marks(wanted)})")
        params.extend(wanted)
    if sweep_id is not None:
        where.append("sweep_id=?")
        params.append(sweep_id)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise QueueError(f"item limit {limit!r} is not valid; expected a whole number >= 0")
    active, held = ItemState.active(), HELD
    sql = (f"SELECT * FROM ({SHOWN_ITEMS})" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY CASE WHEN shown_state IN ({marks(active)}) THEN 0 ELSE 1 END, "
           f"CASE WHEN shown_state IN ({marks(held)}) THEN 0 ELSE 1 END, "
           f"CASE WHEN shown_state IN ({marks(active)}) THEN priority ELSE 0 END, "
           f"CASE WHEN shown_state IN ({marks(active)}) THEN id ELSE -id END"
           + ("" if limit is None else " LIMIT ?"))
    order = (*active, *held, *active, *active)
    return [item_record(r) for r in workspace.store.query(
        sql, (*SHOWN_ITEMS_PARAMS, *params, *order, *(() if limit is None else (limit,))))]


def cancel_item(workspace: Workspace, item_id: int) -> ItemState:
    """Cancel an item: a queued or claimed one never runs; a running one has its run stopped.
    Returns the item's state afterwards (an item that had already ended keeps its state)."""
    item = get_item(workspace, item_id)
    now = time.time()
    with workspace.store.transaction() as conn:
        row = conn.execute(f"SELECT * FROM ({SHOWN_ITEMS}) WHERE id=?", (*SHOWN_ITEMS_PARAMS, item.id)).fetchone()
        if row is None:
            raise QueueError(f"queue item {item.id} does not exist (see 'launcher queue list')")
        state = ItemState(row["shown_state"])
        if state in WITHOUT_RUN:
            # A claimed item's agent sees the change when it records the launch, and stops the run (which
            # stays linked); a queued item never gets a run.
            conn.execute("UPDATE queue_items SET state=?, message=?, ended_at=?, updated_at=?, "
                         "run_id=CASE WHEN state=? THEN NULL ELSE run_id END WHERE id=?",
                         (ItemState.CANCELLED, "cancelled by request", now, now, ItemState.QUEUED, item.id))
            return ItemState.CANCELLED
        if state is ItemState.RUNNING and row["run_id"]:  # its run is still active
            conn.execute("UPDATE queue_items SET message=?, updated_at=? WHERE id=? AND state=?",
                         ("cancelled by request", now, item.id, ItemState.RUNNING))
    if state is ItemState.RUNNING and row["run_id"]:
        Run(workspace, row["run_id"]).cancel(wait=False)
    return item.state


def remove_item(workspace: Workspace, item_id: int) -> None:
    """Delete an item that is queued or has ended; one that is claimed or running must be cancelled first."""
    item = get_item(workspace, item_id)
    with workspace.store.transaction() as conn:
        row = conn.execute(f"SELECT shown_state FROM ({SHOWN_ITEMS}) WHERE id=?",
                           (*SHOWN_ITEMS_PARAMS, item.id)).fetchone()
        if row is None:
            raise QueueError(f"queue item {item.id} does not exist (see 'launcher queue list')")
        state = ItemState(row["shown_state"])
        if state.is_terminal() or state is ItemState.QUEUED:
            conn.execute("DELETE FROM queue_items WHERE id=?", (item.id,))
            return
    raise QueueError(f"queue item {item.id} is {state}; cancel it first ('launcher queue cancel {item.id}')")
