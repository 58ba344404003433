"""A submitted run, as the API hands it out: status, wait, cancel and logs, all read from the store and
the run folder, so that any process sees the same run whether it launched it or not (MLflow's
SubmittedRun, for every resource)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.errors import RunError
from launcher.logfile import STDERR, STDOUT, LogLine, LogReader, iter_lines, read_stream_bytes
from launcher.options import check_grace_period
from launcher.runners.ownership import RunFolder
from launcher.spec import LaunchSpec
from launcher.states import RunState

if TYPE_CHECKING:
    from launcher.records import RunEvent, RunRecord
    from launcher.runners.base import OwnerProcess
    from launcher.workspace import Workspace

#: How often a waiting process re-reads the store, and how often it checks that the run's owner lives.
POLL_SECONDS = 0.05
RECONCILE_SECONDS = 2.0
#: How long cancel(wait=True) waits beyond the grace period for the owner to record the stop.
CANCEL_SLACK_SECONDS = 30.0


@dataclass(frozen=True)
class RunStatus:
    state: RunState
    message: str | None = None
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.state.is_terminal()


class Run:
    def __init__(self, workspace: Workspace, run_id: str, owner: OwnerProcess | None = None) -> None:
        self.workspace = workspace
        self.id = run_id
        self._owner = owner
        #: What the launch that made this Run noted for the user (an edited folder snapshotted, ...).
        self.launch_notes: tuple[str, ...] = ()
        if workspace.store.get_run(run_id) is None:
            raise RunError(f"run {run_id!r} does not exist (see 'launcher runs')")

    def __repr__(self) -> str:
        return f"Run({self.id!r}, state={str(self.get_status().state)!r})"

    # -- facts ----------------------------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        record = self.workspace.store.get_run(self.id)
        if record is None:
            raise RunError(f"run {self.id!r} no longer exists")
        if record.active and self.folder.read_ending() is not None:
            # Its owner recorded the end in the run folder but could not tell the store.
            from launcher.reconcile import settle

            settle(self.workspace, record)
            record = self.workspace.store.get_run(self.id) or record
        return record

    @property
    def spec(self) -> LaunchSpec:
        return self.record.launch_spec()

    @property
    def dir(self) -> Path:
        return self.workspace.run_dir(self.id)

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.dir)

    @property
    def log_path(self) -> Path:
        return Path(self.folder.log)

    def get_status(self) -> RunStatus:
        record = self.record
        return RunStatus(record.state, record.message, record.exit_code)

    def events(self) -> list[RunEvent]:
        """The run's state changes, oldest first."""
        return self.workspace.store.run_events(self.id)

    @property
    def state(self) -> RunState:
        return self.get_status().state

    # -- waiting and stopping -------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; True when it finished successfully."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._owner is not None:
            self._owner.wait(timeout)
        next_reconcile = time.monotonic() + RECONCILE_SECONDS
        while True:
            status = self.get_status()
            if status.done:
                return status.state is RunState.FINISHED
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"run {self.id} still {status.state} after {timeout}s")
            if now >= next_reconcile:  # the run's owner may have died
                self._settle()
                next_reconcile = now + RECONCILE_SECONDS
            time.sleep(POLL_SECONDS)

    def cancel(self, grace_period: float | None = None, wait: bool = True) -> RunStatus:
        """Stop the run: SIGTERM (or the resource's equivalent), the grace period, then SIGKILL. The
        request goes to the run's owner, wherever it was launched from; a run whose owner is gone is
        stopped here."""
        import os
        import signal

        from launcher.runners import get_runner

        if grace_period is not None:
            grace_period = check_grace_period(grace_period)
        record = self.record
        if record.done:
            return self.get_status()
        grace = grace_period if grace_period is not None else get_runner(record.resource).grace_period(
            record.resource_args)
        folder = self.folder
        folder.request_cancel(grace)
        pid = folder.owner_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # it has just ended: settled below
        if not folder.owner_alive():
            self._settle()
        # Otherwise its owner is starting (the launching process holds the lock) and finds the request.
        if wait:
            try:
                self.wait(timeout=grace + CANCEL_SLACK_SECONDS)
            except TimeoutError:
                pass
        return self.get_status()

    def _settle(self) -> None:
        from launcher.reconcile import settle

        record = self.workspace.store.get_run(self.id)
        if record is not None and record.active:
            settle(self.workspace, record)

    # -- logs -----------------------------------------------------------------------------------------
    def get_logs(self, streams: tuple[str, ...] = (STDOUT, STDERR)) -> str:
        """The program's output so far as text (undecodable bytes replaced; see get_log_bytes)."""
        return self.get_log_bytes(streams).decode("utf-8", "replace")

    def get_log_bytes(self, streams: tuple[str, ...] = (STDOUT, STDERR)) -> bytes:
        """The program's output so far, byte for byte as it wrote it."""
        if not self.log_path.exists():
            return b""
        return read_stream_bytes(self.log_path, streams)

    def log_lines(self) -> list[LogLine]:
        return list(iter_lines(self.log_path)) if self.log_path.exists() else []

    def follow_logs(self, *, from_start: bool = True, batch: bool = False) -> Iterator:
        """Lines as they are written, until the run has ended and everything is read.

        With batch=True, yields lists of lines (what a UI wants: one update per batch)."""
        reader = LogReader(self.log_path)
        if not from_start and self.log_path.exists():
            reader.offset = self.log_path.stat().st_size
        delay = POLL_SECONDS / 5
        next_reconcile = time.monotonic() + RECONCILE_SECONDS
        while True:
            done = self.get_status().done  # read before the file, so no line written before the end is missed
            lines = reader.read()
            if lines:
                delay = POLL_SECONDS / 5
                if batch:
                    yield lines
                else:
                    yield from lines
                continue
            if done:
                tail = list(reader.read_available()) + reader.flush_pending()
                if tail:
                    if batch:
                        yield tail
                    else:
                        yield from tail
                return
            if time.monotonic() >= next_reconcile:
                self._settle()
                next_reconcile = time.monotonic() + RECONCILE_SECONDS
            time.sleep(delay)
            delay = min(delay * 2, POLL_SECONDS)

    def tail(self, count: int = 20) -> list[str]:
        lines = [line.text for line in self.log_lines() if line.stream in (STDOUT, STDERR)]
        return lines[-count:]


def find_run(workspace: Workspace, prefix: str) -> Run:
    """A run by its id or an unambiguous prefix of it."""
    if workspace.store.get_run(prefix) is not None:
        return Run(workspace, prefix)
    escaped = prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    matches = [r["id"] for r in workspace.store.query(
        "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (escaped + "%",))]
    if len(matches) == 1:
        return Run(workspace, matches[0])
    if matches:
        raise RunError(f"run id {prefix!r} is ambiguous: {', '.join(matches)}, ...")
    raise RunError(f"run {prefix!r} does not exist (see 'launcher runs')")
