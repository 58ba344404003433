"""A submitted run, as the API hands it out: status, wait, cancel and logs, all read from the store and
the run folder, so that any process sees the same run whether it launched it or not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import states
from launcher.errors import RunError
from launcher.logfile import STDERR, STDOUT, LogLine, LogReader, iter_lines, read_stream_bytes
from launcher.spec import LaunchSpec

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.runners.base import RunHandle

#: How often a waiting process re-reads the store, and how often it checks that the run's owner lives.
POLL_SECONDS = 0.05
RECONCILE_SECONDS = 2.0


@dataclass(frozen=True)
class RunStatus:
    state: str
    message: str | None = None
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return states.is_terminal(self.state)


class Run:
    def __init__(self, api: Api, run_id: str, handle: RunHandle | None = None) -> None:
        self.api = api
        self.id = run_id
        self._handle = handle
        if api.store.get_run(run_id) is None:
            raise RunError(f"run {run_id!r} does not exist (see 'launcher runs')")

    def __repr__(self) -> str:
        return f"Run({self.id!r}, state={self.get_status().state!r})"

    # -- facts ----------------------------------------------------------------------------------------
    @property
    def record(self) -> dict[str, Any]:
        record = self.api.store.get_run(self.id)
        assert record is not None
        return record

    @property
    def spec(self) -> LaunchSpec:
        return LaunchSpec.from_dict(self.record["spec"])

    @property
    def dir(self) -> Path:
        return self.api.run_dir(self.id)

    @property
    def log_path(self) -> Path:
        return self.dir / "output.log"

    def get_status(self) -> RunStatus:
        record = self.record
        return RunStatus(record["state"], record["message"], record["exit_code"])

    def events(self) -> list[dict[str, Any]]:
        """The run's state changes, oldest first: [{"state", "at", "message"}]."""
        return self.api.store.run_events(self.id)

    @property
    def state(self) -> str:
        return self.get_status().state

    # -- waiting and stopping -------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; True when it finished successfully."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._handle is not None:
            self._handle.wait(timeout)
        next_reconcile = time.monotonic() + RECONCILE_SECONDS
        while True:
            status = self.get_status()
            if status.done:
                return status.state == states.FINISHED
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"run {self.id} still {status.state} after {timeout}s")
            if now >= next_reconcile:  # the process that owns the run may have died
                self.api.reconcile(run_ids=[self.id])
                next_reconcile = now + RECONCILE_SECONDS
            time.sleep(POLL_SECONDS)

    def cancel(self, grace_period: float | None = None, wait: bool = True) -> RunStatus:
        """Stop the run: SIGTERM (or the resource's equivalent), the grace period, then SIGKILL."""
        from launcher.runners import get_runner

        record = self.record
        if states.is_terminal(record["state"]):
            return self.get_status()
        get_runner(record["resource"]).cancel(self.api, record, grace_period)
        if wait:
            grace = grace_period if grace_period is not None else 10.0
            try:
                self.wait(timeout=grace + 30.0)
            except TimeoutError:
                pass
        return self.get_status()

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

    def follow_logs(self, *, from_start: bool = True, batch: bool = False) -> Iterator[LogLine] | Iterator[list[LogLine]]:
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
                self.api.reconcile(run_ids=[self.id])
                next_reconcile = time.monotonic() + RECONCILE_SECONDS
            time.sleep(delay)
            delay = min(delay * 2, POLL_SECONDS)

    def tail(self, count: int = 20) -> list[str]:
        lines = [line.text for line in self.log_lines() if line.stream in (STDOUT, STDERR)]
        return lines[-count:]
