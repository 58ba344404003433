"""Queue items as they are shown: the stored row joined with its run's state.

Reads never write. An item whose run has ended is shown with the end that run gives it (finished, failed
or cancelled, with the run's reason) even before anything has written that end on the item: the state
shown is computed in the query, from the store as it is. The writing of that end (sync.sync_items) is
left to the processes that keep items in line (agents, waits on an item, reconciling the workspace), and
both use the one mapping below, so what a read shows is exactly what the write will store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from launcher.records import ItemRecord
from launcher.states import ItemState, RunState

if TYPE_CHECKING:
    import sqlite3

#: Priority names, highest first; an item stores the index.
PRIORITIES = ("critical", "high", "medium", "low")
DEFAULT_PRIORITY = "medium"

#: An item in these states has no run yet (its run id, if any, is only reserved for the launch).
WITHOUT_RUN = (ItemState.QUEUED, ItemState.CLAIMED)
#: An item in these states is held by an agent (claimed, or following its run).
HELD = tuple(state for state in ItemState.active() if state is not ItemState.QUEUED)

#: The end state of a running item whose run has ended, and the reason prefix kept as its message.
RUN_ENDINGS: Mapping[RunState, tuple[ItemState, str | None]] = {
    RunState.FINISHED: (ItemState.FINISHED, None),
    RunState.FAILED: (ItemState.FAILED, "run failed"),
    RunState.START_FAILED: (ItemState.FAILED, "run failed to start"),
    RunState.STOPPED: (ItemState.CANCELLED, "run stopped"),
}
assert set(RUN_ENDINGS) == set(RunState.terminal()), "every run end must give its item an end"


def ending_message(run_state: RunState, run_message: str | None) -> str | None:
    """The reason a running item keeps when its run ended in `run_state` (None for a success)."""
    prefix = RUN_ENDINGS[run_state][1]
    if prefix is None:
        return None
    return f"{prefix}: {run_message}" if run_message else prefix


def marks(values: Iterable[object]) -> str:
    return ", ".join("?" for _ in values)


def _shown_state_sql() -> tuple[str, tuple[str, ...]]:
    cases = " ".join("WHEN ? THEN ?" for _ in RUN_ENDINGS)
    params = tuple(value for run_state, (item_state, _) in RUN_ENDINGS.items() for value in (run_state, item_state))
    return f"CASE r.state {cases} ELSE q.state END", params


_SHOWN_STATE, _SHOWN_STATE_PARAMS = _shown_state_sql()

#: Every item with its run's facts (joined only while the item is running: before, its run id is only
#: reserved; after, the item's own end is stored) and its shown state. Use it as a subquery:
#: f"SELECT ... FROM ({SHOWN_ITEMS}) WHERE ...", with SHOWN_ITEMS_PARAMS first among the parameters.
SHOWN_ITEMS = (
    f"SELECT q.*, r.state AS run_state, r.message AS run_message, r.ended_at AS run_ended_at, "
    f"{_SHOWN_STATE} AS shown_state FROM queue_items q LEFT JOIN runs r ON r.id = q.run_id AND q.state = ?")
SHOWN_ITEMS_PARAMS: tuple[str, ...] = (*_SHOWN_STATE_PARAMS, ItemState.RUNNING)


def item_record(row: sqlite3.Row) -> ItemRecord:
    """An ItemRecord from a row of SHOWN_ITEMS (the shown state), or of queue_items (the stored state)."""
    keys = row.keys()
    state = ItemState(row["shown_state"] if "shown_state" in keys else row["state"])
    message, ended_at = row["message"], row["ended_at"]
    run_state = row["run_state"] if "run_state" in keys else None
    if state is not ItemState(row["state"]) and run_state is not None:  # ended with its run, not yet written
        message = message or ending_message(RunState(run_state), row["run_message"])
        ended_at = row["run_ended_at"]
    return ItemRecord(id=row["id"], queue=row["queue"], priority=PRIORITIES[row["priority"]], state=state,
                      settings=json.loads(row["settings"]),
                      run_id=row["run_id"] if state not in WITHOUT_RUN else None,
                      sweep_id=row["sweep_id"], message=message, agent_id=row["agent_id"],
                      created_at=row["created_at"], claimed_at=row["claimed_at"], launched_at=row["launched_at"],
                      ended_at=ended_at, reserved_run_id=row["run_id"])


def count_states(rows: Iterable[sqlite3.Row]) -> dict[ItemState, int]:
    """{state: n} for every item state, from rows of (shown_state, n)."""
    counts = dict.fromkeys(ItemState, 0)
    for row in rows:
        counts[ItemState(row["shown_state"])] += row["n"]
    return counts


def shown_counts(execute: Callable[..., Any], where: str, params: tuple) -> dict[ItemState, int]:
    """Counts by shown state of the items matching `where`, through `execute` (a store's query, or a
    connection's execute inside a transaction)."""
    return count_states(execute(f"SELECT shown_state, COUNT(*) AS n FROM ({SHOWN_ITEMS}) WHERE {where} "
                                "GROUP BY shown_state", (*SHOWN_ITEMS_PARAMS, *params)))
