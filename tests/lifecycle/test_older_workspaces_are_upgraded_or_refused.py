"""A workspace written by an older launcher is upgraded in place with nothing lost, or refused with one
line when it cannot be (runs still owned by the older launcher's processes); one written by a newer
launcher is refused. The store is never left half-migrated."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from launcher import Api
from launcher.errors import StoreError
from launcher.states import RunState
from launcher.store import MIGRATIONS

# The schema the previous launcher wrote (its migrations 1 and 2, as this launcher still carries them).
PREVIOUS_VERSION = 2


def old_workspace(home: Path, *, active: bool) -> Path:
    home.mkdir(parents=True)
    db = home / "launcher.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:PREVIOUS_VERSION]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version={PREVIOUS_VERSION}")
    now = time.time()
    spec = json.dumps({"run_id": "old1", "run_config": {"lr": 0.1}, "resource_args": {}})
    conn.execute("INSERT INTO runs (id, name, project, entity, job, resource, state, exit_code, spec, handle, "
                 "created_at, started_at, ended_at, updated_at) VALUES ('old1', 'old', 'p', 'e', '-', "
                 "'local-process', 'finished', 0, ?, '{\"supervisor_pid\": 1}', ?, ?, ?, ?)",
                 (spec, now, now, now, now))
    if active:
        conn.execute("INSERT INTO runs (id, name, project, entity, job, resource, state, spec, handle, created_at, "
                     "updated_at) VALUES ('old2', 'old', 'p', 'e', '-', 'local-process', 'running', ?, '{}', ?, ?)",
                     (spec, now, now))
    conn.execute("INSERT INTO settings (key, value) VALUES ('default_project', '\"kept\"')")
    conn.close()
    return db


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_older_workspace_is_upgraded_with_every_run_kept(tmp_path):
    home = tmp_path / "ws"
    old_workspace(home, active=False)
    with Api(home) as api:
        [run] = api.runs()
        assert (run.id, run.state, run.exit_code, run.run_config) == ("old1", RunState.FINISHED, 0, {"lr": 0.1})
        assert (run.tags, run.note, run.archived) == ((), None, False)
        assert api.default_project == "kept"
    with sqlite3.connect(home / "launcher.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_an_older_workspace_with_runs_it_still_owns_is_refused_and_left_as_it_was(tmp_path):
    home = tmp_path / "ws"
    db = old_workspace(home, active=True)
    before = digest(db)
    with pytest.raises(StoreError) as refused:
        Api(home)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (f"the workspace {home} has 1 active run(s) started by an older version of the launcher; "
                       "let them end (or cancel them with that version) before opening it with this one")
    assert digest(db) == before


def test_a_workspace_of_a_newer_launcher_is_refused(tmp_path):
    home = tmp_path / "ws"
    Api(home).close()
    with sqlite3.connect(home / "launcher.db") as conn:
        conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="was written by a newer version of the launcher"):
        Api(home)
