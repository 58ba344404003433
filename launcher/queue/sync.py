"""Keeping items in line with their runs: once an item has a run, its state follows the run's state in the
store, so it stays right whichever process is alive.

This is a write, done where writing belongs: by the agent that follows the run, by a process waiting on the
item, and by an explicit reconcile of the workspace (claims.reconcile_items). Reads never call it; they show
the same end without writing it (rows.SHOWN_ITEMS)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from launcher.queue.rows import RUN_ENDINGS, ending_message, marks
from launcher.states import ItemState, RunState

if TYPE_CHECKING:
    from launcher.workspace import Workspace


def sync_items(workspace: Workspace, item_ids: Iterable[int] | None = None) -> int:
    """Move running items (all, or those named) whose run has ended to the matching end state; returns how
    many changed. The write lock is taken only when there is something to change."""
    ids = None if item_ids is None else list(item_ids)
    if ids == []:
        return 0
    scope = "" if ids is None else f" AND q.id IN ({marks(ids)})"
    ended = RunState.terminal()
    rows = workspace.store.query(
        "SELECT q.id, r.state, r.message, r.ended_at FROM queue_items q JOIN runs r ON r.id = q.run_id "
        f"WHERE q.state=? AND r.state IN ({marks(ended)}){scope}", (ItemState.RUNNING, *ended, *(ids or ())))
    if not rows:
        return 0
    changed = 0
    now = time.time()
    with workspace.store.transaction() as conn:
        for row in rows:
            run_state = RunState(row["state"])
            changed += conn.execute(
                "UPDATE queue_items SET state=?, message=COALESCE(message, ?), ended_at=?, updated_at=? "
                "WHERE id=? AND state=?",
                (RUN_ENDINGS[run_state][0], ending_message(run_state, row["message"]), row["ended_at"] or now, now,
                 row["id"], ItemState.RUNNING)).rowcount
    return changed
