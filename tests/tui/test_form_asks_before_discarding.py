"""Escape closes an unchanged launch form at once and asks before discarding a changed one (a relaunch form
counts as unchanged until a value in it is changed)."""

from __future__ import annotations

from textual.widgets import Input

from launcher.spec import merge_request
from tests.tui.conftest import drive, until
from tests.tui.test_form import job_known, open_form, type_into
from tests.tui.test_form_prefill import EVALUATE, form_opened
from tests.tui.test_queues import main_screen
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.main import MainScreen


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
    workspace.runs.submit(merge_request(job="mlp", run_id="evalrun2", **EVALUATE)).wait(timeout=60)
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
    assert [r.id for r in workspace.runs()] == ["evalrun2"]
