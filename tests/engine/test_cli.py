"""The CLI as a person uses it: job commands, launch, runs, logs, status, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine.test_bad_input import cli
from tests.waiting import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_job_commands(home):
    created = cli(home, "job", "create", "code", str(EXAMPLES / "hello"), "--name", "hello", "-e", "python train.py")
    assert created.returncode == 0, created.stderr
    assert created.stdout.split()[0].endswith("/default/hello:v0")
    listing = cli(home, "job", "list", "--json")
    jobs = json.loads(listing.stdout)
    assert [j["ref"].rsplit("/", 1)[1] for j in jobs] == ["hello:v0"]
    assert jobs[0]["entry_point"] == ["python", "train.py"]
    alias = cli(home, "job", "alias", jobs[0]["ref"], "best")
    assert alias.returncode == 0 and "best -> v0" in alias.stdout
    described = json.loads(cli(home, "job", "describe", "hello:best").stdout)
    assert described["ref"] == jobs[0]["ref"] and "best" in described["aliases"]
    mlproject = cli(home, "job", "create", "code", str(EXAMPLES / "mlproject"), "--name", "ml")
    assert mlproject.returncode == 0, mlproject.stderr
    table = cli(home, "job", "list").stdout
    assert "MLproject: evaluate, main" in table


def test_launch_follow_logs_status(home):
    cli(home, "job", "create", "code", str(EXAMPLES / "hello"), "--name", "hello", "-e", "python train.py")
    result = cli(home, "launch", "-j", "hello", "-c", '{"overrides": {"run_config": {"steps": 2, "delay": 0}}}',
                 "--name", "first")
    assert result.returncode == 0, result.stderr
    assert "step 2/2" in result.stdout and '"steps": 2' in result.stdout
    run_id = result.stderr.split()[1]
    runs = json.loads(cli(home, "runs", "--json").stdout)
    assert [(r["id"], r["name"], r["state"]) for r in runs] == [(run_id, "first", "finished")]
    assert "step 1/2" in cli(home, "logs", run_id).stdout
    timestamped = cli(home, "logs", run_id[:5], "-t").stdout.splitlines()[0]
    assert timestamped[:4].isdigit() and timestamped[26] == "Z"
    status = cli(home, "status", run_id)
    assert status.returncode == 0 and "state      finished" in status.stdout
    # Text as the user wrote it, not JSON escapes.
    result = cli(home, "launch", "-j", "hello", "-c", '{"overrides": {"run_config": {"steps": 1, "note": "über 🚀"}}}')
    assert result.returncode == 0, result.stderr
    assert 'config     {"steps": 1, "note": "über 🚀"}' in cli(home, "status", result.stderr.split()[1]).stdout


def test_failed_run_gives_non_zero_exit(home):
    cli(home, "job", "create", "code", str(EXAMPLES / "fails"), "--name", "fails", "-e", "python crash.py")
    result = cli(home, "launch", "-j", "fails")
    assert result.returncode == 1
    assert "fails on purpose" in result.stderr and "failed: exit code 3" in result.stderr
    run_id = result.stderr.split()[1]
    assert cli(home, "logs", "-f", run_id).returncode == 1
    assert cli(home, "status", run_id).returncode == 1


def test_toml_config_file_and_argv_after_dashdash(home, tmp_path):
    cli(home, "job", "create", "code", str(EXAMPLES / "hello"), "--name", "hello", "-e", "python train.py")
    config = tmp_path / "launch.toml"
    config.write_text('name = "from-toml"\n[overrides.run_config]\nsteps = 1\ndelay = 0\n')
    result = cli(home, "launch", "-j", "hello", "-c", str(config), "--", "python", "train.py")
    assert result.returncode == 0, result.stderr
    assert '"steps": 1' in result.stdout
    assert json.loads(cli(home, "runs", "--json").stdout)[0]["name"] == "from-toml"


def test_async_launch_then_cancel(home):
    program = "import time\nprint('waiting', flush=True)\ntime.sleep(600)"
    result = cli(home, "launch", "--async", "--", sys.executable, "-c", program)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    wait_for(lambda: "waiting" in cli(home, "logs", run_id).stdout, what="output")
    follower = subprocess.Popen([sys.executable, "-m", "launcher.cli.main", "--home", str(home), "logs", "-f", run_id],
                                stdout=subprocess.PIPE, text=True)
    assert follower.stdout.readline() == "waiting\n"
    cancelled = cli(home, "cancel", run_id, "--grace", "1")
    assert cancelled.returncode == 0 and "stopped" in cancelled.stdout
    assert follower.wait(timeout=30) == 0  # following ends when the run ends


def test_help_is_fast_and_lists_commands():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "launcher.cli.main", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("launch", "runs", "logs", "status", "cancel", "job"):
        assert command in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    # Heavy modules stay out of --help.
    assert not imported & {"git", "docker", "textual", "ray", "yaml", "sqlite3"}


def test_settings(home):
    assert cli(home, "settings", "ray_address", "http://10.0.0.5:8265").returncode == 0
    assert cli(home, "settings", "ray_address").stdout.strip() == "http://10.0.0.5:8265"
    assert "ray_address" in cli(home, "settings").stdout
    assert cli(home, "settings", "ray_address", "").returncode == 0
    assert cli(home, "settings", "ray_address").stdout.strip() == "-"
    wrong = cli(home, "settings", "colour", "blue")
    assert wrong.returncode == 2 and "setting 'colour' is not known" in wrong.stderr


def test_a_start_that_fails_after_the_run_is_recorded_names_the_run(home, tmp_path, monkeypatch):
    # No Docker engine at DOCKER_HOST: the run is recorded, then cannot start. Not "bad input" (exit 2):
    # the CLI names the run, whose log says why, and exits as for a failed run.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    result = cli(home, "launch", "--run-id", "no-engine", "-r", "local-container", "-d", "some-image:1", "--", "true")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("run no-engine start_failed: no Docker engine answers at unix://")
    assert json.loads(cli(home, "status", "no-engine", "--json").stdout)["state"] == "start_failed"
    # The same id again is refused as bad input, and not mistaken for a run of this attempt.
    again = cli(home, "launch", "--run-id", "no-engine", "-r", "local-container", "-d", "some-image:1", "--", "true")
    assert again.returncode == 2 and "run_id 'no-engine' is already used" in again.stderr


def test_tables_line_up_names_with_wide_characters():
    from launcher.cli.output import table

    lines = table(["ID", "NAME", "STATE"], [["a1", "实验一号", "finished"], ["b2", "plain", "failed"]]).splitlines()
    # 实验一号 takes eight columns on a terminal, like "plain   ": the STATE column lines up.
    assert lines[0] == "ID  NAME      STATE"
    assert lines[1] == "a1  实验一号  finished" and lines[2] == "b2  plain     failed"
