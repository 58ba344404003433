"""Saving a run's log from its pane never overwrites a file without a yes, and a path that cannot be
resolved is an error message, not a crash."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.tui.conftest import until
from tests.tui.test_log_pane_colours_and_search_summary import MANY_PY, finished_run, run_pane
from tui.screens.dialogs import ConfirmScreen, SaveLogScreen
from tui.widgets.log_pane import LogPane


async def save_as(pilot, app, path: Path) -> None:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(app.screen, SaveLogScreen), what="the save dialog")
    app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")


def test_saving_over_an_existing_file_asks_first(workspace, make_code_dir, tmp_path: Path) -> None:
    finished_run(workspace, make_code_dir, MANY_PY, "saved")
    target = tmp_path / "kept.log"
    target.write_text("precious")
    fresh = tmp_path / "new" / "fresh.log"

    async def scenario(pilot, app, pane: LogPane) -> None:
        pane.view.focus()
        await save_as(pilot, app, target)
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the overwrite question")
        assert str(target) in str(app.screen.question)
        await pilot.press("n")
        await until(pilot, lambda: any(n.message == f"not saved: {target} already exists" for n in app._notifications),
                    what="the refusal")
        assert target.read_text() == "precious"

        await save_as(pilot, app, target)
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the overwrite question")
        await pilot.press("y")
        await until(pilot, lambda: "line 2999" in target.read_text(), what="the log to be saved")
        assert "precious" not in target.read_text()

        await save_as(pilot, app, fresh)  # a new file: no question
        await until(pilot, lambda: fresh.exists() and "line 2999" in fresh.read_text(), what="the new file")
        assert not isinstance(app.screen, ConfirmScreen)

    run_pane(workspace, "saved", scenario)


def test_a_save_path_that_cannot_be_resolved_is_an_error_not_a_crash(workspace, make_code_dir) -> None:
    finished_run(workspace, make_code_dir, "print('one line')\n", "unsaved")

    async def scenario(pilot, app, pane) -> None:
        pane.save_or_confirm("unsaved", "~no-such-user-here/run.log")  # no such home directory
        await until(pilot, lambda: any("cannot save the log to '~no-such-user-here/run.log'" in n.message
                                       for n in app._notifications), what="the error")
        assert app.is_running

    run_pane(workspace, "unsaved", scenario)
