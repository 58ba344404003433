"""Which runs' latest metrics the run table needs, fetched in one batch per refresh from the poll thread.

Only runs on screen are asked for, and a run that ended a while ago is asked once more and then never
again (its metrics cannot change), so a workspace of many thousand runs costs a few rows per refresh."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from launcher.errors import LaunchError
from tui.formatting import metrics_text

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import RunRecord

#: A run's log may get its last lines a little after it ended (the engine waits as long before it stops
#: indexing the run); after this, its metrics are final.
SETTLE_SECONDS = 6.0
#: Reading new log lines for metrics at most this often: live enough for a table, and a log flood's
#: indexing shares the CPU with the UI as little as it can.
REFRESH_SECONDS = 1.0
#: A run whose log grows faster than this is in a flood: its metrics are read once it slows down or ends.
#: Reading them means indexing every new byte of its log in this process, and the engine's indexer holds
#: the GIL for tens of milliseconds per few MB, which would stall key presses during the flood.
FLOOD_BYTES_PER_SECOND = 2_000_000


class LatestMetrics:
    """Used from one thread (the main screen's poll worker)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        #: run id -> when it ended, or None while it is active
        self.ended: dict[str, float | None] = {}
        #: runs whose shown metrics are final
        self.settled: set[str] = set()
        self.shown: dict[str, str] = {}
        self._next_at = 0.0
        #: run id -> (its log file, its size and when it was seen), to tell a flood
        self._logs: dict[str, tuple[str, int, float]] = {}
        #: runs left out of the last refresh because their log floods
        self.deferred: set[str] = set()

    def note(self, records: Iterable[RunRecord]) -> None:
        """Remember what the poll saw of these runs (new runs, state changes)."""
        for record in records:
            run_id = record.id
            if record.active:
                self.ended[run_id] = None
                self.settled.discard(run_id)
            else:
                self.ended[run_id] = record.ended_at or record.updated_at or 0.0

    def wanted(self, window: Iterable[str]) -> list[str]:
        candidates = [run_id for run_id in window if run_id in self.ended and run_id not in self.settled]
        self.deferred = {run_id for run_id in candidates if self.ended[run_id] is None and self._flooding(run_id)}
        return [run_id for run_id in candidates if run_id not in self.deferred]

    def _flooding(self, run_id: str) -> bool:
        """Whether the active run's log grew faster than FLOOD_BYTES_PER_SECOND since the last look."""
        known = self._logs.get(run_id)
        try:
            path = known[0] if known else os.fspath(self.api.runs.get(run_id).log_path)
            size = os.stat(path).st_size
        except (OSError, LaunchError):
            return False
        now = time.monotonic()
        self._logs[run_id] = (path, size, now)
        if known is None:
            return size > FLOOD_BYTES_PER_SECOND * REFRESH_SECONDS
        return (size - known[1]) > FLOOD_BYTES_PER_SECOND * max(now - known[2], 1e-3)

    def refresh(self, window: Iterable[str]) -> dict[str, str]:
        """Fetch the window's runs that may have new metrics; returns {run id: text} for texts that changed."""
        if time.monotonic() < self._next_at:
            return {}
        self._next_at = time.monotonic() + REFRESH_SECONDS
        wanted = self.wanted(window)
        if not wanted:
            return {}
        now = time.time()
        latest = self.api.runs.latest_metrics(wanted)
        changes = {}
        for run_id in wanted:
            text = metrics_text(latest.get(run_id, {}))
            if self.shown.get(run_id, "") != text:
                self.shown[run_id] = text
                changes[run_id] = text
            ended = self.ended.get(run_id)
            if ended is not None and now - ended > SETTLE_SECONDS:
                self.settled.add(run_id)
        return changes
