"""Queues: named lists of launches waiting for an agent, ordered by priority and then first in first out.

An item stores its launch settings as JSON (the arguments of launch(), merged and validated again when an
agent takes it). Item states: queued -> claimed (an agent took it) -> running (it has a run) -> finished |
failed | cancelled. Once an item has a run, its state follows the run's state in the store, so it stays
right whichever process is alive: `sync_items` moves it forward, `recover_items` hands back the claimed
items of an agent that is gone, and `adopt_orphans` gives the running items of a gone agent to a live agent
on their queue, which counts their runs against its max_jobs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launcher.errors import LaunchError, RunError, SpecError
from launcher.reconcile import reconcile
from launcher.records import ItemRecord, QueueRecord
from launcher.run import Run
from launcher.spec import merge_request
from launcher.states import AgentState, ItemState, RunState

if TYPE_CHECKING:
    import sqlite3

    from launcher.workspace import HasWorkspace, Workspace

DEFAULT_QUEUE = "default"
PRIORITIES = ("critical", "high", "medium", "low")
DEFAULT_PRIORITY = "medium"

QUEUED, CLAIMED, RUNNING = ItemState.QUEUED, ItemState.CLAIMED, ItemState.RUNNING
FINISHED, FAILED, CANCELLED = ItemState.FINISHED, ItemState.FAILED, ItemState.CANCELLED

QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: How often a process waiting on an item re-reads the store.
WAIT_POLL_SECONDS = 0.1

#: The launch() arguments an item may carry.
SETTING_KEYS = ("job", "config", "resource", "resource_args", "entry_point", "version", "project", "entity",
                "name", "run_id", "docker_image", "repository", "parameters")


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
    sync_items(workspace)
    with workspace.store.transaction() as conn:
        active = conn.execute(f"SELECT COUNT(*) FROM queue_items WHERE queue=? AND state IN ({_marks(ItemState.active())})",
                              (name, *ItemState.active())).fetchone()[0]
        if active:
            raise QueueError(f"queue {name!r} still has {active} active item(s); cancel or remove them first")
        if conn.execute("SELECT 1 FROM sweeps WHERE queue=? AND state IN ('running', 'paused')", (name,)).fetchone():
            raise QueueError(f"queue {name!r} is used by an active sweep; cancel the sweep first")
        conn.execute("DELETE FROM queue_items WHERE queue=?", (name,))
        conn.execute("DELETE FROM queues WHERE name=?", (name,))


def queues(workspace: Workspace) -> list[QueueRecord]:
    """Every queue with its item counts by state."""
    sync_items(workspace)
    counts: dict[str, dict[str, int]] = {}
    for row in workspace.store.query("SELECT queue, state, COUNT(*) AS n FROM queue_items GROUP BY queue, state"):
        counts.setdefault(row["queue"], {})[row["state"]] = row["n"]
    return [QueueRecord(r["name"], r["created_at"],
                        {s: counts.get(r["name"], {}).get(s, 0) for s in ItemState})
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
    return add_item(workspace_of(api), {k: v for k, v in settings.items() if v is not None},
                    queue_name=queue_name, priority=priority)


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
            (item.queue, item.priority, QUEUED, json.dumps(item.settings), item.run_id, sweep_id, now, now))
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
def _record(row) -> ItemRecord:
    return ItemRecord(id=row["id"], queue=row["queue"], priority=PRIORITIES[row["priority"]],
                      state=ItemState(row["state"]),
                      settings=json.loads(row["settings"]),
                      run_id=row["run_id"] if row["state"] not in (QUEUED, CLAIMED) else None,
                      sweep_id=row["sweep_id"], message=row["message"], agent_id=row["agent_id"],
                      created_at=row["created_at"], claimed_at=row["claimed_at"], launched_at=row["launched_at"],
                      ended_at=row["ended_at"], reserved_run_id=row["run_id"])


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
        rows = self.workspace.store.query("SELECT * FROM queue_items WHERE id=?", (self.id,))
        if not rows:
            raise QueueError(f"queue item {self.id} does not exist (see 'launcher queue list')")
        return _record(rows[0])

    @property
    def state(self) -> str:
        sync_items(self.workspace, [self.id])
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
            return record.done or (record.state == RUNNING and record.run_id is not None)

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

    def _wait(self, condition, timeout: float | None, what: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        next_recover = 0.0
        while True:
            now = time.monotonic()
            if now >= next_recover:  # the agent that took it may be gone; its run's owner too
                recover_items(self.workspace)
                record = self.record
                if record.state == RUNNING and record.run_id:
                    reconcile(self.workspace, [record.run_id])
                next_recover = now + 2.0
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
    """Items in the order an agent takes them: active ones by priority then age, then ended ones, newest first."""
    recover_items(workspace)
    sync_items(workspace)
    where, params = [], []
    if queue_name is not None:
        check_queue(workspace, queue_name)
        where.append("queue=?")
        params.append(queue_name)
    if item_states is not None:
        wanted = list(item_states)
        bad = [s for s in wanted if s not in tuple(ItemState)]
        if bad:
            raise QueueError(f"unknown item state {bad[0]!r}; expected one of: {', '.join(tuple(ItemState))}")
        where.append(f"state IN ({_marks(wanted)})")
        params.extend(wanted)
    if sweep_id is not None:
        where.append("sweep_id=?")
        params.append(sweep_id)
    sql = "SELECT * FROM queue_items"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += (f" ORDER BY CASE WHEN state IN ({_marks(ItemState.active())}) THEN 0 ELSE 1 END, "
            "CASE WHEN state IN ('claimed', 'running') THEN 0 ELSE 1 END, "
            "CASE WHEN state IN ('queued', 'claimed', 'running') THEN priority ELSE 0 END, "
            "CASE WHEN state IN ('queued', 'claimed', 'running') THEN id ELSE -id END")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_record(r) for r in workspace.store.query(sql, (*params, *ItemState.active()))]


def cancel_item(workspace: Workspace, item_id: int) -> str:
    """Cancel an item: a queued or claimed one never runs; a running one has its run stopped.
    Returns the item's state afterwards (an item that had already ended keeps its state)."""
    item = get_item(workspace, item_id)
    now = time.time()
    with workspace.store.transaction() as conn:
        row = conn.execute("SELECT state, run_id FROM queue_items WHERE id=?", (item.id,)).fetchone()
        if row["state"] in (QUEUED, CLAIMED):
            # A claimed item's agent sees the change when it records the launch, and stops the run (which
            # stays linked); a queued item never gets a run.
            conn.execute("UPDATE queue_items SET state=?, message=?, ended_at=?, updated_at=?, "
                         "run_id=CASE WHEN state=? THEN NULL ELSE run_id END WHERE id=?",
                         (CANCELLED, "cancelled by request", now, now, QUEUED, item.id))
            return CANCELLED
    if row["state"] == RUNNING and row["run_id"]:
        workspace.store.execute("UPDATE queue_items SET message=?, updated_at=? WHERE id=? AND state=?",
                          ("cancelled by request", now, item.id, RUNNING))
        Run(workspace, row["run_id"]).cancel(wait=False)
    return item.state


