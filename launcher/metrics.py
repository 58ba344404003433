"""Live metrics: a run prints `@metrics {"loss": 0.31, "step": 120}` on stdout; they are read from its log.

The marker rides on the log stream (run_dir/output.log, format in launcher/logfile.py), so it works on
every resource and the capture path stays untouched. An indexer reads each run's log from the offset it
reached last time and stores the points (run, metric, step, value, time of the line) in the store; the
offset and the points are written in one transaction that only succeeds if no other process indexed the
same bytes meanwhile, so every line is indexed exactly once. A malformed marker line is just a log line.

Anyone may call the indexer: `launcher metrics`, `Api.metrics()`, the agent for its runs, the TUI."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from launcher.logfile import LETTER_AT, PAYLOAD_AT, TIMESTAMP_WIDTH
from launcher.states import RunState

if TYPE_CHECKING:
    from launcher.workspace import Workspace

MARKER = b"@metrics "
#: Bytes of log read per indexing step; a run's index catches up over several steps. Small enough that a
#: step holds the interpreter lock about a millisecond, so a UI thread indexing a flooding run stays responsive.
CHUNK_BYTES = 1 << 18
#: A run is indexed for the last time this long after it ended (a resource may write its last lines late).
SETTLE_SECONDS = 5.0
MAX_NAME_LENGTH = 128

# Log record layout (launcher/logfile.py): 27-character timestamp, space, stream letter, space, payload.
_STDOUT_LINE, _STDOUT_FRAGMENT = ord("O"), ord("o")
# Fast path: complete stdout records holding a marker, when the chunk has no stdout fragment.
_MARKER_RECORD = re.compile(rb"^(.{27}) O @metrics (.*)$", re.M)
_STDOUT_FRAGMENT_RECORD = re.compile(rb"^.{27} o ", re.M)


class MetricPoint(NamedTuple):
    step: int
    value: float
    time: float


class _Parse:
    """The indexer's position in one run's log, and what it found since."""

    def __init__(self, offset: int, next_step: int, skipping: bool) -> None:
        self.offset = offset
        self.next_step = next_step
        #: The stdout line in progress at `offset` is known not to be a marker: skip to its end.
        self.skipping = skipping
        self.points: list[tuple[str, int, float, float]] = []

    def line(self, timestamp: bytes, payload: bytes) -> None:
        parsed = parse_marker(payload)
        if parsed is None:
            return
        step, values = parsed
        if step is None:
            step = self.next_step
        at = _timestamp(timestamp)
        for name, value in values.items():
            self.points.append((name, step, value, at))
        self.next_step = step + 1


def parse_marker(payload: bytes) -> tuple[int | None, dict[str, float]] | None:
    """(step or None, {name: value}) for a well-formed marker line, else None (it stays a plain line)."""
    if not payload.startswith(MARKER):
        return None
    try:
        data = json.loads(payload[len(MARKER):].rstrip(b"\r"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    step = data.get("step")
    if step is not None:
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            return None
    values = {name: float(value) for name, value in data.items()
              if name != "step" and isinstance(value, int | float) and not isinstance(value, bool)
              and len(name) <= MAX_NAME_LENGTH and math.isfinite(value)}
    if not values:
        return None
    return step, values


def _timestamp(raw: bytes) -> float:
    try:
        return datetime.fromisoformat(raw.decode()).timestamp()
    except ValueError:
        return time.time()


def _could_be_marker(start: bytes) -> bool:
    return start.startswith(MARKER) or MARKER.startswith(start)


def _parse_chunk(state: _Parse, chunk: bytes, base: int, final: bool) -> None:
    """Read the complete records of chunk (which starts at file offset base) into state."""
    end = chunk.rfind(b"\n") + 1
    if not state.skipping and not _STDOUT_FRAGMENT_RECORD.search(chunk, 0, end):
        for match in _MARKER_RECORD.finditer(chunk, 0, end):
            state.line(match.group(1), MARKER + match.group(2))
        state.offset = base + end
        return
    pending_start: int | None = None
    pending_ts = b""
    pending: list[bytes] = []
    position = 0
    while position < end:
        newline = chunk.index(b"\n", position)
        record_start, position = position, newline + 1
        if newline - record_start < PAYLOAD_AT - 1:
            continue
        letter = chunk[record_start + LETTER_AT]
        if letter != _STDOUT_LINE and letter != _STDOUT_FRAGMENT:
            continue  # only stdout carries markers; other streams cannot interrupt a stdout line
        payload = chunk[record_start + PAYLOAD_AT:newline]
        if state.skipping:
            state.skipping = letter == _STDOUT_FRAGMENT
            continue
        if letter == _STDOUT_FRAGMENT:
            if pending_start is None:
                pending_start, pending_ts = record_start, chunk[record_start:record_start + TIMESTAMP_WIDTH]
            pending.append(payload)
            continue
        if pending_start is not None:
            state.line(pending_ts, b"".join(pending) + payload)
            pending_start, pending = None, []
        else:
            state.line(chunk[record_start:record_start + TIMESTAMP_WIDTH], payload)
    state.offset = base + end
    if pending_start is None:
        return
    started = b"".join(pending)
    if final:  # the program ended without finishing its last line
        state.line(pending_ts, started)
    elif _could_be_marker(started[:len(MARKER)]) and not (pending_start == 0 and len(chunk) >= CHUNK_BYTES):
        state.offset = base + pending_start  # read the marker again once its line is complete
    else:
        state.skipping = True  # not a marker (or one too long to hold): skip the rest of the line


def index_run(workspace: Workspace, run_id: str) -> int:
    """Index the run's new log lines; returns the number of points added."""
    store = workspace.store
    added = 0
    path = workspace.run_dir(run_id) / "output.log"
    while True:
        rows = store.query("SELECT offset, next_step, skipping, done FROM metric_index WHERE run_id=?", (run_id,))
        if rows and rows[0]["done"]:
            return added
        offset, next_step, skipping = (rows[0]["offset"], rows[0]["next_step"], bool(rows[0]["skipping"])) \
            if rows else (0, 0, False)
        run = store.query("SELECT state, ended_at FROM runs WHERE id=?", (run_id,))
        if not run:
            return added
        # Read the state before the file: a run seen as ended has written everything we then read.
        settled = (RunState(run[0]["state"]).is_terminal()
                   and time.time() - (run[0]["ended_at"] or 0) >= SETTLE_SECONDS)
        try:
            with open(path, "rb") as log:
                log.seek(offset)
                chunk = log.read(CHUNK_BYTES)
        except FileNotFoundError:
            chunk = b""
        if not chunk and not settled:
            return added
        at_end = len(chunk) < CHUNK_BYTES
        state = _Parse(offset, next_step, skipping)
        _parse_chunk(state, chunk, offset, settled and at_end)
        if settled and at_end:
            state.offset = offset + len(chunk)
        done = settled and at_end
        with store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO metric_index (run_id) VALUES (?)", (run_id,))
            claimed = conn.execute(
                "UPDATE metric_index SET offset=?, next_step=?, skipping=?, done=? "
                "WHERE run_id=? AND offset=? AND done=0",
                (state.offset, state.next_step, int(state.skipping), int(done), run_id, offset)).rowcount
            if claimed and state.points:
                conn.executemany("INSERT INTO metrics (run_id, name, step, value, at) VALUES (?, ?, ?, ?, ?)",
                                 [(run_id, *point) for point in state.points])
                latest: dict[str, tuple] = {}
                for name, step, value, at in state.points:
                    latest[name] = (run_id, name, step, value, at)
                conn.executemany(
                    "INSERT INTO metrics_latest (run_id, name, step, value, at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, name) DO UPDATE SET step=excluded.step, value=excluded.value, "
                    "at=excluded.at", list(latest.values()))
        if claimed:
            added += len(state.points)
            if at_end or state.offset == offset:
                return added
        # Another process indexed these bytes first, or there is more to read: look again.


