"""Launch form fixes from the UX review: resource args keyed like the CLI's -R, a JSON error that says it is
JSON, Tab accepting the job suggestion, a preset that cannot be saved, and a sweep whose trials all failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from launcher.agent import Agent
from launcher.errors import ConfigError
from launcher.sweeps import create_sweep, get_sweep
from tests.tui.conftest import drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_queues import main_screen, table_column
from tests.waiting import wait_for
from tui.app import LauncherApp
from tui.form_model import FormErrors, FormValues, error_text, parse_resource_args, to_settings
from tui.screens.dialogs import TextPromptScreen
from tui.screens.main import MainScreen
from tui.screens.sweeps import SweepsScreen


def test_resource_args_keyed_or_unkeyed():
    env = {"env": {"SEED": "1"}}
    assert parse_resource_args('{"env": {"SEED": "1"}}', "local-process") == {"local-process": env}
    names = ["local-process", "local-container", "ray"]
    assert parse_resource_args('{"local-process": {"env": {"SEED": "1"}}}', "local-process", names) == \
        {"local-process": env}
    with pytest.raises(ConfigError, match="keyed by ray, but the resource is 'local-process'"):
        parse_resource_args('{"ray": {"num_cpus": 1}}', "local-process", names)


def test_resource_args_that_are_not_json_say_so():
    with pytest.raises(FormErrors) as raised:
        to_settings(FormValues(resource_args='{"env": '), {})
    message = raised.value.errors["resource_args"]
    assert message.startswith("""resource args '{"env": ' is not valid JSON: Expecting value"""), message
    with pytest.raises(FormErrors) as raised:
        to_settings(FormValues(resource_args="[1, 2]"), {})
    assert "must be a JSON object" in raised.value.errors["resource_args"]


def test_unexpected_worker_errors_are_named():
    assert error_text(ConfigError("bad value")) == "bad value"
    assert error_text(PermissionError(13, "Permission denied")) == \
        "unexpected error: PermissionError: [Errno 13] Permission denied"


def test_form_launches_with_cli_style_keyed_resource_args(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, "#resource_args", '{"env": ')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "resource_args" in form.errors, what="the JSON error")
        assert "is not valid JSON" in form.errors["resource_args"]
        await type_into(pilot, form, "#resource_args", '{"local-process": {"env": {"SEED": "7"}}}')
        await type_into(pilot, form, "#run_id", "keyedargs")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")

    drive(app, scenario)
    assert workspace.run("keyedargs").spec.resource_args == {"env": {"SEED": "7"}}


def test_tab_accepts_the_job_suggestion_then_moves_on(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        field = form.query_one("#job", Input)
        assert field.has_focus
        await pilot.press(*"trai")
        await until(pilot, lambda: field.suggestion_shown, what="the suggestion")
        await pilot.press("tab")
        assert field.value == "trainer" and field.has_focus
        await job_known(pilot, form, "trainer")
        await pilot.press("tab")  # nothing more to complete: the next field
        await until(pilot, lambda: not field.has_focus, what="focus to move on")

    drive(app, scenario)


def test_preset_that_cannot_be_saved_is_a_notification(workspace, code_job, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LAUNCHER_CONFIG_DIR", str(blocker))
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the preset name prompt")
        await pilot.press(*"nowhere", "enter")
        expected = f"preset 'nowhere' cannot be saved to '{blocker}/presets/nowhere.toml': Not a directory"
        await until(pilot, lambda: any(n.message.startswith(expected) for n in app._notifications),
                    what="the notification")

    drive(app, scenario)


def test_a_sweep_whose_trials_all_failed_shows_failed(workspace, make_code_dir) -> None:
    workspace.create_job("code", str(make_code_dir({"fail.py": "import sys\nsys.exit(5)\n"})), name="fails",
                         entry_point=["python", "fail.py"])
    sweep = create_sweep(workspace, {"job": "fails", "name": "doomed", "parameters": {"n": [1, 2]}})
    agent = Agent(workspace, ["default"], 2, poll_seconds=0.1)
    agent.start()
    try:
        wait_for(lambda: get_sweep(workspace, sweep["id"])["counts"]["failed"] == 2, timeout=60,
                 what="both trials to fail")
    finally:
        agent.stop("stop")
        assert agent.join(60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("W")
        sweeps = await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded and app.screen)
        assert table_column(sweeps, "#sweeps", 2) == ["failed"]
        assert "doomed, failed" in str(sweeps.query_one("#trials-title").render())

    drive(app, scenario)


def test_a_run_that_fails_to_start_closes_the_form_and_is_shown(workspace, tmp_path: Path, monkeypatch) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        container = next(r for r in form.resources if r["name"] == "local-container")
        if not container["available"]:
            pytest.skip(f"no Docker engine: {container['reason']}")
        form.query_one("#resource", Select).value = "local-container"
        await type_into(pilot, form, "#docker_image", "launcher-base:bookworm")
        await type_into(pilot, form, "#command", "true")
        # The engine goes away between the form's check of the resources and the run's start.
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")
        runs = workspace.runs()
        assert [r["state"] for r in runs] == ["start_failed"]
        await until(pilot, lambda: app.screen.table.selected_run_id == runs[0]["id"], what="the run to be selected")
        assert any(n.message.startswith(f"run {runs[0]['id']} failed to start: ") for n in app._notifications)

    drive(app, scenario)
