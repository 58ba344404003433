"""The claim protocol between agents and items: an agent claims the next item atomically, records its launch
(or why it failed), and the items of agents that are gone are handed back (claimed, no run yet) or adopted
by a live agent (running: their runs count against its max_jobs).

Each step is one BEGIN IMMEDIATE transaction on the store, so that two agents (in any processes) never take
the same item and an orphan is adopted by exactly one agent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.queue.rows import item_record, marks
from launcher.queue.sync import sync_items
from launcher.records import ItemRecord
from launcher.states import AgentState, ItemState, RunState, SweepState

if TYPE_CHECKING:
    import sqlite3

    from launcher.workspace import Workspace


def claim_next(workspace: Workspace, queue_name: str, *, agent_id: str, pid: int,
               process_start: str | None) -> ItemRecord | None:
    """Atomically take the next item of a queue (highest priority, then oldest), skipping items of sweeps
    that are not running (paused). The write lock taken by BEGIN IMMEDIATE makes two agents never take the
    same item. The item's run id is fixed here, so that whoever finds the item later can tell whether its
    run was created."""
    from launcher.resolve import new_run_id

    now = time.time()
    with workspace.store.transaction() as conn:
        row = conn.execute(
            "UPDATE queue_items SET state=?, agent_id=?, agent_pid=?, agent_start=?, claimed_at=?, updated_at=?, "
            "message=NULL, run_id=COALESCE(run_id, ?) "
            "WHERE id=(SELECT id FROM queue_items WHERE queue=? AND state=? AND "
            "(sweep_id IS NULL OR sweep_id IN (SELECT id FROM sweeps WHERE state=?)) "
            "ORDER BY priority, id LIMIT 1) RETURNING *",
            (ItemState.CLAIMED, agent_id, pid, process_start, now, now, new_run_id(), queue_name, ItemState.QUEUED,
             SweepState.RUNNING)).fetchone()
    return item_record(row) if row is not None else None


def record_launch(workspace: Workspace, item_id: int) -> bool:
    """Mark a claimed item as running once its run exists; False when it was cancelled meanwhile."""
    now = time.time()
    return workspace.store.execute(
        "UPDATE queue_items SET state=?, launched_at=?, updated_at=? WHERE id=? AND state=?",
        (ItemState.RUNNING, now, now, item_id, ItemState.CLAIMED)) > 0


def record_failure(workspace: Workspace, item_id: int, message: str) -> None:
    """A claimed item whose launch was refused before any run existed."""
    now = time.time()
    workspace.store.execute(
        "UPDATE queue_items SET state=?, message=?, run_id=NULL, ended_at=?, updated_at=? WHERE id=? AND state=?",
        (ItemState.FAILED, message, now, now, item_id, ItemState.CLAIMED))


def recover_items(workspace: Workspace) -> int:
    """Hand back the items of agents that are gone (killed outright): a claimed item whose run was never
    recorded goes back to the queue; one whose run exists follows that run. Returns how many changed."""
    from launcher.processes import process_alive

    rows = workspace.store.query("SELECT id, agent_pid, agent_start FROM queue_items WHERE state=?",
                                 (ItemState.CLAIMED,))
    gone = [r["id"] for r in rows if not process_alive(r["agent_pid"], r["agent_start"])]
    changed = 0
    now = time.time()
    for item_id in gone:
        with workspace.store.transaction() as conn:
            row = conn.execute("SELECT state, run_id, agent_pid, claimed_at FROM queue_items WHERE id=?",
                               (item_id,)).fetchone()
            if row is None or row["state"] != ItemState.CLAIMED:
                continue
            # Only a run created after the claim is the item's (an explicit run id may name an older run).
            has_run = row["run_id"] and conn.execute("SELECT 1 FROM runs WHERE id=? AND created_at >= ?",
                                                     (row["run_id"], row["claimed_at"] or 0)).fetchone()
            if has_run:
                conn.execute("UPDATE queue_items SET state=?, launched_at=COALESCE(launched_at, ?), updated_at=? "
                             "WHERE id=?", (ItemState.RUNNING, now, now, item_id))
            else:
                conn.execute("UPDATE queue_items SET state=?, agent_id=NULL, agent_pid=NULL, agent_start=NULL, "
                             "claimed_at=NULL, message=?, updated_at=? WHERE id=?",
                             (ItemState.QUEUED, f"returned to the queue: agent pid {row['agent_pid']} is gone", now,
                              item_id))
            changed += 1
    return changed


def reconcile_items(workspace: Workspace) -> int:
    """The explicit reconcile step for items (opening the workspace, Api.reconcile): hand back the items of
    gone agents, then write the ends of items whose runs have ended. Returns how many items changed."""
    return recover_items(workspace) + sync_items(workspace)


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
    sql = _ORPHAN_CANDIDATES.format(queues=marks(names))
    params = (ItemState.RUNNING, agent_id, *names)
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
                "RETURNING *", (agent_id, pid, process_start, now, row["id"], ItemState.RUNNING)).fetchone()
            adopted.append(Adoption(item_record(updated), row["agent_id"]))
    return adopted


def _holder_gone(row: sqlite3.Row) -> bool:
    """Whether the agent recorded on an item (with its agents row's state as holder_state) no longer
    follows it."""
    from launcher.processes import process_alive

    return row["holder_state"] == AgentState.STOPPED or not process_alive(row["agent_pid"], row["agent_start"])
