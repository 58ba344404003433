"""Reading the one metrics model back: a run's series, the latest values of many runs (a run table), points
since a position (following a run), and each metric's final and best values (comparing runs).

Each call indexes the runs first (refresh=True), so what it returns is as live as the sources allow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from launcher.metrics.indexer import index_run, index_runs

if TYPE_CHECKING:
    from launcher.workspace import Workspace

#: Runs per SQL statement (SQLite's limit on bound parameters is far above; this keeps statements short).
BATCH = 500


class MetricPoint(NamedTuple):
    """One point of a run's series: its step, value and time (seconds since the epoch)."""

    step: int
    value: float
    time: float


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric of one run: its last value (the final one once the run has ended), lowest and highest
    values and how many points it has."""

    last: MetricPoint
    low: float
    high: float
    count: int


def _batches(ids: list[str]) -> Iterable[tuple[list[str], str]]:
    for start in range(0, len(ids), BATCH):
        part = ids[start:start + BATCH]
        yield part, ", ".join("?" for _ in part)


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


def latest_metrics(workspace: Workspace, run_ids: Iterable[str],
                   refresh: bool = True) -> dict[str, dict[str, MetricPoint]]:
    """The last reported value of each metric of each run: {run_id: {name: point}} (runs without
    metrics are left out). Cheap for a table: runs already fully indexed cost one shared query."""
    ids = list(run_ids)
    if refresh:
        index_runs(workspace, ids)
    result: dict[str, dict[str, MetricPoint]] = {}
    for part, marks in _batches(ids):
        for row in workspace.store.query(f"SELECT run_id, name, step, value, at FROM metrics_latest "
                                         f"WHERE run_id IN ({marks}) ORDER BY name", tuple(part)):
            result.setdefault(row["run_id"], {})[row["name"]] = MetricPoint(row["step"], row["value"], row["at"])
    return result


def latest_values(workspace: Workspace, run_ids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """{run_id: {name: latest value}} without indexing first: for a table of many runs that were indexed
    already (None: every run of the workspace, in one query)."""
    result: dict[str, dict[str, float]] = {}
    if run_ids is None:
        rows = workspace.store.query("SELECT run_id, name, value FROM metrics_latest")
    else:
        rows = []
        for part, marks in _batches(list(run_ids)):
            rows.extend(workspace.store.query(f"SELECT run_id, name, value FROM metrics_latest "
                                              f"WHERE run_id IN ({marks})", tuple(part)))
    for run_id, name, value in rows:
        values = result.get(run_id)
        if values is None:
            values = result[run_id] = {}
        values[name] = value
    return result


def points_since(workspace: Workspace, run_id: str, after: int) -> tuple[list[tuple[str, MetricPoint]], int]:
    """(name, point) pairs indexed after position `after`, oldest first, and the new position."""
    index_run(workspace, run_id)
    rows = workspace.store.query("SELECT rowid, name, step, value, at FROM metrics WHERE run_id=? AND rowid > ? "
                                 "ORDER BY rowid", (run_id, after))
    points = [(row["name"], MetricPoint(row["step"], row["value"], row["at"])) for row in rows]
    return points, (rows[-1]["rowid"] if rows else after)


def summaries(workspace: Workspace, run_ids: Iterable[str],
              refresh: bool = True) -> dict[str, dict[str, MetricSummary]]:
    """Each metric's last, lowest and highest value and point count, per run (runs without metrics left out)."""
    ids = list(run_ids)
    latest = latest_metrics(workspace, ids, refresh=refresh)
    result: dict[str, dict[str, MetricSummary]] = {}
    for part, marks in _batches(ids):
        for row in workspace.store.query(f"SELECT run_id, name, MIN(value), MAX(value), COUNT(*) FROM metrics "
                                         f"WHERE run_id IN ({marks}) GROUP BY run_id, name", tuple(part)):
            run_id, name, low, high, count = tuple(row)
            last = latest.get(run_id, {}).get(name)
            if last is not None:
                result.setdefault(run_id, {})[name] = MetricSummary(last, low, high, count)
    return result
