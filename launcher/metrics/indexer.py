"""Indexing a run's metrics from all four sources into the store's one model (name, step, value, time).

- `@metrics` lines are read from the run's log (markers.py); the position is metric_index's offset.
- wandb, MLflow and TensorBoard are read with launcher/tracking's readers, one channel at a time
  (channels.py); each channel's reading position is kept as text in metric_sources with a version number.

Exactly once, whoever indexes: the new position and the points are written in one transaction that only
succeeds if no other process moved the position meanwhile (the log's offset, a channel's version).
Within one process, a channel's reader is kept between calls while nobody else moved its position, so a
followed run costs only what is new (a TensorBoard reader resumed from a position reads its file up to it).

A problem a reader reports (a damaged or cut file, a store that cannot be reached) is kept with the
channel, written once as a launcher note in the run's log, and listed by `problems()` for the run's
details. A run's index is done once it has ended and settled: everything is read a last time with
`final=True` (what is cut short then is reported rather than waited for).

Each source owns the names it reports first: the same name from a second source is stored as
`name (source)`, so that one series never mixes two libraries' points."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.errors import LaunchError
from launcher.metrics import markers
from launcher.metrics.channels import Channel, RunPlaces, open_reader, present, tie_problem
from launcher.states import RunState
from launcher.tracking.model import MetricPoint, MetricSource, ReadResult

if TYPE_CHECKING:
    import sqlite3

    from launcher.tracking.model import MetricReader
    from launcher.workspace import Workspace

#: A run is indexed for the last time this long after it ended (a resource may write its last lines late).
SETTLE_SECONDS = 5.0
#: How often one process looks for new tracking files of an active run (a few directory listings).
DISCOVERY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class MetricProblem:
    """Something a source's reader could not read, as the run's details show it."""

    source: MetricSource
    text: str


@dataclass(slots=True)
class _Kept:
    """A reader kept in this process, valid while the stored version is still `version`."""

    reader: MetricReader
    version: int
    folder: str


class _ProcessState:
    """Readers and discoveries of this process, shared by its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.readers: dict[tuple[str, str, Channel], _Kept] = {}
        self.channel_locks: dict[tuple[str, str, Channel], threading.Lock] = {}
        self.discovered: dict[tuple[str, str], tuple[float, set[Channel]]] = {}

    def channel_lock(self, key: tuple[str, str, Channel]) -> threading.Lock:
        with self.lock:
            return self.channel_locks.setdefault(key, threading.Lock())

    def forget(self, home: str, run_id: str) -> None:
        with self.lock:
            for key in [key for key in self.readers if key[:2] == (home, run_id)]:
                _close(self.readers.pop(key).reader)
            self.discovered.pop((home, run_id), None)


_state = _ProcessState()


def _close(reader: object) -> None:
    close = getattr(reader, "close", None)
    if close is not None:
        close()


@dataclass(frozen=True, slots=True)
class _RunFacts:
    resource: str
    ended: bool
    #: Ended SETTLE_SECONDS ago: what is read now is read for the last time.
    settled: bool


def _run_facts(workspace: Workspace, run_id: str) -> _RunFacts | None:
    rows = workspace.store.query("SELECT state, ended_at, resource FROM runs WHERE id=?", (run_id,))
    if not rows:
        return None
    row = rows[0]
    ended = RunState(row["state"]).is_terminal()
    return _RunFacts(row["resource"], ended, ended and time.time() - (row["ended_at"] or 0) >= SETTLE_SECONDS)


def index_run(workspace: Workspace, run_id: str) -> int:
    """Index the run's new points from every source; returns the number of points added."""
    store = workspace.store
    rows = store.query("SELECT done, sources_done FROM metric_index WHERE run_id=?", (run_id,))
    if rows and rows[0]["done"] and rows[0]["sources_done"]:
        return 0
    # The run's state is read before any file: a run seen as settled has written everything read next.
    facts = _run_facts(workspace, run_id)
    if facts is None:
        return 0
    added = 0
    if not (rows and rows[0]["done"]):
        added += _index_log(workspace, run_id, facts.settled)
    if not (rows and rows[0]["sources_done"]):
        added += _index_channels(workspace, run_id, facts)
    return added


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
            f"SELECT run_id FROM metric_index WHERE done=1 AND sources_done=1 AND run_id IN ({marks})", tuple(part)))
    return [run_id for run_id in run_ids if run_id not in done]


