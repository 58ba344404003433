"""A code job launched at its latest version runs its folder as it is now: an edited folder is
snapshotted as a new version first, and the run's log and the CLI say so; a pinned version runs as
recorded; --no-refresh skips the check; a folder that is gone runs the recorded snapshot (and --refresh
refuses it). Issue 11, finding "Edited code is not picked up"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from launcher import launch
from launcher.errors import SourceError


@pytest.fixture
def code_job(api, make_code_dir):
    src = make_code_dir({"train.py": "print('first edit')\n", ".gitignore": "scratch/\n"})
    api.create_job("code", str(src), name="edited", entry_point=["python", "train.py"])
    return src


def test_an_edited_folder_runs_as_edited_and_says_so(api, code_job):
    assert launch(api, job="edited").get_logs() == "first edit\n"
    (code_job / "train.py").write_text("print('second edit')\n")
    run = launch(api, job="edited")
    assert run.get_logs() == "second edit\n"
    assert run.spec.job.endswith("edited:v1")
    expected = f"the source folder {code_job} changed since {api.job('edited:v0').ref}: snapshotted as " \
               f"{api.job('edited:v1').ref}, which this run runs"
    assert run.launch_notes == (expected,)
    assert expected in [line.text for line in run.log_lines() if line.stream == "launcher"]


def test_a_pinned_version_and_no_refresh_run_as_recorded(api, code_job):
    (code_job / "train.py").write_text("print('second edit')\n")
    assert launch(api, job="edited:v0").get_logs() == "first edit\n"
    assert launch(api, job="edited", refresh=False).get_logs() == "first edit\n"
    assert [v.version for v in api.jobs.versions("edited")] == [0]


def test_touched_or_ignored_files_make_no_new_version(api, code_job):
    os.utime(code_job / "train.py", ns=(1, 1))  # touched: same content
    (code_job / "scratch").mkdir()
    (code_job / "scratch" / "notes.txt").write_text("ignored by .gitignore")
    run = launch(api, job="edited")
    assert run.get_logs() == "first edit\n" and run.launch_notes == ()
    assert [v.version for v in api.jobs.versions("edited")] == [0]


def test_a_folder_that_is_gone_runs_the_recorded_snapshot_or_is_refused_with_refresh(api, code_job):
    shutil.rmtree(code_job)
    run = launch(api, job="edited")
    assert run.get_logs() == "first edit\n"
    assert run.launch_notes == (f"the source folder {code_job} of job {api.job('edited').ref} no longer exists; "
                                "running its recorded snapshot",)
    with pytest.raises(SourceError, match="no longer exists; launch without --refresh to run its recorded snapshot"):
        launch(api, job="edited", refresh=True)


def test_the_cli_says_which_version_it_snapshotted(api, home, code_job):
    (code_job / "train.py").write_text("print('from the cli')\n")
    result = subprocess.run([sys.executable, "-m", "launcher.cli.main", "launch", "-j", "edited"],
                            capture_output=True, text=True, env=dict(os.environ, LAUNCHER_HOME=str(home)), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "snapshotted as" in result.stderr and result.stdout == "from the cli\n"
    no_refresh = subprocess.run([sys.executable, "-m", "launcher.cli.main", "launch", "-j", "edited:v0"],
                                capture_output=True, text=True, env=dict(os.environ, LAUNCHER_HOME=str(home)),
                                timeout=60)
    assert no_refresh.stdout == "first edit\n"


def test_jobs_can_be_refreshed_listed_and_unaliased_from_the_cli(api, home, code_job):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "launcher.cli.main", "job", *args], capture_output=True,
                              text=True, env=dict(os.environ, LAUNCHER_HOME=str(home)), timeout=60)

    assert cli("refresh", "edited").stdout.strip().endswith("is up to date with its source")
    (code_job / "train.py").write_text("print('third')\n")
    assert "snapshotted as" in cli("refresh", "edited").stdout
    assert cli("alias", "edited:v0", "stable").returncode == 0
    listing = cli("versions", "edited").stdout.splitlines()
    assert listing[1].startswith("v0") and "stable" in listing[1] and listing[2].startswith("v1")
    assert "removed (it pointed at v0)" in cli("unalias", "edited", "stable").stdout
    gone = cli("unalias", "edited", "stable")
    assert gone.returncode == 2 and "has no alias 'stable'" in gone.stderr
    assert api.job("edited").version == 1
