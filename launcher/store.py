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

from launcher.states import RunState

TYPE_CHECKING = False  # typing and pathlib cost run owners start-up time
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from launcher.records import RunEvent, RunRecord

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
    # One run-owner protocol (launcher/runners/ownership.py): runs gain the `preparing` state (no schema
    # change) and tags, a note and an archived flag.
    """
    ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE runs ADD COLUMN note TEXT;
    ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    """,
    # Cleanup (launcher/cleanup.py): ended queue items are archived with their runs.
    """
    ALTER TABLE queue_items ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_by_archived ON runs (archived, created_at);
    """,
    # Metrics from every source (launcher/metrics/): each point and latest value names its source; each
    # run's tracking channels (wandb, MLflow, TensorBoard) keep a reading position, a version to claim it
    # by, and the problems their readers reported. Older runs had no tracking channels to read.
    """
    ALTER TABLE metrics ADD COLUMN source TEXT NOT NULL DEFAULT 'marker';
    ALTER TABLE metrics_latest ADD COLUMN source TEXT NOT NULL DEFAULT 'marker';
    ALTER TABLE metric_index ADD COLUMN sources_done INTEGER NOT NULL DEFAULT 0;
    UPDATE metric_index SET sources_done = done;
    CREATE TABLE metric_sources (
        run_id TEXT NOT NULL, channel TEXT NOT NULL, position TEXT NOT NULL DEFAULT '',
        version INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, problems TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (run_id, channel));
    """,
]
#: The first schema version whose runs are looked after by the owners of launcher/runners/ownership.py.
#: Runs still active in an older workspace have owners of an older launcher, which this one cannot tell
#: alive or dead: such a workspace is upgraded only once they have ended.
OWNERSHIP_SCHEMA = 3


RUN_COLUMNS = ("id", "name", "project", "entity", "job", "resource", "state", "message", "exit_code",
               "spec", "handle", "created_at", "started_at", "ended_at", "updated_at", "sweep_id")
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


#: How long a statement waits for another process's write lock before giving up; LAUNCHER_STORE_TIMEOUT
#: (seconds) changes it, e.g. for a workspace on a slow shared disk.
TIMEOUT_ENV, DEFAULT_TIMEOUT = "LAUNCHER_STORE_TIMEOUT", 30.0


def default_timeout() -> float:
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value <= 3600 else DEFAULT_TIMEOUT