def remove_item(workspace: Workspace, item_id: int) -> None:
    """Delete an item that is queued or has ended; one that is claimed or running must be cancelled first."""
    item = get_item(workspace, item_id)
    sync_items(workspace, [item.id])
    with workspace.store.transaction() as conn:
        state = conn.execute("SELECT state FROM queue_items WHERE id=?", (item.id,)).fetchone()["state"]
        if state in (CLAIMED, RUNNING):
            raise QueueError(f"queue item {item.id} is {state}; cancel it first ('launcher queue cancel {item.id}')")
        conn.execute("DELETE FROM queue_items WHERE id=?", (item.id,))


# -- taking items (agents) ----------------------------------------------------------------------------
def claim_next(workspace: Workspace, queue_name: str, *, agent_id: str, pid: int, process_start: str | None) -> ItemRecord | None:
    """Atomically take the next item of a queue (highest priority, then oldest), skipping items of paused
    sweeps. The write lock taken by BEGIN IMMEDIATE makes two agents never take the same item. The item's
    run id is fixed here, so that whoever finds the item later can tell whether its run was created."""
    from launcher.resolve import new_run_id

    now = time.time()
    with workspace.store.transaction() as conn:
        row = conn.execute(
            "UPDATE queue_items SET state=?, agent_id=?, agent_pid=?, agent_start=?, claimed_at=?, updated_at=?, "
            "message=NULL, run_id=COALESCE(run_id, ?) "
            "WHERE id=(SELECT id FROM queue_items WHERE queue=? AND state=? AND "
            "(sweep_id IS NULL OR sweep_id IN (SELECT id FROM sweeps WHERE state='running')) "
            "ORDER BY priority, id LIMIT 1) RETURNING *",
            (CLAIMED, agent_id, pid, process_start, now, now, new_run_id(), queue_name, QUEUED)).fetchone()
    return _record(row) if row is not None else None


