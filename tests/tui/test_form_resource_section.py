"""The launch form's resource section: a field for each option the resource's runner declares (a choice is a
select, true/false a checkbox, the rest text with an example or default as placeholder), values checked by
their declaration with the error at the field, and a JSON field that takes resource args as the CLI's -R
does (for the chosen resource, or keyed by resource)."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, Select

from launcher.errors import ConfigError, ResourceError
from launcher.options import OptionKind
from launcher.spec import merge_request
from tests.tui.conftest import drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_queues import main_screen
from tui.app import LauncherApp
from tui.form_model import FormErrors, FormValues, option_value, parse_resource_args, to_settings
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.widgets.form.fields import option_id
from tui.widgets.form.resource_section import OptionFields


def shown_groups(form: LaunchForm) -> set[str]:
    """The resources whose option fields are shown."""
    return {group.resource for group in form.resource_section.query(OptionFields) if group.display}


# -- the fields are made from the declarations -------------------------------------------------------------
def test_every_declared_option_of_every_resource_gets_a_field_of_its_kind(workspace) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        for status in form.resources:
            options = workspace.resource_options(status.name)
            assert options, status.name
            form.query_one("#resource", Select).value = status.name
            await until(pilot, lambda name=status.name: shown_groups(form) == {name}, what=f"the fields of {status.name}")
            for option in options:
                field = form.query_one(f"#{option_id(status.name, option.name)}")
                if option.kind is OptionKind.CHOICE:
                    assert isinstance(field, Select), option
                    assert [value for _, value in field._options if isinstance(value, str)] == list(option.choices)
                elif option.kind is OptionKind.BOOLEAN:
                    assert isinstance(field, Checkbox) and field.value is bool(option.default), option
                else:
                    assert isinstance(field, Input), option
                    if option.example is not None:
                        assert field.placeholder == f"e.g. {option.example}", option
                    elif option.default is not None:
                        assert field.placeholder == f"default: {option.default}", option
                    else:
                        assert field.placeholder == option.expectation(), option
                assert field.tooltip == option.help

    drive(app, scenario)


def test_option_fields_read_text_as_the_value_the_option_accepts(workspace, tmp_path) -> None:
    options = {option.name: option for option in workspace.resource_options("local-container")}

    def value(name: str, held):
        return option_value(options[name], f"resource_args local-container.{name}", held)

    assert value("cpus", "1.5") == 1.5  # a number
    assert value("gpus", "2") == 2 and value("gpus", "all") == "all"
    assert value("memory", "2g") == "2g"  # text that is not JSON stays text
    assert value("user", "1000") == "1000"  # JSON 1000 is refused by the option; the text is taken
    assert value("env", '{"SEED": "1"}') == {"SEED": "1"}
    assert value("volumes", f'["{tmp_path}:/data:ro"]') == [f"{tmp_path}:/data:ro"]
    assert value("memory", "  ") is None  # empty: not sent
    assert value("init", True) is None and value("init", False) is False  # a checkbox is sent when not its default
    with pytest.raises(ResourceError, match=r"^resource_args local-container.cpus -1 is not valid; expected"):
        value("cpus", "-1")
    process = {option.name: option for option in workspace.resource_options("local-process")}
    with pytest.raises(ResourceError, match="grace_period 'soon' is not valid; expected a number of seconds"):
        option_value(process["grace_period"], "resource_args local-process.grace_period", "soon")


# -- values from the fields reach the run; bad ones are refused at their field -----------------------------
def test_option_fields_reach_the_launched_run(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, f"#{option_id('local-process', 'env')}", '{"SEED": "5"}')
        await type_into(pilot, form, f"#{option_id('local-process', 'grace_period')}", "3")
        await type_into(pilot, form, "#run_id", "withfields")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")

    drive(app, scenario)
    assert workspace.run("withfields").spec.resource_args == {"env": {"SEED": "5"}, "grace_period": 3}


def test_a_value_its_option_refuses_is_a_one_line_error_at_its_field_and_nothing_launches(workspace,
                                                                                        code_job) -> None:
    app = LauncherApp(workspace)
    grace = option_id("local-process", "grace_period")
    env = option_id("local-process", "env")

    async def scenario(pilot) -> None:
        form = await open_form(pilot)
        await pilot.press(*"trainer")
        await job_known(pilot, form, "trainer")
        await type_into(pilot, form, f"#{grace}", "-5")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: form.errors, what="the error at the field")
        assert errors == {grace: "resource_args local-process.grace_period -5 is not valid; expected a number of "
                                 "seconds from 0 to 86400"}
        assert form.query_one(f"#{grace}", Input).value == "-5"  # the form stays, with the user's input

        await type_into(pilot, form, f"#{grace}", "")
        await type_into(pilot, form, f"#{env}", "SEED=1")
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: env in form.errors and form.errors, what="the env error")
        assert list(errors) == [env]
        assert errors[env] == ("resource_args local-process.env 'SEED=1' is not valid; expected a mapping of names to "
                               "string values")

        # The same option in its field and in the JSON field: one place only.
        await type_into(pilot, form, f"#{env}", '{"SEED": "1"}')
        await type_into(pilot, form, "#resource_args", '{"env": {"SEED": "2"}}')
        await pilot.press("ctrl+s")
        errors = await until(pilot, lambda: env in form.errors and form.errors, what="the conflict")
        assert "set both here and in the JSON field" in errors[env]
        assert isinstance(app.screen, LaunchForm)

    drive(app, scenario)
    assert workspace.runs() == []


def test_a_relaunch_puts_the_runs_resource_args_in_their_fields(workspace, code_job) -> None:
    args = {"env": {"SEED": "7"}, "grace_period": 2.5}
    workspace.runs.submit(merge_request(job="trainer", run_id="withargs",
                                        resource_args={"local-process": args})).wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.action_relaunch("withargs")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.job_settled
                           and app.screen.job_info is not None and app.screen, what="the form")
        assert form.query_one(f"#{option_id('local-process', 'env')}", Input).value == '{"SEED": "7"}'
        assert form.query_one(f"#{option_id('local-process', 'grace_period')}", Input).value == "2.5"
        assert form.query_one("#resource_args", Input).value == ""
        assert not form.changed
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the relaunch")

    drive(app, scenario)
    (again,) = [r for r in workspace.runs() if r.id != "withargs"]
    assert again.resource_args == args


# -- the JSON field, as -R takes resource args ----------------------------------------------------------
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