class Store:
    def __init__(self, path: str | Path, timeout: float | None = None) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        #: How long a statement waits for another process's write lock before giving up.
        self.timeout = default_timeout() if timeout is None else timeout
        _check_file(self.path)
        with self._errors_as_launch_errors():
            self._conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # Every process opens the store (run owners on each launch): skip the write lock when the
            # schema is current already.
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version != len(MIGRATIONS):
            self._upgrade(version)

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
        """A database that is locked for too long, damaged or on a full disk is a condition the user can
        act on: say which file and what happened, in one line, instead of a traceback."""
        try:
            yield
        except sqlite3.OperationalError as error:
            from launcher.errors import DiskFullError, StoreError, StoreLockedError

            text = str(error)
            if "locked" in text or "busy" in text:
                raise StoreLockedError(f"the workspace database {self.path} stayed locked by another process "
                                       f"for {self.timeout:g}s; try again when it is done") from None
            if "full" in text:
                raise DiskFullError(f"no space left on device in {os.path.dirname(self.path)}: the workspace "
                                    "database cannot be written; free some space") from None
            raise StoreError(f"the workspace database {self.path} cannot be used: {text}") from None
        except sqlite3.IntegrityError as error:  # a change the schema refuses: a bug, not damage
            from launcher.errors import StoreError

            raise StoreError(f"the workspace database {self.path} refused a change ({error})") from None
        except sqlite3.DatabaseError as error:
            from launcher.errors import StoreError

            raise StoreError(f"the workspace database {self.path} is damaged ({error}); run "
                             "'launcher doctor' to check it and rebuild the run index from the run folders") from None

    def _upgrade(self, version: int) -> None:
        from launcher.errors import StoreError

        if version > len(MIGRATIONS):
            raise StoreError(f"the workspace database {self.path} was written by a newer version of the launcher "
                             f"(schema {version}, this one knows {len(MIGRATIONS)}); upgrade the launcher")
        if 0 < version < OWNERSHIP_SCHEMA:
            self._refuse_older_owned_runs()  # before anything is written, the journal mode included
        with self._errors_as_launch_errors():
            self._conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as conn:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if 0 < current < OWNERSHIP_SCHEMA:
                self._refuse_older_owned_runs()  # another process may have started one meanwhile
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    def _refuse_older_owned_runs(self) -> None:
        from launcher.errors import StoreError

        active = self.query("SELECT COUNT(*) FROM runs WHERE state IN ('starting', 'running')")[0][0]
        if active:
            raise StoreError(
                f"the workspace {os.path.dirname(self.path)} has {active} active run(s) started by an older "
                "version of the launcher; let them end (or cancel them with that version) before opening "
                "it with this one")

    # -- settings -----------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        import json

        rows = self.query("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        import json

        self.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, json.dumps(value)))

    def delete_setting(self, key: str) -> None:
        self.execute("DELETE FROM settings WHERE key=?", (key,))

    # -- runs ---------------------------------------------------------------------------------------
    def insert_run(self, *, run_id: str, name: str, project: str, entity: str, job: str, resource: str,
                   spec: dict[str, Any], sweep_id: str | None = None) -> bool:
        """Insert a new run in the starting state; False when the id is already taken."""
        import json

        now = time.time()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
                return False
            conn.execute("INSERT INTO runs (id, name, project, entity, job, resource, state, spec, handle, "
                         "created_at, updated_at, sweep_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?)",
                         (run_id, name, project, entity, job, resource, RunState.STARTING, json.dumps(spec),
                          now, now, sweep_id))
            conn.execute("INSERT INTO run_events (run_id, state, at, message) VALUES (?, ?, ?, NULL)",
                         (run_id, RunState.STARTING, now))
        return True

    def transition(self, run_id: str, state: str, *, message: str | None = None,
                   exit_code: int | None = None, clear_message: bool = False,
                   handle: dict[str, str | int | float | None] | None = None) -> bool:
        """Move a run forward to `state`. Returns False (and changes nothing) when the run is not in a
        state that may precede it, which is how a terminal state is kept from ever changing.

        `handle` fields are merged into the run's handle in the same transaction; `clear_message` drops a
        message left by an earlier state (the last set-up line once the program runs)."""
        target = RunState(state)
        allowed = target.predecessors()
        if not allowed:
            return False
        now = time.time()
        sets = ["state=?", "updated_at=?"]
        params: list[Any] = [str(target), now]
        if message is not None:
            sets.append("message=?")
            params.append(message)
        elif clear_message:
            sets.append("message=NULL")
        if exit_code is not None:
            sets.append("exit_code=?")
            params.append(exit_code)
        if handle:
            sets.append("handle=json_patch(handle, ?)")
            params.append(_json_object(handle))
        if target is RunState.RUNNING:
            sets.append("started_at=COALESCE(started_at, ?)")
            params.append(now)
        if target.is_terminal():
            sets.append("ended_at=?")
            params.append(now)
        marks = ", ".join("?" for _ in allowed)
        with self.transaction() as conn:
            changed = conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id=? AND state IN ({marks})",
                                   (*params, run_id, *(str(s) for s in allowed))).rowcount
            if changed:
                conn.execute("INSERT INTO run_events (run_id, state, at, message) VALUES (?, ?, ?, ?)",
                             (run_id, str(target), now, message))
        return bool(changed)

    def set_active_message(self, run_id: str, message: str) -> bool:
        """Show `message` on a run that is still active (its last set-up line); never on an ended run."""
        return bool(self.execute("UPDATE runs SET message=?, updated_at=? WHERE id=? AND state IN (?, ?, ?)",
                                 (message, time.time(), run_id, *(str(s) for s in RunState.active()))))

    def update_handle(self, run_id: str, **fields: str | int | float | None) -> None:
        """Merge runner-specific facts (pids, container id, cluster address) into the run's handle.

        The merge happens in SQLite (json_patch), which keeps run owners free of the json module."""
        self.execute("UPDATE runs SET handle=json_patch(handle, ?), updated_at=? WHERE id=?",
                     (_json_object(fields), time.time(), run_id))

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self.query("SELECT * FROM runs WHERE id=?", (run_id,))
        return run_record(rows[0]) if rows else None

    def run_state(self, run_id: str) -> RunState | None:
        """Only the state (cheap: for owners and waiters)."""
        rows = self.query("SELECT state FROM runs WHERE id=?", (run_id,))
        return RunState(rows[0][0]) if rows else None

    def list_runs(self, *, limit: int | None = None, active_only: bool = False,
                  updated_since: float | None = None, include_archived: bool = True) -> list[RunRecord]:
        sql = "SELECT * FROM runs"
        where: list[str] = []
        params: list[Any] = []
        if active_only:
            active = RunState.active()
            where.append(f"state IN ({', '.join('?' for _ in active)})")
            params.extend(str(s) for s in active)
        if updated_since is not None:
            where.append("updated_at >= ?")
            params.append(updated_since)
        if not include_archived:
            where.append("archived = 0")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [run_record(r) for r in self.query(sql, tuple(params))]

    def set_run_fields(self, run_id: str, **fields: str | int | None) -> bool:
        """Change a run's tags (a JSON list), note or archived flag (never its state: see transition)."""
        allowed = {"tags", "note", "archived"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"only {sorted(allowed)} can be set this way, not {sorted(set(fields) - allowed)}")
        sets = ", ".join(f"{name}=?" for name in fields)
        return bool(self.execute(f"UPDATE runs SET {sets}, updated_at=? WHERE id=?",
                                 (*fields.values(), time.time(), run_id)))

    def delete_run(self, run_id: str) -> bool:
        """Forget an ended run: its record, events, metrics and its ended queue items (one transaction; an
        active run is never deleted)."""
        active = tuple(str(s) for s in RunState.active())
        with self.transaction() as conn:
            ended = conn.execute(f"SELECT 1 FROM runs WHERE id=? AND state NOT IN ({', '.join('?' for _ in active)})",
                                 (run_id, *active)).fetchone()
            if not ended:
                return False
            for table in ("run_events", "metrics", "metrics_latest", "metric_index", "metric_sources"):
                conn.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            conn.execute("DELETE FROM queue_items WHERE run_id=? AND state IN ('finished', 'failed', 'cancelled')",
                         (run_id,))
            conn.execute("DELETE FROM runs WHERE id=?", (run_id,))
        return True

    def run_events(self, run_id: str) -> list[RunEvent]:
        from launcher.records import RunEvent

        return [RunEvent(RunState(r["state"]), r["at"], r["message"]) for r in self.query(
            "SELECT state, at, message FROM run_events WHERE run_id=? ORDER BY rowid", (run_id,))]


