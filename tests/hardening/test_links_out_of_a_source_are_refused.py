"""Issue 10, finding 10 and "One source policy": a link that leads out of a job's source (an absolute
target, `..` above the root, or links that each stay inside but together leave) is refused when the job is
made, with one line naming it, and nothing is stored. Git sources follow the same policy: when the job is
made, when a launch names another commit, and when the run's owner checks out a commit recorded before
the policy existed (that used to fail every launch with `internal error: AbsoluteLinkError`)."""

from __future__ import annotations

import os

import pytest

from launcher import launch
from launcher.errors import SourceError
from launcher.states import RunState
from tests.hardening.conftest import SECRET, cli, commit, make_repo, store_old_git_job
from tests.waiting import wait_for


def links_out(root, secret, how: str) -> None:
    """One link named `leak` that leads to the host's secret file, written as `how` says."""
    if how == "absolute":
        os.symlink(secret, root / "leak")
    elif how == "dotdot":
        os.symlink(os.path.relpath(secret, root), root / "leak")
    elif how == "chain":  # sub/up -> .. stays inside; leak -> sub/up/../<secret> leaves through it
        (root / "sub").mkdir()
        os.symlink("..", root / "sub" / "up")
        os.symlink("sub/up/" + os.path.relpath(secret, root), root / "leak")
    elif how == "absolute at the end of a chain":
        os.symlink("hop", root / "leak")
        os.symlink(str(secret), root / "hop")
    else:
        raise AssertionError(how)


HOW = ["absolute", "dotdot", "chain", "absolute at the end of a chain"]


@pytest.mark.parametrize("how", HOW)
def test_code_source_with_a_link_out_is_refused_in_one_line_and_nothing_is_stored(api, make_code_dir,
                                                                                   host_secret, how):
    src = make_code_dir({"train.py": "print(1)\n"})
    links_out(src, host_secret, how)
    with pytest.raises(SourceError) as raised:
        api.create_job("code", str(src), entry_point=["python", "train.py"])
    message = str(raised.value)
    assert "'leak'" in message or "'hop'" in message, message
    assert "points outside the source" in message and "\n" not in message
    assert api.list_jobs() == []
    snapshots = api.workspace.snapshots_dir
    assert not snapshots.exists() or not any(snapshots.iterdir())


def test_cli_names_the_link_on_one_line_and_exits_2(home, make_code_dir, host_secret):
    src = make_code_dir({"train.py": "print(1)\n"})
    links_out(src, host_secret, "absolute")
    result = cli(home, "job", "create", "code", str(src), "-e", "python train.py")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "the link 'leak' points outside the source" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("how", HOW)
def test_git_source_with_a_link_out_is_refused_when_the_job_is_made(api, tmp_path, host_secret, how):
    def build(work):
        (work / "train.py").write_text("print(1)\n")
        links_out(work, host_secret, how)

    repo = make_repo(tmp_path, build)
    with pytest.raises(SourceError) as raised:
        api.create_job("git", str(repo.bare), entry_point=["python", "train.py"])
    assert "points outside the source" in str(raised.value) and "\n" not in str(raised.value)
    assert api.list_jobs() == []


def test_a_launch_naming_a_commit_with_a_link_out_is_refused_before_anything_is_written(api, tmp_path, host_secret):
    repo = make_repo(tmp_path, lambda work: (work / "train.py").write_text("print(1)\n"))
    api.create_job("git", str(repo.bare), name="repo", entry_point=["python", "train.py"])
    commit(repo, lambda work: os.symlink(host_secret, work / "leak"), "bad")
    with pytest.raises(SourceError, match="the link 'leak' points outside the source"):
        launch(api, job="repo", version="bad")
    assert api.runs() == []
    assert not api.workspace.runs_dir.exists() or not any(api.workspace.runs_dir.iterdir())


def test_a_git_job_recorded_before_the_policy_ends_start_failed_with_one_line(api, tmp_path, host_secret):
    repo = make_repo(tmp_path, lambda work: (work / "train.py").write_text("print('the program ran')\n"))
    good = api.create_job("git", str(repo.bare), name="old", entry_point=["python", "train.py"])
    bad = commit(repo, lambda work: os.symlink(host_secret, work / "leak"), "bad")
    old = store_old_git_job(api, good, bad)
    run = launch(api, job=old.ref, synchronous=False)
    wait_for(lambda: run.record.done, timeout=60, what="the run to end")
    record = run.record
    assert record.state is RunState.START_FAILED
    assert "the link 'leak' points outside the source" in record.message
    assert "\n" not in record.message and "AbsoluteLinkError" not in record.message
    log = run.get_logs()
    assert "the program ran" not in log and SECRET.strip() not in log
    source = api.workspace.run_dir(run.id) / "src"
    assert not os.path.lexists(source / "leak")
