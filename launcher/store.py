"""The SQLite store: jobs, runs, their state transitions, settings (and the tables later features add).

One connection per Store, guarded by a lock so that thread workers may share it. WAL mode and a busy
timeout let the CLI, the TUI, agents and run supervisors write the same file at the same time."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from launcher import states

TYPE_CHECKING = False  # typing and pathlib cost run supervisors start-up time
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

# Each entry migrates the schema by one version; append, never edit, so old workspaces upgrade in order.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL, project TEXT NOT NULL, name TEXT NOT NULL,
        kind TEXT NOT NULL, created_at REAL NOT NULL,
        UNIQUE (entity, project, name));
    CREATE TABLE job_versions (
        job_id INTEGER NOT NULL REFERENCES jobs(id), version INTEGER NOT NULL,
        digest TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (job_id, version));
    CREATE TABLE job_aliases (
        job_id INTEGER NOT NULL REFERENCES jobs(id), alias TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (job_id, alias));
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, name TEXT, project TEXT, entity TEXT, job TEXT,
        resource TEXT NOT NULL, state TEXT NOT NULL, message TEXT, exit_code INTEGER,
        spec TEXT NOT NULL, handle TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL, started_at REAL, ended_at REAL, updated_at REAL NOT NULL,
        sweep_id TEXT);
    CREATE INDEX runs_by_created ON runs (created_at);
    CREATE INDEX runs_by_updated ON runs (updated_at);
    CREATE TABLE run_events (
        run_id TEXT NOT NULL REFERENCES runs(id), state TEXT NOT NULL, at REAL NOT NULL, message TEXT);
    CREATE INDEX run_events_by_run ON run_events (run_id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Queues, their items, agents, sweeps and live metrics (launcher/queue.py, agent.py, sweeps.py, metrics.py).
    """
    CREATE TABLE queues (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
    INSERT INTO queues (name, created_at) VALUES ('default', 0);
    CREATE TABLE sweeps (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, queue TEXT NOT NULL,
        config TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE queue_items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL REFERENCES queues(name), priority INTEGER NOT NULL, state TEXT NOT NULL,
        settings TEXT NOT NULL, run_id TEXT, sweep_id TEXT REFERENCES sweeps(id), message TEXT,
        agent_id TEXT, agent_pid INTEGER, agent_start TEXT,
        created_at REAL NOT NULL, claimed_at REAL, launched_at REAL, ended_at REAL, updated_at REAL NOT NULL);
    CREATE INDEX queue_items_next ON queue_items (queue, state, priority, id);
    CREATE INDEX queue_items_by_state ON queue_items (state);
    CREATE INDEX queue_items_by_sweep ON queue_items (sweep_id);
    CREATE TABLE agents (
        id TEXT PRIMARY KEY, pid INTEGER NOT NULL, process_start TEXT, queues TEXT NOT NULL,
        max_jobs INTEGER NOT NULL, state TEXT NOT NULL, started_at REAL NOT NULL, updated_at REAL NOT NULL);
    CREATE INDEX runs_by_sweep ON runs (sweep_id);
    CREATE TABLE metric_index (
        run_id TEXT PRIMARY KEY, offset INTEGER NOT NULL DEFAULT 0, next_step INTEGER NOT NULL DEFAULT 0,
        skipping INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL, name TEXT NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, at REAL NOT NULL);
    CREATE INDEX metrics_by_run ON metrics (run_id, name);
    CREATE TABLE metrics_latest (
        run_id TEXT NOT NULL, name TEXT NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (run_id, name));
    """,
]

RUN_COLUMNS = ("id", "name", "project", "entity", "job", "resource", "state", "message", "exit_code",
               "spec", "handle", "created_at", "started_at", "ended_at", "updated_at", "sweep_id")


class Store:
    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        #: How long a statement waits for another process's write lock before giving up.
        self.timeout = timeout
        self._conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # Every process opens the store (run supervisors on each launch): skip the write lock when the
        # schema is current already.
        if self._conn.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- plumbing -----------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so read-then-write sequences are atomic
        across processes (claims, version numbers, unique run ids)."""
        with self._lock, self._errors_as_launch_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock, self._errors_as_launch_errors():
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | dict = ()) -> int:
        with self._lock, self._errors_as_launch_errors():
            return self._conn.execute(sql, params).rowcount

    @contextmanager
    def _errors_as_launch_errors(self) -> Iterator[None]:
        """A database that is locked for too long or damaged is a condition the user can act on: say which
        file and what happened, in one line, instead of a traceback."""
        try:
            yield
        except sqlite3.OperationalError as error:
            from launcher.errors import StoreError

            text = str(error)
            if "locked" in text or "busy" in text:
                raise StoreError(f"the workspace database {self.path} stayed locked by another process for "
                                 f"{self.timeout:g}s; try again when it is done") from None
            raise StoreError(f"the workspace database {self.path} cannot be used: {text}") from None

    def _migrate(self) -> None:
        with self.transaction() as conn:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    # -- settings -----------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        import json

        rows = self.query("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        import json

        self.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, json.dumps(value)))

    # -- runs ---------------------------------------------------------------------------------------
    def insert_run(self, row: dict[str, Any]) -> bool:
        """Insert a new run in the starting state; False when the id is already taken."""
        import json

        now = time.time()
        values = {column: row.get(column) for column in RUN_COLUMNS}
        values.update(state=states.STARTING, created_at=now, updated_at=now)
        values["spec"] = json.dumps(row["spec"])
        values["handle"] = json.dumps(row.get("handle") or {})
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id=?", (values["id"],)).fetchone():
                return False
            placeholders = ", ".join("?" for _ in RUN_COLUMNS)
            conn.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({placeholders})",
                         tuple(values[c] for c in RUN_COLUMNS))
            conn.execute("INSERT INTO run_events (run_id, state, at, message) VALUES (?, ?, ?, NULL)",
                         (values["id"], states.STARTING, now))
        return True

    def transition(self, run_id: str, state: str, *, message: str | None = None,
                   exit_code: int | None = None) -> bool:
        """Move a run forward to `state`. Returns False (and changes nothing) when the run is not in a
        state that may precede it, which is how a terminal state is kept from ever changing."""
        allowed = states.PREDECESSORS[state]
        if not allowed:
            return False
        now = time.time()
        sets = ["state=?", "updated_at=?"]
        params: list[Any] = [state, now]
        if message is not None:
            sets.append("message=?")
            params.append(message)
        if exit_code is not None:
            sets.append("exit_code=?")
            params.append(exit_code)
        if state == states.RUNNING:
            sets.append("started_at=COALESCE(started_at, ?)")
            params.append(now)
        if states.is_terminal(state):
            sets.append("ended_at=?")
            params.append(now)
        marks = ", ".join("?" for _ in allowed)
        with self.transaction() as conn:
            changed = conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id=? AND state IN ({marks})",
                                   (*params, run_id, *allowed)).rowcount
            if changed:
                conn.execute("INSERT INTO run_events (run_id, state, at, message) VALUES (?, ?, ?, ?)",
                             (run_id, state, now, message))
        return bool(changed)

    def update_handle(self, run_id: str, **fields: str | int | float | None) -> None:
        """Merge runner-specific facts (pids, container id, submission id) into the run's handle.

        The merge happens in SQLite (json_patch), which keeps the supervisor free of the json module."""
        patch = "{" + ", ".join(f'"{key}": {_json_scalar(value)}' for key, value in fields.items()) + "}"
        self.execute("UPDATE runs SET handle=json_patch(handle, ?), updated_at=? WHERE id=?",
                     (patch, time.time(), run_id))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM runs WHERE id=?", (run_id,))
        return _run_row(rows[0]) if rows else None

    def list_runs(self, *, limit: int | None = None, active_only: bool = False,
                  updated_since: float | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        where, params = [], []
        if active_only:
            where.append(f"state IN ({', '.join('?' for _ in states.ACTIVE)})")
            params.extend(states.ACTIVE)
        if updated_since is not None:
            where.append("updated_at >= ?")
            params.append(updated_since)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_run_row(r) for r in self.query(sql, tuple(params))]

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query(
            "SELECT state, at, message FROM run_events WHERE run_id=? ORDER BY rowid", (run_id,))]


def _json_scalar(value: str | int | float | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) < 32 for c in escaped):
        import json

        return json.dumps(value)
    return f'"{escaped}"'


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    import json

    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    data["handle"] = json.loads(data["handle"] or "{}")
    return data