def _check_file(path: str) -> None:
    """A workspace database that exists must be one: an empty or foreign file is refused, never treated
    as a new workspace (which would hide every run it held)."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        from launcher.errors import StoreError

        raise StoreError(f"the workspace database {path} cannot be read: {error.strerror}") from None
    if header != SQLITE_HEADER:
        from launcher.errors import StoreError

        what = "is empty (0 bytes)" if not header else "is not a launcher database (not an SQLite file)"
        raise StoreError(f"the workspace database {path} {what}; restore it from a backup, or run "
                         "'launcher doctor --rebuild' to rebuild the run index from the run folders")


def _json_object(fields: dict[str, str | int | float | None]) -> str:
    return "{" + ", ".join(f'"{key}": {_json_scalar(value)}' for key, value in fields.items()) + "}"


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


def run_record(row: sqlite3.Row) -> RunRecord:
    import json

    from launcher.records import RunRecord

    keys = row.keys()
    return RunRecord(
        id=row["id"], name=row["name"], project=row["project"], entity=row["entity"], job=row["job"],
        resource=row["resource"], state=RunState(row["state"]), message=row["message"],
        exit_code=row["exit_code"], spec=json.loads(row["spec"]), handle=json.loads(row["handle"] or "{}"),
        created_at=row["created_at"], started_at=row["started_at"], ended_at=row["ended_at"],
        updated_at=row["updated_at"], sweep_id=row["sweep_id"],
        tags=tuple(json.loads(row["tags"])) if "tags" in keys else (),
        note=row["note"] if "note" in keys else None,
        archived=bool(row["archived"]) if "archived" in keys else False)
