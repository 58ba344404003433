"""The job field: Tab accepts the suggestion shown (names, short names, aliases), then moves on; the hint
under it names the jobs there are and says how many it leaves out."""

from __future__ import annotations

from textual.widgets import Input

from tests.tui.conftest import TRAIN_PY, drive, until
from tests.tui.test_form import job_known, open_form
from tui.app import LauncherApp
from tui.widgets.form.job_picker import jobs_hint


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