# -- @metrics lines -------------------------------------------------------------------------------------
def _index_log(workspace: Workspace, run_id: str, settled: bool) -> int:
    store = workspace.store
    added = 0
    path = workspace.run_dir(run_id) / "output.log"
    while True:
        rows = store.query("SELECT offset, next_step, skipping, done FROM metric_index WHERE run_id=?", (run_id,))
        if rows and rows[0]["done"]:
            return added
        offset, next_step, skipping = (rows[0]["offset"], rows[0]["next_step"], bool(rows[0]["skipping"])) \
            if rows else (0, 0, False)
        try:
            with open(path, "rb") as log:
                log.seek(offset)
                chunk = log.read(markers.CHUNK_BYTES)
        except FileNotFoundError:
            chunk = b""
        if not chunk and not settled:
            return added
        at_end = len(chunk) < markers.CHUNK_BYTES
        state = markers.MarkerParse(offset, next_step, skipping)
        markers.parse_chunk(state, chunk, offset, settled and at_end)
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
                _store_points(conn, run_id, MetricSource.MARKER, state.points)
        if claimed:
            added += len(state.points)
            if at_end or state.offset == offset:
                return added
        # Another process indexed these bytes first, or there is more to read: look again.


# -- the tracking libraries' channels -------------------------------------------------------------------
@dataclass(slots=True)
class _ChannelRow:
    position: str
    version: int
    done: bool
    problems: list[str]


def _channel_rows(workspace: Workspace, run_id: str) -> dict[Channel, _ChannelRow]:
    rows = workspace.store.query("SELECT channel, position, version, done, problems FROM metric_sources "
                                 "WHERE run_id=?", (run_id,))
    return {Channel(r["channel"]): _ChannelRow(r["position"], r["version"], bool(r["done"]), json.loads(r["problems"]))
            for r in rows if r["channel"] in Channel.__members__.values()}


def _index_channels(workspace: Workspace, run_id: str, facts: _RunFacts) -> int:
    home = str(workspace.home)
    places = RunPlaces.of(workspace.run_dir(run_id), facts.resource)
    known = _channel_rows(workspace, run_id)
    # An ended run is looked at afresh: files written last (event files flushed at exit) are found at once.
    channels = set(known) | _discover(home, run_id, places, force=facts.ended)
    added = 0
    for channel in sorted(channels):
        row = known.get(channel)
        if row is not None and row.done:
            continue
        added += _index_channel(workspace, run_id, channel, places, row, facts.settled)
    if facts.settled:
        rows = _channel_rows(workspace, run_id)
        if all(row.done for row in rows.values()):
            with workspace.store.transaction() as conn:
                conn.execute("INSERT OR IGNORE INTO metric_index (run_id) VALUES (?)", (run_id,))
                conn.execute("UPDATE metric_index SET sources_done=1 WHERE run_id=?", (run_id,))
            _state.forget(home, run_id)
    return added


def _discover(home: str, run_id: str, places: RunPlaces, force: bool) -> set[Channel]:
    now = time.monotonic()
    with _state.lock:
        seen = _state.discovered.get((home, run_id))
    if seen is not None and not force and now - seen[0] < DISCOVERY_SECONDS:
        return seen[1]
    found = present(places)
    with _state.lock:
        _state.discovered[(home, run_id)] = (now, found)
    return found


def _index_channel(workspace: Workspace, run_id: str, channel: Channel, places: RunPlaces,
                   row: _ChannelRow | None, settled: bool) -> int:
    key = (str(workspace.home), run_id, channel)
    with _state.channel_lock(key):
        position, version = (row.position, row.version) if row is not None else ("", 0)
        problems = list(row.problems) if row is not None else []
        told: list[str] = []
        reader, result = _read(key, channel, places, position, version, settled)
        if reader is None and channel is Channel.MLFLOW:
            said = tie_problem(places)  # why no MLflow run was tied; its owner noted it in the log already
            if said and said not in problems:
                problems.append(said)
        new_position = reader.position.to_json() if reader is not None else position
        if result.problem and result.problem not in problems:
            problems.append(result.problem)
            told.append(result.problem)
        changed = (row is None or result.points or new_position != position or settled
                   or problems != (row.problems if row else []))
        if not changed:
            return 0
        with workspace.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO metric_sources (run_id, channel) VALUES (?, ?)", (run_id, channel))
            claimed = conn.execute(
                "UPDATE metric_sources SET position=?, version=version+1, done=?, problems=? "
                "WHERE run_id=? AND channel=? AND version=? AND done=0",
                (new_position, int(settled), json.dumps(problems), run_id, channel, version)).rowcount
            if claimed and result.points:
                _store_points(conn, run_id, channel.source, result.points)
        if not claimed:  # another process read the same: its points count, this reader is behind or ahead
            _drop(key)
            return 0
        if reader is not None:
            with _state.lock:
                kept = _state.readers.get(key)
                if kept is not None and kept.reader is reader:
                    kept.version = version + 1
        for problem in told:
            _note(workspace, run_id, f"{channel.source} metrics: {problem}")
        return len(result.points)


