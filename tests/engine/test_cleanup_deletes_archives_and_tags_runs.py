"""Cleanup: deleting ended runs with everything kept for them (never an active run), archiving them out of
listings with their queue items, collecting old runs, disk use, and tags and notes (issue 13, "Cleanup"
and "Tags and notes")."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from launcher import launch, launch_add
from launcher.errors import SpecError
from launcher.states import RunState
from tests.waiting import wait_for


def cli(home, *args):
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, LAUNCHER_HOME=str(home)), timeout=60)


def quick(api, text="done"):
    return launch(api, entry_point=["python", "-c", f"print({text!r})"])


def test_delete_removes_an_ended_run_and_refuses_an_active_one(api, tmp_path):
    ended = quick(api)
    folder = ended.dir
    going = launch(api, entry_point=["sleep", "30"], synchronous=False)
    wait_for(lambda: going.state is RunState.RUNNING, what="the sleeper to run")
    preview = api.runs.delete([ended.id, going.id], dry_run=True)
    assert preview.done == (ended.id,) and preview.freed > 0 and folder.exists()
    report = api.runs.delete([ended.id, going.id])
    assert report.done == (ended.id,)
    assert [r.reason for r in report.refused] == [f"run {going.id} is running; cancel it first"]
    assert not folder.exists() and [r.id for r in api.runs()] == [going.id]
    assert api.workspace.store.query("SELECT COUNT(*) FROM run_events WHERE run_id=?", (ended.id,))[0][0] == 0
    assert going.get_status().state is RunState.RUNNING  # untouched
    going.cancel(grace_period=0)


def test_archive_hides_runs_and_their_queue_items_until_undone(api, home, make_code_dir):
    src = make_code_dir({"t.py": "print('q')\n"})
    api.create_job("code", str(src), name="q", entry_point=["python", "t.py"])
    item = launch_add(api, job="q")
    agent = api.queues.agent(["default"], 1, poll_seconds=0.1)
    agent.start()
    try:
        item.wait_until_finished(timeout=60)
    finally:
        agent.stop()
        assert agent.join(60)
    run_id = item.run_id
    assert api.runs.archive([run_id]).done == (run_id,)
    assert api.runs() == [] and [r.id for r in api.runs(include_archived=True)] == [run_id]
    assert api.queue_items() == []
    assert run_id not in cli(home, "runs").stdout and run_id in cli(home, "runs", "--archived").stdout
    api.runs.archive([run_id], archived=False)
    assert [r.id for r in api.runs()] == [run_id] and [i.id for i in api.queue_items()] == [item.id]


def test_gc_deletes_old_ended_runs_and_can_keep_failed_ones(api, home):
    old_ok, old_bad = quick(api), launch(api, entry_point=["python", "-c", "raise SystemExit(2)"], synchronous=False)
    old_bad.wait(timeout=60)
    long_ago = time.time() - 40 * 86400
    for run in (old_ok, old_bad):
        api.workspace.store.execute("UPDATE runs SET ended_at=? WHERE id=?", (long_ago, run.id))
    recent = quick(api)
    result = cli(home, "gc", "--older-than", "30d", "--keep-failed")
    assert result.returncode == 0, result.stderr
    assert f"deleted {old_ok.id}" in result.stdout
    assert {r.id for r in api.runs()} == {old_bad.id, recent.id}


def test_tags_and_notes(api, home):
    run = quick(api)
    assert api.runs.tag(run.id, add=["best", "lr-sweep"]).tags == ("best", "lr-sweep")
    assert api.runs.tag(run.id, remove=["lr-sweep"]).tags == ("best",)
    assert api.runs.note(run.id, "  the one that worked ").note == "the one that worked"
    assert "tags: best, again" in cli(home, "runs", "tag", run.id[:6], "again").stdout
    for bad in ("two words", "", "a:b", "x" * 65):
        with pytest.raises(SpecError, match="tag .* is not valid; expected a word"):
            api.runs.tag(run.id, add=[bad])
    assert api.run(run.id).record.tags == ("best", "again")


def test_disk_use_per_run_and_in_total(api, home):
    small = quick(api, "x")
    big = launch(api, entry_point=["python", "-c", "print('y' * 200000)"])
    usage = api.runs.disk_usage()
    assert usage[big.id] > usage[small.id] + 150_000
    result = cli(home, "runs", "du")
    assert result.returncode == 0 and result.stdout.splitlines()[1].startswith(big.id)
    assert result.stdout.strip().splitlines()[-1].startswith("total ")


def test_bad_cleanup_input_is_one_line(api, home):
    quick(api)
    for args, message in ((["runs", "rm", "nosuchrun"], "run 'nosuchrun' does not exist"),
                          (["gc", "--older-than", "soon"], "age 'soon' is not valid"),
                          (["runs", "tag", "nosuch", "t"], "run 'nosuch' does not exist")):
        result = cli(home, *args)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1
