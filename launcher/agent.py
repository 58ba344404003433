"""The agent: takes items from its queues (round-robin), launches them, never more than max_jobs at once.

Its runs are ordinary runs: they outlive the agent unless it is told to stop them. It waits on an event
that is set when one of its runs' handles reports an end (a local-process supervisor exiting), when it is
asked to stop, or when the poll interval passes (new items, resources whose end cannot be awaited).
Every few seconds it also does the housekeeping any process may do: items of agents that are gone are
handed back, its runs' owners are checked, their metrics indexed.

Runs of agents that are gone count too: a restarted agent adopts the still-active runs of items on its
queues whose agent is gone (killed outright, or returned leaving its runs going), before it takes any
item, so `--max-jobs 2` means at most 2 runs on its side even after a kill -9 of the previous agent. The
adoption is atomic in SQLite (queue.claims.adopt_orphans): one agent adopts each orphan, never two.

The agent is one of the places that write items' ends: it brings its own items in line with their runs
(queue.sync) as they end; reads elsewhere only show those ends."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launcher.errors import LaunchError
from launcher.processes import process_alive, process_start_time
from launcher.queue.claims import adopt_orphans, claim_next, record_failure, record_launch, recover_items
from launcher.queue.items import DEFAULT_QUEUE, check_queue
from launcher.queue.rows import HELD, SHOWN_ITEMS, SHOWN_ITEMS_PARAMS, marks
from launcher.queue.sync import sync_items
from launcher.reconcile import reconcile
from launcher.records import AgentRecord, ItemRecord
from launcher.run import Run
from launcher.runners.base import OwnerProcess
from launcher.states import AgentState, RunState

if TYPE_CHECKING:
    from launcher.workspace import Workspace

#: After stop(): wait for the agent's runs, stop them, or leave them running (their items follow them).
ON_STOP = ("wait", "stop", "leave")
POLL_SECONDS = 0.5
HOUSEKEEPING_SECONDS = 2.0



class AgentError(LaunchError):
    """Bad agent settings (max_jobs, queues, on_stop)."""


@dataclass
class _Active:
    item_id: int
    run_id: str


class Agent:
    """Run with `run()` (blocks until stopped) or `start()` (a background thread, e.g. inside the TUI).

    `stop()` stops taking items; then, with on_stop="wait" the agent returns once its runs have ended, with
    "stop" it stops them first, with "leave" it returns at once and its runs go on (any process that opens
    the workspace later brings their items up to date, and the next agent on their queue adopts them).

    Adopted runs (runs of items whose agent is gone, see queue.claims.adopt_orphans) are the agent's own from
    then on: they count against max_jobs, their items end with them, and on_stop applies to them. The
    agent adopts every orphan on its queues that it finds, even beyond max_jobs, since a run is never
    stopped to honour a limit: it then takes no new item until its active runs are below max_jobs. When
    several live agents share the queue, the first to look adopts them all (checked and changed in one
    SQLite write transaction), so no orphan is counted twice or by nobody."""

    def __init__(self, workspace: Workspace, queues: Sequence[str] = (DEFAULT_QUEUE,), max_jobs: int = 1, *,
                 on_stop: str = "wait", poll_seconds: float = POLL_SECONDS,
                 on_event: Callable[[str], None] | None = None) -> None:
        if isinstance(queues, str):
            queues = [queues]
        if not queues:
            raise AgentError("an agent needs at least one queue")
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs == 0 or max_jobs < -1:
            raise AgentError(f"max_jobs {max_jobs!r} is not valid; expected a number >= 1, or -1 for no limit")
        check_on_stop(on_stop)
        if not isinstance(poll_seconds, int | float) or poll_seconds <= 0:
            raise AgentError(f"poll interval {poll_seconds!r} is not valid; expected seconds > 0")
        self.workspace = workspace
        self.queues = [check_queue(workspace, name) for name in dict.fromkeys(queues)]
        self.max_jobs = max_jobs
        self.on_stop = on_stop
        self.poll_seconds = float(poll_seconds)
        self.on_event = on_event
        self.pid = os.getpid()
        self.process_start = process_start_time(self.pid)
        self.id = f"agent-{self.pid}-{secrets.token_hex(3)}"
        self.launched = 0
        #: Runs of gone agents' items this agent took over.
        self.adopted = 0
        self.failed_launches = 0
        self._active: dict[str, _Active] = {}
        #: Runs whose end a thread awaits through their handle (the others are polled).
        self._waited: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._state = AgentState.STOPPED
        self._next_queue = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: What ended a background agent (start()) with an error, if anything did.
        self.error: BaseException | None = None

    # -- control (thread-safe) ------------------------------------------------------------------------
    def stop(self, on_stop: str | None = None) -> None:
        """Stop taking items; on_stop overrides the agent's choice (a second Ctrl-C may say "stop")."""
        if on_stop is not None:
            self.on_stop = check_on_stop(on_stop)
        self._stop.set()
        self._wake.set()

    def start(self) -> threading.Thread:
        """Run the agent in a background thread; stop() and join() it."""
        self._thread = threading.Thread(target=self._run_in_thread, name=self.id, daemon=True)
        self._thread.start()
        return self._thread

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as error:  # noqa: BLE001 - kept for whoever joins the thread
            self.error = error
            self._event(f"agent {self.id} failed: {error}")

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def state(self) -> AgentState:
        return self._state

    def active_runs(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def status(self) -> dict[str, Any]:
        """What a UI shows about this agent."""
        return {"id": self.id, "state": self._state, "queues": list(self.queues), "max_jobs": self.max_jobs,
                "active": len(self._active), "launched": self.launched, "adopted": self.adopted,
                "failed_launches": self.failed_launches,
                "on_stop": self.on_stop}

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self) -> None:
        self._register()
        try:
            next_housekeeping = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_housekeeping:
                    # Before any claim: orphans adopted here count against max_jobs in _fill_slots.
                    self._housekeeping(adopt=True)
                    next_housekeeping = now + HOUSEKEEPING_SECONDS
                self._collect_ended()
                self._fill_slots()
                self._wake.wait(self._timeout(next_housekeeping))
                self._wake.clear()
            self._set_state(AgentState.STOPPING)
            self._finish_runs()
        finally:
            self._set_state(AgentState.STOPPED)

    def _timeout(self, next_housekeeping: float) -> float:
        # Free slots: look at the queues again after the poll interval. No free slot: only a run's end
        # (which sets the event) or the housekeeping can change anything.
        until_housekeeping = max(0.0, next_housekeeping - time.monotonic())
        if self._has_free_slot() or self._has_unwaitable_runs():
            return min(self.poll_seconds, until_housekeeping)
        return until_housekeeping

    def _has_free_slot(self) -> bool:
        return self.max_jobs < 0 or len(self._active) < self.max_jobs

    def _has_unwaitable_runs(self) -> bool:
        return any(run_id not in self._waited for run_id in self._active)

    def _fill_slots(self) -> None:
        while self._has_free_slot() and not self._stop.is_set():
            item = self._claim()
            if item is None:
                return
            self._launch(item)

    def _claim(self) -> ItemRecord | None:
        count = len(self.queues)
        for offset in range(count):
            name = self.queues[(self._next_queue + offset) % count]
            item = claim_next(self.workspace, name, agent_id=self.id, pid=self.pid, process_start=self.process_start)
            if item is not None:
                self._next_queue = (self._next_queue + offset + 1) % count
                return item
        return None

    def _launch(self, item: ItemRecord) -> None:
        from launcher.launching import submit
        from launcher.spec import merge_request

        run = None
        recorded = False  # a run was recorded, then its resource refused to start it
        try:
            request = merge_request(**{**item.settings, "run_id": item.reserved_run_id})
            run = submit(self.workspace, request, sweep_id=item.sweep_id)
        except LaunchError as error:
            reason, recorded = f"launch rejected: {error}", error.run_id is not None
        except Exception as error:  # noqa: BLE001 - one bad item must not stop the agent
            reason = f"launch error: {type(error).__name__}: {error}"
            recorded = getattr(error, "run_id", None) is not None
        if run is None:
            if recorded:
                # The run was recorded but its resource refused to start it (start_failed): follow it.
                record_launch(self.workspace, item.id)
                sync_items(self.workspace, [item.id])
            else:
                record_failure(self.workspace, item.id, reason)
            self.failed_launches += 1
            self._event(f"item {item.id} failed: {reason}")
            return
        self.launched += 1
        if not record_launch(self.workspace, item.id):  # cancelled while it was being launched
            run.cancel(wait=False)
            self._event(f"item {item.id} was cancelled while launching; stopping run {run.id}")
        with self._lock:
            self._active[run.id] = _Active(item.id, run.id)
        self._watch(run.id, run._owner)
        self._event(f"item {item.id} -> run {run.id}")

    def _watch(self, run_id: str, handle: OwnerProcess | None) -> None:
        """Wake the loop when the run's owner process, started here, exits (the run has ended then)."""
        if handle is None or handle.process is None:
            return
        self._waited.add(run_id)

        def wait() -> None:
            try:
                handle.wait(None)
            finally:
                self._wake.set()

        threading.Thread(target=wait, name=f"{self.id}-{run_id}", daemon=True).start()

    def _collect_ended(self) -> None:
        with self._lock:
            run_ids = list(self._active)
        if not run_ids:
            return
        marks = ", ".join("?" for _ in run_ids)
        rows = self.workspace.store.query(f"SELECT id, state FROM runs WHERE id IN ({marks})", tuple(run_ids))
        ended = [r["id"] for r in rows if RunState(r["state"]).is_terminal()]
        ended += [run_id for run_id in run_ids if run_id not in {r["id"] for r in rows}]
        if not ended:
            return
        from launcher.metrics import index_runs

        with self._lock:
            finished = [self._active.pop(run_id) for run_id in ended]
        for active in finished:
            self._waited.discard(active.run_id)
        sync_items(self.workspace, [a.item_id for a in finished])
        index_runs(self.workspace, ended)
        for active in finished:
            self._event(f"run {active.run_id} (item {active.item_id}) ended")

    def _housekeeping(self, adopt: bool = False) -> None:
        recover_items(self.workspace)  # first: a gone agent's claimed item with a run becomes running
        if adopt:
            self._adopt()
        run_ids = self.active_runs()
        if run_ids:
            from launcher.metrics import index_runs

            reconcile(self.workspace, run_ids)
            index_runs(self.workspace, run_ids)
        self.workspace.store.execute("UPDATE agents SET updated_at=? WHERE id=?", (time.time(), self.id))

    def _adopt(self) -> None:
        """Take over the active runs of gone agents' items on this agent's queues (not while stopping)."""
        adoptions = adopt_orphans(self.workspace, self.queues, agent_id=self.id, pid=self.pid,
                                        process_start=self.process_start)
        if not adoptions:
            return
        with self._lock:
            for adoption in adoptions:
                run_id = adoption.item.run_id
                assert run_id is not None  # a running item has its run
                self._active[run_id] = _Active(adoption.item.id, run_id)
        self.adopted += len(adoptions)
        for adoption in adoptions:
            self._event(f"adopted run {adoption.item.run_id} (item {adoption.item.id}) of gone agent "
                        f"{adoption.previous_agent or 'unknown'}")

    def _finish_runs(self) -> None:
        """After stop(): stop the runs if asked to, and wait until they have ended either way."""
        stopping = False
        next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        while True:
            self._collect_ended()
            if not self._active or self.on_stop == "leave":
                return
            if self.on_stop == "stop" and not stopping:
                stopping = True
                for run_id in self.active_runs():
                    self._event(f"stopping run {run_id}")
                    try:
                        Run(self.workspace, run_id).cancel(wait=False)
                    except LaunchError:
                        continue
            if time.monotonic() >= next_housekeeping:
                self._housekeeping()
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
            self._wake.wait(min(self.poll_seconds, max(0.0, next_housekeeping - time.monotonic())))
            self._wake.clear()

    # -- bookkeeping ------------------------------------------------------------------------------------
    def _register(self) -> None:
        now = time.time()
        self._state = AgentState.RUNNING
        self.workspace.store.execute(
            "INSERT INTO agents (id, pid, process_start, queues, max_jobs, state, started_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.id, self.pid, self.process_start, json.dumps(self.queues), self.max_jobs, AgentState.RUNNING, now, now))
        self._event(f"agent {self.id} taking items from {', '.join(self.queues)} "
                    f"(max jobs {'unlimited' if self.max_jobs < 0 else self.max_jobs})")

    def _set_state(self, state: AgentState) -> None:
        self._state = state
        try:
            self.workspace.store.execute("UPDATE agents SET state=?, updated_at=? WHERE id=?", (state, time.time(), self.id))
        except Exception:  # noqa: BLE001 - the workspace may already be closed when a thread ends
            pass

    def _event(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)


def check_on_stop(on_stop: str) -> str:
    if on_stop not in ON_STOP:
        raise AgentError(f"on_stop {on_stop!r} is not valid; expected one of: {', '.join(ON_STOP)}")
    return on_stop


def list_agents(workspace: Workspace) -> list[AgentRecord]:
    """Agents recorded in the workspace, newest first; one whose process is gone shows as gone. A read:
    the items each holds are counted as shown (an item whose run has ended is not held any more)."""
    result = []
    for row in workspace.store.query("SELECT * FROM agents ORDER BY started_at DESC"):
        state = AgentState(row["state"])
        if state is not AgentState.STOPPED and not process_alive(row["pid"], row["process_start"]):
            state = AgentState.GONE
        active = workspace.store.query(
            f"SELECT COUNT(*) AS n FROM ({SHOWN_ITEMS}) WHERE agent_id=? AND shown_state IN ({marks(HELD)})",
            (*SHOWN_ITEMS_PARAMS, row["id"], *HELD))[0]["n"]
        result.append(AgentRecord(id=row["id"], pid=row["pid"], queues=tuple(json.loads(row["queues"])),
                                  max_jobs=row["max_jobs"], state=state, started_at=row["started_at"],
                                  updated_at=row["updated_at"], active=active))
    return result