def record_launch(workspace: Workspace, item_id: int) -> bool:
    """Mark a claimed item as running once its run exists; False when it was cancelled meanwhile."""
    now = time.time()
    return workspace.store.execute("UPDATE queue_items SET state=?, launched_at=?, updated_at=? WHERE id=? AND state=?",
                             (RUNNING, now, now, item_id, CLAIMED)) > 0


def record_failure(workspace: Workspace, item_id: int, message: str) -> None:
    """A claimed item whose launch was refused before any run existed."""
    now = time.time()
    workspace.store.execute("UPDATE queue_items SET state=?, message=?, run_id=NULL, ended_at=?, updated_at=? "
                      "WHERE id=? AND state=?", (FAILED, message, now, now, item_id, CLAIMED))


# -- keeping item states right ------------------------------------------------------------------------
#: run state -> (item state, reason prefix) once the run has ended.
_RUN_END = {
    RunState.FINISHED: (FINISHED, None),
    RunState.FAILED: (FAILED, "run failed"),
    RunState.START_FAILED: (FAILED, "run failed to start"),
    RunState.STOPPED: (CANCELLED, "run stopped"),
}


def sync_items(workspace: Workspace, item_ids: Iterable[int] | None = None) -> int:
    """Move running items whose run has ended to the matching end state; returns how many changed."""
    ids = None if item_ids is None else list(item_ids)
    scope = "" if ids is None else f" AND q.id IN ({_marks(ids)})"
    rows = workspace.store.query(
        "SELECT q.id, r.state, r.message FROM queue_items q JOIN runs r ON r.id = q.run_id "
        f"WHERE q.state=? AND r.state IN ({_marks(RunState.terminal())}){scope}",
        (RUNNING, *RunState.terminal(), *(ids or ())))
    if not rows:
        return 0
    changed = 0
    with workspace.store.transaction() as conn:
        for row in rows:
            item_state, prefix = _RUN_END[RunState(row["state"])]
            message = None
            if prefix:
                message = f"{prefix}: {row['message']}" if row["message"] else prefix
            end = conn.execute("SELECT ended_at FROM runs WHERE id=(SELECT run_id FROM queue_items WHERE id=?)",
                               (row["id"],)).fetchone()[0] or time.time()
            changed += conn.execute(
                "UPDATE queue_items SET state=?, message=COALESCE(message, ?), ended_at=?, updated_at=? "
                "WHERE id=? AND state=?", (item_state, message, end, time.time(), row["id"], RUNNING)).rowcount
    return changed


