"""A store write lock held by another process for longer than a run's owner waits never turns a run
that succeeded into a failure, nor loses its exit code: the owner keeps the ending in the run folder and
retries, and any process that looks at the run settles it from there if the owner is gone (issue 10,
finding 8)."""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import contextmanager

from launcher import launch
from launcher.states import RunState
from tests.waiting import wait_for


@contextmanager
def write_lock(home):
    """Another process's write lock on the workspace database (readers go on: it is in WAL mode)."""
    holder = sqlite3.connect(home / "launcher.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def gated_job(api, make_code_dir, gate):
    src = make_code_dir({"main.py": f"import os, time\nprint('up', flush=True)\n"
                                    f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)\n"
                                    "print('done', flush=True)\n"})
    api.create_job("code", str(src), name="gated", entry_point=["python", "main.py"])


def test_an_ending_waits_out_a_long_lock_and_is_recorded(api, make_code_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LAUNCHER_STORE_TIMEOUT", "0.5")  # the owner's patience with a locked store
    gate = tmp_path / "gate"
    gated_job(api, make_code_dir, gate)
    run = launch(api, job="gated", synchronous=False)
    wait_for(lambda: "up" in run.get_logs() and run.state is RunState.RUNNING, what="the run to be running")
    with write_lock(api.home):
        gate.touch()
        # The owner's store write waits 0.5 s and fails: it says so, keeps the ending and retries.
        wait_for(lambda: any("recording it is retried" in line.text for line in run.log_lines()), timeout=30,
                 what="the owner to find the store locked")
        assert run.folder.read_ending() is not None
        assert api.workspace.store.run_state(run.id) is RunState.RUNNING
        assert run.folder.owner_alive()
    assert run.wait(timeout=60)
    assert (run.get_status().state, run.get_status().exit_code) == (RunState.FINISHED, 0)


def test_an_ending_left_in_the_folder_by_a_dead_owner_is_settled_by_a_reader(api, make_code_dir, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("LAUNCHER_STORE_TIMEOUT", "0.5")
    gate = tmp_path / "gate"
    gated_job(api, make_code_dir, gate)
    run = launch(api, job="gated", synchronous=False)
    wait_for(lambda: "up" in run.get_logs() and run.state is RunState.RUNNING, what="the run to be running")
    with write_lock(api.home):
        owner = run.folder.owner_pid()
        gate.touch()
        wait_for(lambda: run.folder.read_ending() is not None, timeout=30, what="the owner to keep its ending")
        os.kill(owner, signal.SIGKILL)  # gone before it could tell the store
        run._owner.process.wait(10)
    status = run.get_status()  # a reader finds the run active, its owner gone and its ending in the folder
    assert (status.state, status.exit_code) == (RunState.FINISHED, 0)
    assert [line.text for line in run.log_lines() if line.stream == "stdout"] == ["up", "done"]
