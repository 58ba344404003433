"""A damaged workspace database is named in one line with what to do; an empty or foreign file is refused
rather than opened as a new, empty workspace; `launcher doctor` says what is wrong and `--rebuild` lists
the runs again from their folders (issue 10, finding 9)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launcher import Api, launch
from launcher.errors import StoreError
from launcher.states import RunState


def cli(home, *args):
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def workspace_with_runs(tmp_path):
    home = tmp_path / "workspace"
    with Api(home) as api:
        finished = launch(api, entry_point=["python", "-c", "print('kept')"])
        failed = launch(api, entry_point=["python", "-c", "raise SystemExit(3)"], synchronous=False)
        failed.wait(timeout=60)
        api.create_job("image", "launcher-base:bookworm", name="img")
    return home, finished.id, failed.id


def damage_the_middle(path) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(4096))


@pytest.mark.parametrize("how, expected", [
    ("empty", "is empty (0 bytes); restore it from a backup, or run 'launcher doctor --rebuild'"),
    ("garbage", "is not a launcher database (not an SQLite file)"),
    ("truncated", "is damaged"),
    ("middle", "is damaged"),
])
def test_a_damaged_database_is_one_line_with_its_path_and_what_to_do(workspace_with_runs, how, expected):
    home, _, _ = workspace_with_runs
    db = home / "launcher.db"
    for suffix in ("-wal", "-shm"):
        (home / f"launcher.db{suffix}").unlink(missing_ok=True)
    if how == "empty":
        db.write_bytes(b"")
    elif how == "garbage":
        db.write_bytes(os.urandom(8192))
    elif how == "truncated":
        with open(db, "r+b") as f:
            f.truncate(os.path.getsize(db) // 2 + 100)
    else:
        damage_the_middle(db)
    before = db.read_bytes()
    with pytest.raises(StoreError) as caught:
        Api(home)
    message = str(caught.value)
    assert "\n" not in message and str(db) in message and expected in message and "launcher doctor" in message
    result = cli(home, "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(db) in result.stderr
    assert db.read_bytes() == before  # nothing was written over it


def test_doctor_names_the_damage_and_rebuild_lists_the_runs_again(workspace_with_runs):
    home, finished, failed = workspace_with_runs
    for suffix in ("-wal", "-shm"):
        (home / f"launcher.db{suffix}").unlink(missing_ok=True)
    damage_the_middle(home / "launcher.db")
    report = cli(home, "doctor")
    assert report.returncode == 1 and "PROBLEM" in report.stdout and "--rebuild" in report.stdout
    rebuilt = cli(home, "doctor", "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 run(s) listed again" in rebuilt.stdout and "not brought back" in rebuilt.stdout
    with Api(home) as api:
        runs = {r.id: r for r in api.runs()}
        assert (runs[finished].state, runs[finished].exit_code) == (RunState.FINISHED, 0)
        assert (runs[failed].state, runs[failed].exit_code) == (RunState.FAILED, 3)
        assert api.run(finished).get_logs() == "kept\n"
        assert api.list_jobs() == []  # jobs live only in the database: said, not invented
    assert cli(home, "doctor").returncode == 0
    assert any(name.startswith("launcher.db.damaged-") for name in os.listdir(home))