def _read(key: tuple[str, str, Channel], channel: Channel, places: RunPlaces, position: str, version: int,
          final: bool) -> tuple[MetricReader | None, ReadResult]:
    """The channel's new points, with the reader kept in this process when it is still at `version`."""
    with _state.lock:
        kept = _state.readers.get(key)
    try:
        if kept is None or kept.version != version or (channel is Channel.TENSORBOARD_WORKDIR and
                                                        kept.folder != str(places.event_folder())):
            _drop(key)
            reader, folder = open_reader(channel, places, position)
            if reader is None:
                return None, ReadResult()
            kept = _Kept(reader, version, folder)
            with _state.lock:
                _state.readers[key] = kept
        return kept.reader, kept.reader.read(final=final)
    except LaunchError as error:  # a tracking library that is not installed, a position that is not valid
        _drop(key)
        return None, ReadResult(problem=str(error))
    except Exception as error:  # noqa: BLE001 - a library's own failure on odd files: said, never raised
        _drop(key)
        return None, ReadResult(problem=f"{channel} reader failed: {type(error).__name__}: {error}"[:300])


def _drop(key: tuple[str, str, Channel]) -> None:
    with _state.lock:
        kept = _state.readers.pop(key, None)
    if kept is not None:
        _close(kept.reader)


def _note(workspace: Workspace, run_id: str, text: str) -> None:
    from launcher.runners.ownership import RunFolder

    try:
        RunFolder(workspace.run_dir(run_id)).note(text)
    except OSError:
        pass  # the problem is kept with the channel all the same


# -- storing points ---------------------------------------------------------------------------------------
def _store_points(conn: sqlite3.Connection, run_id: str, source: MetricSource,
                  points: Sequence[MetricPoint | tuple[str, int, float, float]]) -> None:
    """Points (MetricPoints, or plain tuples of their fields) into the series and the latest values, in
    one transaction the caller holds."""
    names = {point[0] for point in points}
    owners = _owners(conn, run_id, names)
    renamed = {name: f"{name} ({source})" for name, owner in owners.items() if owner != source}
    rows = [(run_id, renamed.get(name, name), step, value, at, source) for name, step, value, at in points]
    conn.executemany("INSERT INTO metrics (run_id, name, step, value, at, source) VALUES (?, ?, ?, ?, ?, ?)", rows)
    latest: dict[str, tuple] = {}
    for row in rows:
        latest[row[1]] = row
    conn.executemany(
        "INSERT INTO metrics_latest (run_id, name, step, value, at, source) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, name) DO UPDATE SET step=excluded.step, value=excluded.value, at=excluded.at",
        list(latest.values()))


def _owners(conn: sqlite3.Connection, run_id: str, names: set[str]) -> dict[str, str]:
    """Which source reported each of these names first for the run."""
    found: dict[str, str] = {}
    listed = list(names)
    for start in range(0, len(listed), 500):
        part = listed[start:start + 500]
        marks = ", ".join("?" for _ in part)
        found.update((r[0], r[1]) for r in conn.execute(
            f"SELECT name, source FROM metrics_latest WHERE run_id=? AND name IN ({marks})", (run_id, *part)))
    return found


def problems(workspace: Workspace, run_id: str) -> list[MetricProblem]:
    """What the run's sources could not read, oldest first within each source."""
    found: list[MetricProblem] = []
    for channel, row in sorted(_channel_rows(workspace, run_id).items()):
        found.extend(MetricProblem(channel.source, text) for text in row.problems)
    return found