def index_runs(workspace: Workspace, run_ids: Iterable[str]) -> int:
    """Index every given run that is not fully indexed yet."""
    pending = _not_done(workspace, list(run_ids))
    return sum(index_run(workspace, run_id) for run_id in pending)


def _not_done(workspace: Workspace, run_ids: list[str]) -> list[str]:
    done: set[str] = set()
    for start in range(0, len(run_ids), 500):
        part = run_ids[start:start + 500]
        marks = ", ".join("?" for _ in part)
        done.update(r["run_id"] for r in workspace.store.query(
            f"SELECT run_id FROM metric_index WHERE done=1 AND run_id IN ({marks})", tuple(part)))
    return [run_id for run_id in run_ids if run_id not in done]


def run_metrics(workspace: Workspace, run_id: str, names: Iterable[str] | None = None,
                refresh: bool = True) -> dict[str, list[MetricPoint]]:
    """Every metric of the run as a series of points in the order they were reported."""
    if refresh:
        index_run(workspace, run_id)
    sql = "SELECT name, step, value, at FROM metrics WHERE run_id=?"
    params: list = [run_id]
    if names is not None:
        wanted = list(names)
        sql += f" AND name IN ({', '.join('?' for _ in wanted)})"
        params.extend(wanted)
    series: dict[str, list[MetricPoint]] = {}
    for row in workspace.store.query(sql + " ORDER BY rowid", tuple(params)):
        series.setdefault(row["name"], []).append(MetricPoint(row["step"], row["value"], row["at"]))
    return series


def latest_metrics(workspace: Workspace, run_ids: Iterable[str], refresh: bool = True) -> dict[str, dict[str, MetricPoint]]:
    """The last reported value of each metric of each run: {run_id: {name: point}} (runs without
    metrics are left out). Cheap for a table: runs already fully indexed cost one shared query."""
    ids = list(run_ids)
    if refresh:
        index_runs(workspace, ids)
    result: dict[str, dict[str, MetricPoint]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ", ".join("?" for _ in part)
        for row in workspace.store.query(f"SELECT run_id, name, step, value, at FROM metrics_latest "
                                   f"WHERE run_id IN ({marks}) ORDER BY name", tuple(part)):
            result.setdefault(row["run_id"], {})[row["name"]] = MetricPoint(row["step"], row["value"], row["at"])
    return result


def points_since(workspace: Workspace, run_id: str, after: int) -> tuple[list[tuple[str, MetricPoint]], int]:
    """(name, point) pairs indexed after position `after`, oldest first, and the new position."""
    index_run(workspace, run_id)
    rows = workspace.store.query("SELECT rowid, name, step, value, at FROM metrics WHERE run_id=? AND rowid > ? "
                                 "ORDER BY rowid", (run_id, after))
    points = [(row["name"], MetricPoint(row["step"], row["value"], row["at"])) for row in rows]
    return points, (rows[-1]["rowid"] if rows else after)
