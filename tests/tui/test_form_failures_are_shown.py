"""Failures while launching from the form are shown, never lost in a worker: an engine error as its one line,
anything else named as unexpected; a preset that cannot be saved; a run recorded and then refused by its
resource closes the form and is shown; a run whose start fails after the launch returned is announced."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Select

from launcher.errors import ConfigError
from launcher.states import RunState
from tests.tui.conftest import drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_form_prefill import launch_and_close
from tui.app import LauncherApp
from tui.engine_calls import error_text
from tui.screens.dialogs import TextPromptScreen
from tui.screens.main import MainScreen


def test_unexpected_worker_errors_are_named():
    assert error_text(ConfigError("bad value")) == "bad value"
    assert error_text(PermissionError(13, "Permission denied")) == \
        "unexpected error: PermissionError: [Errno 13] Permission denied"


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


def test_a_run_that_fails_to_start_closes_the_form_and_is_shown(workspace, tmp_path: Path, monkeypatch) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        container = next(r for r in form.resources if r.name == "local-container")
        if not container.available:
            pytest.skip(f"no Docker engine: {container.reason}")
        form.query_one("#resource", Select).value = "local-container"
        await type_into(pilot, form, "#docker_image", "launcher-base:bookworm")
        await type_into(pilot, form, "#command", "true")
        # The engine goes away between the form's check of the resources and the run's start.
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")
        runs = workspace.runs()
        assert [r.state for r in runs] == [RunState.START_FAILED]
        await until(pilot, lambda: app.screen.table.selected_run_id == runs[0].id, what="the run to be selected")
        assert any(n.message.startswith(f"run {runs[0].id} failed to start: ") for n in app._notifications)

    drive(app, scenario)


def test_a_run_that_fails_to_start_after_the_launch_returned_is_announced_as_such(workspace, code_job) -> None:
    # ./train.py is not executable: the run's supervisor fails the start a moment after the launch returned
    # (as an image build does on local-container), which the app notices in the run's record.
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, "#command", "./train.py")
        await type_into(pilot, form, "#run_id", "nostart")
        await launch_and_close(pilot, form)
        await until(pilot, lambda: app.screen.table.selected_run_id == "nostart", what="the run to be selected")

        def told() -> list:
            return [(n.message, n.severity) for n in app._notifications if "failed to start" in n.message]

        await until(pilot, told, what="the failed start to be announced")
        assert told() == [("run nostart failed to start: could not start './train.py': Permission denied", "error")]

    drive(app, scenario)
    assert workspace.run("nostart").state is RunState.START_FAILED
