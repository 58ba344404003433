"""The launch form, driven with Textual's pilot against a real workspace, real jobs and real runs."""

from __future__ import annotations

from textual.widgets import Input, Select, TextArea

from launcher.presets import load_preset, presets_dir
from launcher.states import RunState
from tests.tui.conftest import drive, shown_state, until
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen, PresetPickScreen, TextPromptScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen


async def open_form(pilot) -> LaunchForm:
    await pilot.press("n")
    form = await until(pilot, lambda: isinstance(pilot.app.screen, LaunchForm) and pilot.app.screen,
                       what="the launch form")
    await until(pilot, lambda: form.resources, what="the resources to load")
    return form


async def type_into(pilot, form: LaunchForm, selector: str, text: str) -> None:
    widget = form.query_one(selector, Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def job_known(pilot, form: LaunchForm, ref_part: str) -> None:
    await until(pilot, lambda: form.job_info is not None and ref_part in form.job_info.ref, what="the job to resolve")


def test_code_job_form_launches_a_run_that_finishes(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, "#name", "from-form")
        await type_into(pilot, form, "#run_id", "formrun1")
        await type_into(pilot, form, "#command", "python train.py 4")
        await type_into(pilot, form, "#resource_args", '{"env": {"SEED": "3"}}')
        form.query_one("#config", TextArea).text = "lr = 0.5\n"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")
        main = app.screen
        await until(pilot, lambda: shown_state(main, "formrun1") is RunState.FINISHED,
                    what="the run to finish in the table")
        await until(pilot, lambda: main.table.selected_run_id == "formrun1", what="the new run to be selected")
        pane = main.query_one("#pane-selected")
        await until(pilot, lambda: pane.view.received >= 5 and pane.run_id == "formrun1", what="the log lines")
        texts = pane.view.texts()
        assert "step 3 lr=0.5" in texts and "done" in texts

    drive(app, scenario)
    run = workspace.run("formrun1")
    assert run.record.name == "from-form"
    assert run.spec.argv == ("python", "train.py", "4")
    assert run.spec.resource_args == {"env": {"SEED": "3"}}
    assert run.spec.run_config == {"lr": 0.5}


def test_git_job_form_shows_typed_parameters_and_launches_a_version(workspace, git_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"gittrainer")
        await job_known(pilot, form, "gittrainer")
        await until(pilot, lambda: form.query("#param-epochs"), what="the typed parameter fields")
        # Defaults are shown, not filled in: only what is typed is sent.
        assert form.query_one("#param-lr", Input).value == ""
        assert form.query_one("#param-lr", Input).placeholder == "default: 0.1"
        assert form.query_one("#param-epochs", Input).value == ""
        assert form.query_one("#param-epochs", Input).placeholder == "default: 2"
        entry = form.query_one("#entry", Select)
        assert entry.value == "main"
        assert "default: main" in form.query_one("#version", Input).placeholder
        await type_into(pilot, form, "#version", "v1")
        await type_into(pilot, form, "#param-epochs", "3")
        await type_into(pilot, form, "#run_id", "gitrun1")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")
        await until(pilot, lambda: shown_state(app.screen, "gitrun1") is RunState.FINISHED,
                    what="the git run to finish")

    drive(app, scenario)
    spec = workspace.run("gitrun1").spec
    assert spec.version == "v1"
    assert spec.entry_point_name == "main"
    assert spec.run_config == {"lr": 0.1, "epochs": 3}  # the version's default for lr, the typed epochs
    assert spec.argv == ("python", "train.py", "3")
    assert len(spec.source["commit"]) == 40
    assert "step 2 lr=0.1" in workspace.run("gitrun1").get_logs()


def test_validation_errors_appear_next_to_their_fields_and_nothing_launches(workspace, git_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"gittrainer")
        await job_known(pilot, form, "gittrainer")
        await until(pilot, lambda: form.query("#param-epochs"), what="the typed parameter fields")
        await type_into(pilot, form, "#param-epochs", "three")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: form.errors, what="an error on the form")
        assert list(errors) == ["param-epochs"]
        assert "epochs='three'" in errors["param-epochs"] and "integer" in errors["param-epochs"]

        await type_into(pilot, form, "#param-epochs", "3")
        await type_into(pilot, form, "#version", "no-such-branch")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: form.errors, what="the version error")
        assert list(errors) == ["version"] and "'no-such-branch'" in errors["version"]

        await type_into(pilot, form, "#version", "")
        await type_into(pilot, form, "#run_id", "bad id!")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: form.errors, what="the run id error")
        assert list(errors) == ["run_id"] and "'bad id!'" in errors["run_id"]

        await type_into(pilot, form, "#run_id", "")
        await type_into(pilot, form, "#job", "nosuchjob")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: form.errors, what="the job error")
        assert list(errors) == ["job"] and "nosuchjob" in errors["job"]
        assert isinstance(app.screen, LaunchForm)  # the form stays open with the user's input

    drive(app, scenario)
    assert workspace.runs() == []


def test_form_saves_a_preset_and_loads_it_again(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, "#name", "presetrun")
        await type_into(pilot, form, "#command", "python train.py 2")
        form.query_one("#config", TextArea).text = "lr = 0.3\n"
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the preset name prompt")
        await pilot.press(*"quick", "enter")
        await until(pilot, lambda: (presets_dir() / "quick.toml").exists(), what="the preset file")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question to discard the form")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")

        form = await open_form(pilot)
        await pilot.press("f3")
        picker = await until(pilot, lambda: isinstance(app.screen, PresetPickScreen) and app.screen,
                             what="the preset list")
        assert picker.names == ["quick"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: form.query_one("#name", Input).value == "presetrun", what="the preset's values")
        assert form.query_one("#job", Input).value == "trainer"
        assert form.query_one("#command", Input).value == "python train.py 2"
        assert form.query_one("#config", TextArea).text.strip() == "lr = 0.3"

    drive(app, scenario)
    assert load_preset("quick") == {"job": "trainer", "entry_point": ["python", "train.py", "2"], "name": "presetrun",
                                    "resource": "local-process", "config": {"overrides": {"run_config": {"lr": 0.3}}}}