def recover_items(workspace: Workspace) -> int:
    """Hand back the items of agents that are gone (killed outright): a claimed item whose run was never
    recorded goes back to the queue; one whose run exists follows that run. Returns how many changed."""
    from launcher.processes import process_alive

    rows = workspace.store.query("SELECT id, agent_pid, agent_start FROM queue_items WHERE state=?", (CLAIMED,))
    gone = [r["id"] for r in rows if not process_alive(r["agent_pid"], r["agent_start"])]
    changed = 0
    now = time.time()
    for item_id in gone:
        with workspace.store.transaction() as conn:
            row = conn.execute("SELECT state, run_id, agent_pid, claimed_at FROM queue_items WHERE id=?",
                               (item_id,)).fetchone()
            if row is None or row["state"] != CLAIMED:
                continue
            # Only a run created after the claim is the item's (an explicit run id may name an older run).
            has_run = row["run_id"] and conn.execute("SELECT 1 FROM runs WHERE id=? AND created_at >= ?",
                                                     (row["run_id"], row["claimed_at"] or 0)).fetchone()
            if has_run:
                conn.execute("UPDATE queue_items SET state=?, launched_at=COALESCE(launched_at, ?), updated_at=? "
                             "WHERE id=?", (RUNNING, now, now, item_id))
            else:
                conn.execute("UPDATE queue_items SET state=?, agent_id=NULL, agent_pid=NULL, agent_start=NULL, "
                             "claimed_at=NULL, message=?, updated_at=? WHERE id=?",
                             (QUEUED, f"returned to the queue: agent pid {row['agent_pid']} is gone", now, item_id))
            changed += 1
    return changed


@dataclass(frozen=True)
class Adoption:
    """A running item an agent took over from a gone one."""

    item: ItemRecord
    #: The agent that claimed it (gone now), if it was recorded.
    previous_agent: str | None



_ORPHAN_CANDIDATES = (
    "SELECT q.*, r.state AS run_state, a.state AS holder_state FROM queue_items q "
    "JOIN runs r ON r.id = q.run_id LEFT JOIN agents a ON a.id = q.agent_id "
    "WHERE q.state=? AND q.agent_id IS NOT ? AND q.queue IN ({queues}) ORDER BY q.id")


def adopt_orphans(workspace: Workspace, queue_names: Sequence[str], *, agent_id: str, pid: int,
                  process_start: str | None) -> list[Adoption]:
    """Take over the running items on these queues whose agent is gone, so that their runs count against
    the adopting agent's max_jobs and their items end with their runs as for the agent's own.

    An agent is gone when its process is (pid not alive with the recorded start time: killed outright,
    crashed), or when it has returned while its runs go on (stopped with on_stop="leave", or ended by an
    error) although the process that hosted it lives (an agent inside the TUI). Items whose run has already
    ended are brought up to date instead of adopted.

    The holder is checked again and changed inside one BEGIN IMMEDIATE transaction, like a claim: the
    first live agent to look adopts every orphan it finds on its queues, and a second agent looking at the
    same time finds them held by a live agent and adopts none. So when two live agents share a queue and a
    third one is gone, one of them takes all the gone agent's runs on that queue; it may then be above its
    max_jobs for a while (runs are never stopped to honour a limit) and takes no new item until it is
    below. Claimed items without a run are `recover_items`' business (back to the queue)."""
    names = list(queue_names)
    if not names:
        return []
    sql = _ORPHAN_CANDIDATES.format(queues=_marks(names))
    params = (RUNNING, agent_id, *names)
    # A plain read first: the write lock is taken only when there is something to adopt.
    orphans = [r for r in workspace.store.query(sql, params) if _holder_gone(r)]
    ended = [r["id"] for r in orphans if RunState(r["run_state"]).is_terminal()]
    if ended:
        sync_items(workspace, ended)
    if len(ended) == len(orphans):
        return []
    adopted: list[Adoption] = []
    now = time.time()
    with workspace.store.transaction() as conn:
        for row in conn.execute(sql, params).fetchall():
            if RunState(row["run_state"]).is_terminal() or not _holder_gone(row):
                continue
            updated = conn.execute(
                "UPDATE queue_items SET agent_id=?, agent_pid=?, agent_start=?, updated_at=? WHERE id=? AND state=? "
                "RETURNING *", (agent_id, pid, process_start, now, row["id"], RUNNING)).fetchone()
            adopted.append(Adoption(_record(updated), row["agent_id"]))
    return adopted


def _holder_gone(row: sqlite3.Row) -> bool:
    """Whether the agent recorded on an item (with its agents row's state as holder_state) no longer
    follows it."""
    from launcher.processes import process_alive

    return row["holder_state"] == AgentState.STOPPED or not process_alive(row["agent_pid"], row["agent_start"])


def _marks(values) -> str:
    return ", ".join("?" for _ in values)
