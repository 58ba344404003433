"""Presets: TOML files in the config directory, readable by hand, usable from the CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from launcher.errors import ConfigError
from launcher.presets import delete_preset, list_presets, load_preset, presets_dir, save_preset
from tests.tui.conftest import cli
from tests.waiting import wait_for

SETTINGS = {
    "job": "me/default/trainer:latest",
    "entry_point": ["python", "train.py", "2"],
    "name": "nightly",
    "resource": "local-process",
    "resource_args": {"local-process": {"env": {"SEED": "7"}}},
    "config": {"overrides": {"run_config": {"lr": 0.5}}},
    "run_id": None,
}


def test_saved_preset_is_readable_toml_and_loads_back(config_dir: Path) -> None:
    path = save_preset("nightly", SETTINGS)
    assert path == config_dir / "presets" / "nightly.toml"
    on_disk = tomllib.loads(path.read_text())
    assert on_disk["job"] == "me/default/trainer:latest"
    assert on_disk["config"]["overrides"]["run_config"] == {"lr": 0.5}
    assert "run_id" not in on_disk  # TOML has no null: unset settings are left out
    expected = {k: v for k, v in SETTINGS.items() if v is not None}
    assert load_preset("nightly") == expected


def test_invalid_preset_files_are_reported_and_the_others_still_load(config_dir: Path) -> None:
    save_preset("good", {"job": "trainer"})
    folder = presets_dir()
    (folder / "broken.toml").write_text("job = [unclosed\n")
    (folder / "typo.toml").write_text('jobb = "trainer"\n')
    (folder / "badtype.toml").write_text('entry_point = "python train.py"\n')
    presets, problems = list_presets()
    assert [p.name for p in presets] == ["good"]
    by_file = {p.path.name: p.problem for p in problems}
    assert set(by_file) == {"broken.toml", "typo.toml", "badtype.toml"}
    assert "not valid TOML" in by_file["broken.toml"]
    assert "'jobb'" in by_file["typo.toml"]
    assert "entry_point" in by_file["badtype.toml"]
    assert str(folder / "typo.toml") in str(problems[[p.path.name for p in problems].index("typo.toml")])
    with pytest.raises(ConfigError, match=r"typo\.toml.*'jobb'"):
        load_preset("typo")


def test_bad_names_and_missing_presets_are_one_line_errors(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match="preset name '../evil' is not valid"):
        save_preset("../evil", {"job": "x"})
    with pytest.raises(ConfigError, match="preset 'nope' does not exist"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="unknown preset key 'colour'"):
        save_preset("x", {"colour": "blue"})
    assert not (config_dir / "presets" / "x.toml").exists()  # an invalid preset is never written
    save_preset("gone", {"job": "x"})
    delete_preset("gone")
    assert list_presets() == ([], [])
    with pytest.raises(ConfigError, match="preset 'gone' does not exist"):
        delete_preset("gone")


def test_cli_launches_a_preset_and_flags_win(workspace, code_job, config_dir: Path) -> None:
    save_preset("twice", {"job": "trainer", "entry_point": ["python", "train.py", "2"], "name": "from-preset",
                          "config": {"overrides": {"run_config": {"lr": 0.25}}}})
    result = cli("launch", "--preset", "twice", "--run-id", "viapreset")
    assert result.returncode == 0, result.stderr
    assert "step 1 lr=0.25" in result.stdout
    run = workspace.run("viapreset")
    assert run.record.name == "from-preset"
    assert run.spec.argv == ("python", "train.py", "2")
    result = cli("launch", "--preset", "twice", "--name", "overridden", "--run-id", "flagwins", "--async")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: workspace.run("flagwins").get_status().done, what="the second run to end")
    assert workspace.run("flagwins").record.name == "overridden"


def test_cli_config_given_with_a_preset_is_merged_into_the_presets(workspace, code_job, config_dir: Path) -> None:
    save_preset("tuned", {"job": "trainer", "config": {"overrides": {"run_config": {"lr": 0.25, "batch": 8}}}})
    result = cli("launch", "--preset", "tuned", "--run-id", "merged", "-c", '{"overrides": {"run_config": {"lr": 0.5}}}')
    assert result.returncode == 0, result.stderr
    assert workspace.run("merged").spec.run_config == {"lr": 0.5, "batch": 8}


def test_cli_reports_a_missing_or_broken_preset(workspace, config_dir: Path) -> None:
    result = cli("launch", "--preset", "missing")
    assert result.returncode == 2
    assert "preset 'missing' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    presets_dir().mkdir(parents=True)
    (presets_dir() / "broken.toml").write_text("resource = 3\n")
    result = cli("launch", "--preset", "broken")
    assert result.returncode == 2
    assert "broken.toml" in result.stderr and "resource" in result.stderr
    assert workspace.runs() == []
