"""Bad input found by the UX review: workspace settings, config and sweep files that are not UTF-8 or are
folders, sweep values that cannot fit the job's schema, sweeps whose trials all failed, presets that
cannot be saved, and what `images prune` covers. Each is a one-line error and stores nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launcher import Api
from launcher.agent import Agent
from launcher.errors import LaunchError, SpecError
from launcher.presets import PresetError, save_preset
from launcher.sweeps import SweepError, create_sweep, get_sweep
from tests.engine.test_bad_input import workspace_fingerprint
from tests.waiting import wait_for

MLPROJECT = ("entry_points:\n  main:\n    parameters:\n      batch: {type: int, default: 8}\n"
             "      lr: {type: float, default: 0.1}\n      tag: {type: string, default: a}\n"
             "    command: python train.py {batch} {lr}\n")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("launcher: error: "), result.stderr
    return lines[0]


# -- settings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "message"), [
    ("default_project", "bad project/..", "setting default_project 'bad project/..' is not valid; expected a name"),
    ("default_entity", "-x", "setting default_entity '-x' is not valid"),
    ("base_image", "no spaces allowed", "setting base_image 'no spaces allowed' is not a valid image reference"),
    ("ray_address", "notaurl", "setting ray_address 'notaurl' is not a Ray dashboard address; expected one such as"),
    ("ray_address", "ray://head:10001", "setting ray_address 'ray://head:10001' is not a Ray dashboard address"),
    ("ray_address", "http://head:notaport", "setting ray_address 'http://head:notaport' is not a Ray dashboard"),
    ("ray_address", "http://[::1:8265", "setting ray_address 'http://[::1:8265' is not a Ray dashboard address"),
    ("colour", "blue", "setting 'colour' is not known; expected one of: default_entity, default_project, "
                       "base_image, ray_address"),
])
def test_bad_settings_are_refused_and_nothing_is_stored(api, key, value, message):
    api.set_setting("default_project", "kept")
    before = workspace_fingerprint(api)
    with pytest.raises(SpecError) as raised:
        api.set_setting(key, value)
    assert str(raised.value).startswith(message), str(raised.value)
    assert workspace_fingerprint(api) == before
    assert api.get_setting("default_project") == "kept"


def test_good_settings_are_stored_and_used(api, home):
    for key, value in (("default_project", "team-a"), ("default_entity", "me"), ("base_image", "python:3.11-slim"),
                       ("ray_address", "127.0.0.1:8265"), ("ray_address", "https://ray.example.com")):
        api.set_setting(key, value)
        assert api.get_setting(key) == value
    assert api.default_project == "team-a"
    api.set_setting("ray_address", None)
    assert api.get_setting("ray_address") is None
    with Api(home) as again:
        assert (again.default_project, again.default_entity) == ("team-a", "me")


def test_settings_cli_refuses_bad_values_in_one_line(home):
    Api(home).close()
    error = one_line_error(cli("settings", "default_project", "bad project/.."))
    assert "'bad project/..' is not valid" in error
    assert "'notaurl'" in one_line_error(cli("settings", "ray_address", "notaurl"))
    assert cli("settings", "default_project").stdout.strip() == "-"
    assert cli("settings", "default_project", "good").returncode == 0
    assert cli("settings", "default_project").stdout.strip() == "good"
    assert cli("settings", "default_project", "").returncode == 0  # '' clears it
    assert cli("settings", "default_project").stdout.strip() == "-"


# -- files that are not UTF-8 text, or are folders -----------------------------------------------------
def test_config_file_not_utf8_or_a_folder_is_one_line(api, tmp_path):
    binary = tmp_path / "config.toml"
    binary.write_bytes(b"\xff\xfe\x00lr = 1\n")
    before = workspace_fingerprint(api)
    error = one_line_error(cli("launch", "-c", str(binary), "--", "true"))
    assert f"config file '{binary}' is not UTF-8 text (byte 0xff at offset 0)" in error
    error = one_line_error(cli("launch", "-c", str(tmp_path), "--", "true"))
    assert f"config file '{tmp_path}' is a directory" in error
    assert workspace_fingerprint(api) == before


def test_sweep_file_not_utf8_or_a_folder_is_one_line(api, tmp_path):
    binary = tmp_path / "sweep.toml"
    binary.write_bytes(b'job = "x"\n\xc3\x28\n')
    with pytest.raises(SweepError, match="is not UTF-8 text"):
        create_sweep(api.workspace, binary)
    error = one_line_error(cli("sweep", "create", str(binary)))
    assert f"sweep file '{binary}' is not UTF-8 text (byte 0xc3 at offset 10)" in error
    assert "is a directory" in one_line_error(cli("sweep", "create", str(tmp_path)))


# -- sweeps against the job's schema ------------------------------------------------------------------
@pytest.fixture
def typed_job(api, make_code_dir) -> str:
    api.create_job("code", str(make_code_dir({"train.py": "print(1)", "MLproject": MLPROJECT})), name="typed")
    return "typed"


@pytest.mark.parametrize(("parameters", "method", "fragments"), [
    ({"batch": [16, "x"]}, "grid", ["trial 2 ({\"batch\": \"x\"}) does not fit job ", "/typed:v0: config value "
                                   "batch='x' does not match the schema: expected an integer"]),
    ({"batch": {"distribution": "uniform", "min": 1, "max": 9}}, "random",
     ["parameter 'batch': distribution 'uniform' draws fractional numbers, but job ", " takes an integer; "
      "expected int_uniform"]),
    ({"tag": {"distribution": "log_uniform", "min": 1, "max": 9}}, "random",
     ["parameter 'tag': distribution 'log_uniform' draws numbers, but job ", " takes a string"]),
    ({"epochs": [1, 2]}, "grid", ["unknown config key 'epochs'; the job's parameters are: batch, lr, tag"]),
])
def test_sweep_values_that_cannot_fit_the_job_are_refused(api, typed_job, parameters, method, fragments):
    before = workspace_fingerprint(api)
    with pytest.raises(SweepError) as raised:
        create_sweep(api.workspace, {"job": typed_job, "method": method, "run_cap": 4, "parameters": parameters})
    for fragment in fragments:
        assert fragment in str(raised.value), str(raised.value)
    assert workspace_fingerprint(api) == before


def test_sweep_values_that_fit_are_queued(api, typed_job):
    sweep = create_sweep(api.workspace, {"job": typed_job, "method": "random", "run_cap": 3, "seed": 1, "parameters": {
        "batch": {"distribution": "int_uniform", "min": 1, "max": 9},
        "lr": {"distribution": "uniform", "min": 1, "max": 2}, "tag": ["a", "b"]}})
    assert sweep.trials == 3
    text = create_sweep(api.workspace, {"job": typed_job, "parameters": {"batch": ["16"]}})  # text that spells an int
    assert text.trials == 1


def test_a_command_entry_point_takes_any_config(api, typed_job):
    sweep = create_sweep(api.workspace, {"job": typed_job, "entry_point": ["python", "train.py"],
                               "parameters": {"anything": ["x"]}})
    assert sweep.trials == 1


def test_sweep_whose_trials_all_failed_reads_as_failed(api, make_code_dir):
    exit_with = "import json, os, sys\nsys.exit(json.loads(os.environ['LAUNCHER_CONFIG'])['code'])\n"
    api.create_job("code", str(make_code_dir({"exit.py": exit_with})), name="exits",
                   entry_point=["python", "exit.py"])
    failing = create_sweep(api.workspace, {"job": "exits", "parameters": {"code": [3, 4]}})
    mixed = create_sweep(api.workspace, {"job": "exits", "parameters": {"code": [3, 0]}})
    agent = Agent(api.workspace, ["default"], 2, poll_seconds=0.1)
    agent.start()
    try:
        wait_for(lambda: get_sweep(api.workspace, failing.id).state != "running"
                 and get_sweep(api.workspace, mixed.id).state != "running", timeout=60, what="both sweeps to end")
    finally:
        agent.stop("stop")
        assert agent.join(60)
    done = get_sweep(api.workspace, failing.id)
    assert (done.state, done.counts["failed"], done.counts["finished"]) == ("failed", 2, 0)
    partly = get_sweep(api.workspace, mixed.id)
    assert (partly.state, partly.counts["failed"], partly.counts["finished"]) == ("finished", 1, 1)
    listing = cli("sweep", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(failing.id))
    assert " failed " in row


# -- presets --------------------------------------------------------------------------------------------
def test_preset_save_into_an_unusable_folder_is_a_launch_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("LAUNCHER_CONFIG_DIR", str(blocker))
    with pytest.raises(PresetError) as raised:
        save_preset("mine", {"job": "demo"})
    assert isinstance(raised.value, LaunchError)
    assert str(raised.value).startswith(f"preset 'mine' cannot be saved to '{blocker}/presets/mine.toml': "
                                        "Not a directory")
    assert blocker.read_text() == ""


# -- images prune ------------------------------------------------------------------------------------------
def test_prune_says_it_covers_every_workspace_on_the_engine(api):
    help_text = " ".join(cli("images", "prune", "--help").stdout.split())
    assert "every launcher-built image on this Docker engine, including those built by other workspaces" in help_text
    result = cli("images", "prune", "--dry-run", "--job", "no-such-job-here")
    if result.returncode == 2 and "engine" in result.stderr.lower():
        pytest.skip(f"no Docker engine: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "would remove 0 image tags; would free 0 B (keeping 2 per job; launcher images of every workspace on "
        "this Docker engine)")



def test_config_text_too_long_for_a_file_name_is_still_text():
    from launcher.cli.config_input import load_config

    assert load_config('{"tag": "' + "x" * 300 + '"}') == {"tag": "x" * 300}


def test_a_git_version_is_checked_against_its_own_parameters(api, tmp_path):
    from tests.conftest import git

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    (repo / "MLproject").write_text(MLPROJECT)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "int batch")
    git(repo, "tag", "v1")
    (repo / "MLproject").write_text(MLPROJECT.replace("batch: {type: int, default: 8}", "batch: {type: string, default: a}"))
    git(repo, "commit", "-q", "-am", "string batch")
    api.create_job("git", str(repo), name="gitty", ref="v1")
    with pytest.raises(SweepError, match="batch='big' does not match the schema"):
        create_sweep(api.workspace, {"job": "gitty", "parameters": {"batch": ["big"]}})
    sweep = create_sweep(api.workspace, {"job": "gitty", "version": "main", "parameters": {"batch": ["big"]}})
    assert sweep.trials == 1
