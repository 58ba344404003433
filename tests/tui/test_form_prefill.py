"""A prefilled launch form (a relaunched run, a preset) keeps its entry point and values through the job's
lookups, and MLproject defaults are placeholders rather than values: only typed values are sent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from textual.widgets import Input, Select

from launcher.presets import load_preset, save_preset
from launcher.spec import merge_request
from tests.tui.conftest import MLPROJECT, TRAIN_PY, drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_queues import main_screen
from tui.app import LauncherApp
from tui.screens.dialogs import PresetPickScreen, TextPromptScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen

EVALUATE = {"config": {"overrides": {"run_config": {"split": "val"}}}, "entry_point": ["evaluate"]}


async def form_opened(pilot) -> LaunchForm:
    """The form on screen, its job looked up and what that decides shown."""
    return await until(pilot, lambda: isinstance(pilot.app.screen, LaunchForm) and pilot.app.screen.resources
                       and pilot.app.screen.job_info is not None and pilot.app.screen.job_settled
                       and pilot.app.screen, what="the form with its job resolved")


async def launch_and_close(pilot, form: LaunchForm) -> None:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="the form to close")


def the_new_run(workspace, old: set[str]):
    (new,) = [r.id for r in workspace.runs() if r.id not in old]
    return workspace.run(new)


# -- 1. a prefilled entry point and its values survive the job's lookups ---------------------------------------
def test_relaunching_a_run_of_a_named_entry_point_keeps_it_and_its_values(workspace, mlp_job) -> None:
    first = workspace.runs.submit(merge_request(job="mlp", run_id="evalrun1", **EVALUATE))
    first.wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.action_relaunch("evalrun1")
        form = await form_opened(pilot)
        assert form.query_one("#entry", Select).value == "evaluate"
        assert form.query_one("#param-split", Input).value == "val"
        assert not form.query("#param-lr")
        await launch_and_close(pilot, form)

    drive(app, scenario)
    spec = the_new_run(workspace, {"evalrun1"}).spec
    assert spec.entry_point_name == "evaluate" and spec.run_config == {"split": "val"}


def test_opening_a_preset_of_a_named_entry_point_keeps_it(workspace, mlp_job) -> None:
    save_preset("evalp", {"job": "mlp", **EVALUATE})
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.open_preset("evalp")
        form = await form_opened(pilot)
        assert form.query_one("#entry", Select).value == "evaluate"
        assert form.query_one("#param-split", Input).value == "val"
        await launch_and_close(pilot, form)

    drive(app, scenario)
    spec = the_new_run(workspace, set()).spec
    assert spec.entry_point_name == "evaluate" and spec.run_config == {"split": "val"}


def test_loading_a_preset_for_the_job_already_shown_switches_its_entry_point(workspace, mlp_job) -> None:
    save_preset("evalp", {"job": "mlp", **EVALUATE})
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"mlp")
        await job_known(pilot, form, "mlp")
        await until(pilot, lambda: form.query("#param-lr"), what="the main entry point's parameters")
        assert form.query_one("#entry", Select).value == "main"
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, PresetPickScreen), what="the preset list")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.screen is form and form.job_settled and form.query("#param-split"),
                    what="the preset's entry point")
        assert form.query_one("#entry", Select).value == "evaluate"
        assert form.query_one("#param-split", Input).value == "val"

    drive(app, scenario)


# -- 2. defaults are placeholders; only typed values are sent ------------------------------------------------
def git(root: Path, *argv: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *argv], cwd=root, check=True, env=env)


def test_a_version_without_a_parameter_launches_when_its_default_is_not_typed(workspace, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN_PY)
    # The old version's MLproject has no lr; the job is created at the newer one, which has.
    (repo / "MLproject").write_text(MLPROJECT.replace("      lr: {type: float, default: 0.1}\n", ""))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "old")
    git(repo, "tag", "old")
    (repo / "MLproject").write_text(MLPROJECT)
    git(repo, "commit", "-q", "-am", "lr")
    workspace.create_job("git", str(repo), name="gitlr")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"gitlr")
        await job_known(pilot, form, "gitlr")
        lr = await until(pilot, lambda: form.query("#param-lr") and form.query_one("#param-lr", Input))
        assert lr.value == "" and lr.placeholder == "default: 0.1"
        await type_into(pilot, form, "#version", "old")
        await type_into(pilot, form, "#run_id", "oldrun")
        await launch_and_close(pilot, form)

    drive(app, scenario)
    spec = workspace.run("oldrun").spec
    assert spec.version == "old" and spec.run_config == {"epochs": 2}  # the old version's own default


def test_a_preset_saved_from_the_form_holds_only_typed_values(workspace, git_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"gittrainer")
        await job_known(pilot, form, "gittrainer")
        await until(pilot, lambda: form.query("#param-epochs"), what="the typed parameter fields")
        await type_into(pilot, form, "#param-epochs", "5")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the preset name prompt")
        await pilot.press(*"five", "enter")
        await until(pilot, lambda: any(n.message.startswith("preset 'five' saved") for n in app._notifications),
                    what="the preset to be saved")

    drive(app, scenario)
    assert load_preset("five")["config"] == {"overrides": {"run_config": {"epochs": 5}}}


# -- 3. a run that failed to start without an exception says so ------------------------------------------------
