"""Reading queues, items, sweeps and agents writes nothing to the store, yet shows an item whose run has ended
with that end (and the sweep it belongs to as ended); the end is written by an explicit reconcile (opening
the workspace, Api.reconcile), as are the items of an agent that is gone handed back to the queue."""

from __future__ import annotations

import sqlite3

from launcher import Api, launch_add
from launcher.queue import claim_next, record_launch
from launcher.spec import merge_request
from launcher.states import ItemState, RunState, SweepState
from tests.queue.conftest import dead_process, run_config

TABLES = ("queue_items", "sweeps", "agents", "runs", "queues")


def snapshot(api) -> dict[str, list[tuple]]:
    """Every row of the tables queues, items, sweeps and agents live in."""
    return {table: [tuple(row) for row in api.workspace.store.query(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in TABLES}


def data_version(watcher: sqlite3.Connection) -> int:
    """SQLite's data_version on a connection of its own: it changes whenever another connection commits."""
    return watcher.execute("PRAGMA data_version").fetchone()[0]


def stored_state(api, item_id: int) -> str:
    return api.workspace.store.query("SELECT state FROM queue_items WHERE id=?", (item_id,))[0]["state"]


def launched_by_a_dead_agent(api, queue_name: str = "default"):
    """Claim the next item as an agent that has exited, launch its run and record the launch, as that agent
    did before it died: nobody follows the run any more. Returns the claimed record and the run."""
    pid, started = dead_process()
    claimed = claim_next(api.workspace, queue_name, agent_id="agent-dead", pid=pid, process_start=started)
    run = api.runs.submit(merge_request(**{**claimed.settings, "run_id": claimed.reserved_run_id}))
    assert record_launch(api.workspace, claimed.id)
    return claimed, run


def test_reads_show_ended_items_without_writing_them(api, worker, home):
    sweep = api.sweeps.create({"job": worker, "parameters": {"exit": [3]}, "name": "one-trial"})
    crashed, crashed_run = launched_by_a_dead_agent(api)  # the sweep's trial: the oldest item
    finished_item = launch_add(api, job=worker, config=run_config(tag="done"))
    finished, finished_run = launched_by_a_dead_agent(api)
    assert finished.id == finished_item.id
    orphan = launch_add(api, job=worker)  # claimed by a dead agent, never launched
    pid, started = dead_process()
    assert claim_next(api.workspace, "default", agent_id="agent-dead", pid=pid, process_start=started).id == orphan.id
    assert crashed_run.wait(timeout=30) is False and finished_run.wait(timeout=30) is True

    watcher = sqlite3.connect(home / "launcher.db")
    before, writes = snapshot(api), data_version(watcher)
    assert stored_state(api, crashed.id) == stored_state(api, finished.id) == "running"

    # Every read: items, one item, queues, agents, sweeps, one sweep, its trials.
    shown = {r.id: r for r in api.queue_items()}
    assert shown[finished.id].state is ItemState.FINISHED and shown[finished.id].ended_at is not None
    assert shown[crashed.id].state is ItemState.FAILED
    assert shown[crashed.id].message == "run failed: exit code 3"
    assert shown[orphan.id].state is ItemState.CLAIMED  # handed back by a reconcile, not by a read
    assert [r.id for r in api.queue_items(states=["finished"])] == [finished.id]
    assert finished_item.state is ItemState.FINISHED and api.queues.item(finished.id).record.run_id == finished_run.id
    counts = {q.name: q.counts for q in api.queues()}["default"]
    assert (counts[ItemState.FINISHED], counts[ItemState.FAILED], counts[ItemState.RUNNING]) == (1, 1, 0)
    assert api.sweeps.get(sweep.id).state is SweepState.FAILED  # every trial ended, none finished
    assert [s.state for s in api.sweeps()] == [SweepState.FAILED]
    assert all(agent.active == 0 for agent in api.queues.agents())
    assert data_version(watcher) == writes  # nothing at all was committed
    # A sweep's trials carry each run's latest metrics, read through launcher.metrics, which first indexes
    # the run's log into its own tables (a cache of the log): those may be written, nothing else.
    [trial] = api.sweeps.trials(sweep.id)
    assert (trial.state, trial.run_state, trial.run_id) == (ItemState.FAILED, RunState.FAILED, crashed_run.id)
    assert snapshot(api) == before

    # The explicit reconcile writes what the reads showed, and hands the dead agent's claim back.
    api.reconcile()
    assert data_version(watcher) != writes  # the watcher does see a write
    watcher.close()
    assert (stored_state(api, finished.id), stored_state(api, crashed.id)) == ("finished", "failed")
    assert stored_state(api, orphan.id) == "queued" and "is gone" in orphan.record.message
    assert {r.id: (r.state, r.message) for r in api.queue_items()} == {
        **{i: (r.state, r.message) for i, r in shown.items() if i != orphan.id},
        orphan.id: (ItemState.QUEUED, orphan.record.message)}


def test_opening_the_workspace_reconciles_items(api, worker, home):
    launch_add(api, job=worker)
    item, run = launched_by_a_dead_agent(api)
    assert run.wait(timeout=30) is True
    assert stored_state(api, item.id) == "running"
    with Api(home, reattach=False) as untouched:  # opened without reconciling: shown ended, stored running
        assert untouched.queues.item(item.id).state is ItemState.FINISHED
        assert stored_state(untouched, item.id) == "running"
    with Api(home) as reopened:  # what every CLI command does first
        assert stored_state(reopened, item.id) == "finished"
