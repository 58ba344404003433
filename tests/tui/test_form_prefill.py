"""Launch form fixes from the second UX review: a relaunched run or a preset keeps its entry point and values,
MLproject defaults are placeholders rather than values, a run that failed to start says so, the job hint
says how many jobs it leaves out and aliases complete on short names, and escape asks before discarding."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from launcher.launching import submit
from launcher.presets import load_preset, save_preset
from launcher.spec import merge_request
from tests.tui.conftest import MLPROJECT, TRAIN_PY, drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_queues import main_screen
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen, PresetPickScreen, TextPromptScreen
from tui.screens.launch_form import LaunchForm, jobs_hint
from tui.screens.main import MainScreen

EVALUATE = {"config": {"overrides": {"run_config": {"split": "val"}}}, "entry_point": ["evaluate"]}


@pytest.fixture
def mlp_job(workspace, make_code_dir):
    """A code job with an MLproject: entry points main (lr, epochs) and evaluate (split)."""
    return workspace.create_job("code", str(make_code_dir({"train.py": TRAIN_PY, "MLproject": MLPROJECT})),
                                name="mlp")


async def form_opened(pilot) -> LaunchForm:
    """The form on screen, its job looked up and what that decides shown."""
    return await until(pilot, lambda: isinstance(pilot.app.screen, LaunchForm) and pilot.app.screen.resources
                       and pilot.app.screen.job_info is not None and pilot.app.screen.job_settled
                       and pilot.app.screen, what="the form with its job resolved")


async def launch_and_close(pilot, form: LaunchForm) -> None:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="the form to close")


def the_new_run(workspace, old: set[str]):
    (new,) = [r["id"] for r in workspace.runs() if r["id"] not in old]
    return workspace.run(new)


# -- 1. a prefilled entry point and its values survive the job's lookups ---------------------------------------
def test_relaunching_a_run_of_a_named_entry_point_keeps_it_and_its_values(workspace, mlp_job) -> None:
    first = submit(workspace, merge_request(job="mlp", run_id="evalrun1", **EVALUATE))
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
    assert workspace.run("nostart").state == "start_failed"


# -- 4. the job hint and alias completion -----------------------------------------------------------------
def test_the_job_hint_says_how_many_jobs_it_leaves_out(workspace, make_code_dir) -> None:
    for number in range(9):
        workspace.create_job("code", str(make_code_dir({"train.py": TRAIN_PY})), name=f"job{number}",
                             entry_point=["python", "train.py"])
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        hint = str(form.query_one("#job-hint").render())
        assert hint.endswith(" and 3 more (type to complete)"), hint
        assert "me/default/job5 (code, latest)" in hint and "job6" not in hint

    drive(app, scenario)
    jobs = workspace.list_jobs()
    assert jobs_hint(jobs[:8]).count("(code, latest)") == 8 and "more" not in jobs_hint(jobs[:8])


def test_an_alias_completes_on_the_short_job_name(workspace, code_job) -> None:
    workspace.alias_job("trainer", "stable")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        field = form.query_one("#job", Input)
        await pilot.press(*"trainer:st")
        await until(pilot, lambda: field.suggestion_shown, what="the alias suggestion")
        await pilot.press("tab")
        assert field.value == "trainer:stable"
        await job_known(pilot, form, "trainer")

    drive(app, scenario)


# -- 5. escape asks before discarding changes --------------------------------------------------------------
def test_escape_closes_an_unchanged_form_and_asks_about_a_changed_one(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await until(pilot, lambda: not form.changed and form.job_settled, what="the form to open")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="an unchanged form to close")

        form = await open_form(pilot)
        await type_into(pilot, form, "#name", "keep-me")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert "discard the form?" in str(app.screen.question).lower()
        await pilot.press("n")
        await until(pilot, lambda: app.screen is form, what="back on the form")
        assert form.query_one("#name", Input).value == "keep-me"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the discarded form to close")

        form = await open_form(pilot)
        await pilot.press(*"trainer")  # typed at once, maybe before the form's first lookup ends
        await job_known(pilot, form, "trainer")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question about the job")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")

    drive(app, scenario)


def test_escape_on_a_relaunch_form_asks_only_once_a_value_changed(workspace, mlp_job) -> None:
    submit(workspace, merge_request(job="mlp", run_id="evalrun2", **EVALUATE)).wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.action_relaunch("evalrun2")
        form = await form_opened(pilot)
        await until(pilot, lambda: form.query("#param-split"), what="the parameters")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the unchanged form to close")

        app.action_relaunch("evalrun2")
        form = await form_opened(pilot)
        await until(pilot, lambda: form.query("#param-split"), what="the parameters")
        await type_into(pilot, form, "#param-split", "train")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")

    drive(app, scenario)
    assert [r["id"] for r in workspace.runs()] == ["evalrun2"]
