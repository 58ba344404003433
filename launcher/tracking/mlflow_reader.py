"""The `log_metric` values of one MLflow run, read as they are logged (each read returns the new ones).

Two ways, by tracking URI:
- a SQLite store (`sqlite:///PATH`, the workspace's own store included) is read with SQL from MLflow's
  store schema: its `metrics` table (key, value, timestamp in ms, step, is_nan, run_uuid), indexed by run.
  Each read asks only for rows after the last rowid seen, so following a live run costs only what is new.
  This is the faster way by far (bench/bench_tracking.py measures both): MLflow's client has no "since"
  filter, so every read would fetch the run's whole history, one ORM entity per value, metric by metric.
  It needs no mlflow package either. SQLite gives rows of an ordinary table increasing rowids; MLflow only
  deletes metric rows with their run.
- any other store (a tracking server, another database) is read with MLflow's own client
  (`MlflowClient.get_metric_history`), remembering how many values of each metric were read.

NaN values (MLflow keeps them as is_nan) and negative steps are left out, as for every source."""

from __future__ import annotations

import json
import math
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from launcher.errors import TrackingError
from launcher.tracking.extras import require
from launcher.tracking.model import MetricPoint, MetricSource, ReadResult, usable_value

_SQLITE_PREFIX = "sqlite:///"
#: Seconds to wait for a tracking server's port before saying it cannot be reached.
CONNECT_TIMEOUT = 3.0
_NEW_ROWS = ("SELECT rowid, key, value, timestamp, step, is_nan FROM metrics "
             "WHERE run_uuid = ? AND rowid > ? ORDER BY rowid")


@dataclass(frozen=True, slots=True)
class MlflowPosition:
    """Where a reader stopped: the last metrics rowid read (SQLite stores), or the number of values read
    per metric (other stores). Resumable in another process (to_json / from_json)."""

    last_rowid: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"last_rowid": self.last_rowid, "counts": dict(self.counts)})

    @classmethod
    def from_json(cls, text: str) -> MlflowPosition:
        try:
            data = json.loads(text)
            position = cls(int(data["last_rowid"]), {str(k): int(v) for k, v in data["counts"].items()})
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise TrackingError(f"saved MLflow reading position {text[:80]!r} is not valid ({error}); "
                                f"expected the text MlflowPosition.to_json() gave") from None
        if position.last_rowid < 0 or any(count < 0 for count in position.counts.values()):
            raise TrackingError(f"saved MLflow reading position {text[:80]!r} has a negative number")
        return position


def sqlite_path(tracking_uri: str, base_dir: Path | None = None) -> Path | None:
    """The database file of a `sqlite:///PATH` tracking URI (relative paths from `base_dir`), else None."""
    if not tracking_uri.startswith(_SQLITE_PREFIX):
        return None
    path = Path(tracking_uri[len(_SQLITE_PREFIX):].split("?", 1)[0])
    return path if path.is_absolute() else Path(base_dir or Path.cwd()) / path


class MlflowReader:
    """Reads one MLflow run's metrics incrementally."""

    source = MetricSource.MLFLOW

    def __init__(self, tracking_uri: str, mlflow_run_id: str, position: MlflowPosition | None = None,
                 base_dir: Path | None = None) -> None:
        if not tracking_uri:
            raise TrackingError("MLflow tracking URI is empty; expected e.g. sqlite:////path/to/mlflow.db")
        if not mlflow_run_id or not mlflow_run_id.isalnum():
            raise TrackingError(f"MLflow run id {mlflow_run_id!r} is not valid; expected MLflow's hex id")
        self.tracking_uri = tracking_uri
        self.mlflow_run_id = mlflow_run_id
        start = position or MlflowPosition()
        self._last_rowid = start.last_rowid
        self._counts = dict(start.counts)
        self._database = sqlite_path(tracking_uri, base_dir)
        self._connection: sqlite3.Connection | None = None

    @property
    def position(self) -> MlflowPosition:
        return MlflowPosition(self._last_rowid, dict(self._counts))

    def read(self, final: bool = False) -> ReadResult:
        if self._database is not None:
            return self._read_sqlite(self._database, final)
        return self._read_with_client()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _read_sqlite(self, database: Path, final: bool) -> ReadResult:
        where = f"MLflow store {self.tracking_uri}"
        if self._connection is None:
            if not database.is_file():
                return ReadResult(problem=f"{where}: no such file; no MLflow metrics" if final else None)
            # Read-only: the reader never takes a write lock on the program's store.
            self._connection = sqlite3.connect(f"file:{quote(str(database))}?mode=ro", uri=True,
                                               timeout=10, check_same_thread=False)
        try:
            rows = self._connection.execute(_NEW_ROWS, (self.mlflow_run_id, self._last_rowid)).fetchall()
        except sqlite3.Error as error:
            self.close()
            return ReadResult(problem=f"{where}: cannot be read as an MLflow store ({error}); no new MLflow "
                                      f"metrics read")
        points: list[MetricPoint] = []
        for _rowid, key, value, timestamp, step, is_nan in rows:
            if not is_nan and step >= 0 and usable_value(value):
                points.append(MetricPoint(key, step, float(value), timestamp / 1000.0))
        if rows:
            self._last_rowid = rows[-1][0]
        return ReadResult(tuple(points))

    def _read_with_client(self) -> ReadResult:
        mlflow = require("mlflow", "mlflow")
        where = f"MLflow store {self.tracking_uri}"
        # MLflow's client retries an unreachable server for minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES):
        # a server whose port does not answer at all is said at once instead.
        unreachable = _unreachable_server(self.tracking_uri)
        if unreachable:
            return ReadResult(problem=f"{where}: {unreachable}; no new MLflow metrics read")
        try:
            client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
            names = sorted(client.get_run(self.mlflow_run_id).data.metrics)
            new: list[MetricPoint] = []
            counts = dict(self._counts)
            for name in names:
                # Logged order: MLflow returns a metric's history without promising an order.
                history = sorted(client.get_metric_history(self.mlflow_run_id, name),
                                 key=lambda metric: (metric.timestamp, metric.step))
                seen = counts.get(name, 0)
                for metric in history[seen:]:
                    value = float(metric.value)
                    if metric.step >= 0 and math.isfinite(value):
                        new.append(MetricPoint(name, int(metric.step), value, metric.timestamp / 1000.0))
                counts[name] = len(history)
        except Exception as error:  # noqa: BLE001 - any failure of a remote store is reported, not raised
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return ReadResult(problem=f"{where}: {first_line[:300]}; no new MLflow metrics read")
        self._counts = counts  # only once every metric was read, so a failed read is read again
        new.sort(key=lambda point: point.time)
        return ReadResult(tuple(new))


def _unreachable_server(tracking_uri: str) -> str | None:
    """Why an http(s) tracking server cannot be reached, or None (it can, or the URI is not a server's)."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT):
            return None
    except ValueError as error:
        return f"not a valid server address ({error})"
    except OSError as error:
        return f"cannot connect to {parts.hostname}:{parts.port or port} ({error.strerror or error})"
