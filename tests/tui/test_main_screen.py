"""The main screen against real runs: live table, log panes, cancel, filter, relaunch, quit."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, TabbedContent

from launcher.presets import presets_dir
from launcher.spec import merge_request
from launcher.states import RunState
from tests.tui.conftest import cli, drive, shown_state, until
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen, QuitScreen, TextPromptScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.screens.run_details import RunDetailsScreen
from tui.widgets.log_pane import LogPane

GATED_PY = """\
import os, sys, time
for i in range(50):
    print(f"before {i}", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
for i in range(20):
    print(f"after {i}", flush=True)
"""


def launch(api, run_id: str, *argv: str, name: str | None = None):
    return api.runs.submit(merge_request(job="trainer", entry_point=list(argv) if argv else None, run_id=run_id, name=name))


async def main_screen(pilot) -> MainScreen:
    return await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.loaded_at
                       and pilot.app.screen, what="the main screen")


def test_a_run_started_by_the_cli_appears_and_reaches_its_final_state_with_its_logs(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        assert main.table.row_count == 0
        result = cli("launch", "-j", "trainer", "--run-id", "fromcli", "--async", "--", "python", "train.py", "6")
        assert result.returncode == 0, result.stderr
        await until(pilot, lambda: "fromcli" in main.table.rows, what="the CLI's run in the table")
        await until(pilot, lambda: main.table.records["fromcli"].state is RunState.FINISHED, what="the final state")
        row = main.table.get_row("fromcli")
        assert str(row[5]) == "finished" and row[8] == "0"
        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.run_id == "fromcli" and pane.state == "finished" and pane.view.received == 7,
                    what="the log pane to show the run's lines")
        assert pane.view.texts()[:2] == ["step 0 lr=None", "step 1 lr=None"]

    drive(app, scenario)


def test_cancel_asks_first_then_stops_the_run(workspace, code_job) -> None:
    launch(workspace, "slowrun", "python", "slow.py")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await until(pilot, lambda: main.table.records["slowrun"].state is RunState.RUNNING, what="the run to be running")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dialog to close")
        assert workspace.run("slowrun").state is RunState.RUNNING
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: main.table.records["slowrun"].state is RunState.STOPPED, timeout=40,
                    what="the run to show as stopped")

    drive(app, scenario)
    assert workspace.run("slowrun").state is RunState.STOPPED


def test_filter_matches_any_column(workspace, code_job) -> None:
    for run_id, name in (("r-alpha1", "alpha"), ("r-beta1", "beta"), ("r-alpha2", "alpha-two")):
        launch(workspace, run_id, name=name).wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        assert main.table.visible_run_ids == ["r-alpha2", "r-beta1", "r-alpha1"]  # newest first
        await pilot.press("slash", *"alpha")
        await until(pilot, lambda: sorted(main.table.visible_run_ids) == ["r-alpha1", "r-alpha2"], what="the filter")
        await pilot.press("enter")
        assert main.table.has_focus
        await pilot.press("slash")
        main.query_one("#filter", Input).value = "finished"  # the state column
        await until(pilot, lambda: main.table.row_count == 3, what="a filter on the state column")
        main.query_one("#filter", Input).value = "r-beta"  # the id column
        await until(pilot, lambda: main.table.visible_run_ids == ["r-beta1"], what="a filter on the id column")
        await pilot.press("escape")
        await until(pilot, lambda: main.table.row_count == 3, what="the filter to clear")
        await pilot.press("N")  # sort by name, ascending
        assert main.table.visible_run_ids == ["r-alpha1", "r-alpha2", "r-beta1"]

    drive(app, scenario)


def test_relaunch_opens_the_form_with_the_run_settings(workspace, code_job) -> None:
    workspace.runs.submit(merge_request(job="trainer", entry_point=["python", "train.py", "2"], name="first",
                                    run_id="orig", config={"overrides": {"run_config": {"lr": 0.7}}})).wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("r")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen, what="the form")
        await until(pilot, lambda: form.query_one("#name", Input).value == "first", what="the run's settings")
        assert form.query_one("#job", Input).value == "me/default/trainer:v0"
        assert form.query_one("#command", Input).value == "python train.py 2"
        assert "lr = 0.7" in form.query_one("#config").text
        assert form.query_one("#run_id", Input).value == ""  # a relaunch gets a new id
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the relaunch")

    drive(app, scenario)
    runs = workspace.runs()
    assert len(runs) == 2 and runs[0].id != "orig" and runs[0].spec["run_config"] == {"lr": 0.7}


def test_log_pane_pauses_on_scroll_up_counts_new_lines_and_end_resumes(workspace, code_job, make_code_dir,
                                                                     tmp_path: Path) -> None:
    source = make_code_dir({"gated.py": GATED_PY})
    workspace.create_job("code", str(source), name="gated", entry_point=["python", "gated.py"])
    gate = tmp_path / "gate"
    workspace.runs.submit(merge_request(job="gated", entry_point=["python", "gated.py", str(gate)], run_id="gated1"))
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.view.received == 50, what="the first 50 lines")
        assert pane.view.follow
        pane.view.focus()
        await pilot.press("up", "up")
        assert not pane.view.follow
        gate.write_text("go")
        await until(pilot, lambda: pane.view.unseen == 20, what="20 lines counted while paused")
        assert "paused: 20 new lines" in str(pane.query_one(".log-status").render())
        await pilot.press("end")
        assert pane.view.follow and pane.view.unseen == 0
        assert pane.view.scroll_y == pane.view.max_scroll_y

    drive(app, scenario, size=(120, 30))


def test_log_pane_modes_search_and_save(workspace, code_job, tmp_path: Path) -> None:
    launch(workspace, "logs1", "python", "train.py", "12").wait(timeout=60)
    app = LauncherApp(workspace)
    target = tmp_path / "saved" / "logs1.log"

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.view.received == 13, what="the log")
        pane.view.focus()
        await pilot.press("w", "t")
        assert pane.view.wrap and pane.view.timestamps
        await pilot.press("slash", *"step 1", "enter")
        assert pane.view.search == "step 1"
        assert pane.view.match_rows() == [1, 10, 11]  # step 1, step 10, step 11
        await pilot.press("f")
        assert pane.view.row_count == 3
        await pilot.press("f", "w")
        assert pane.view.row_count == 13
        await pilot.press("ctrl+s")
        prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen) and app.screen, what="save prompt")
        prompt.query_one(Input).value = str(target)
        await pilot.press("enter")
        await until(pilot, target.exists, what="the saved log")

    drive(app, scenario)
    assert target.read_bytes() == workspace.run("logs1").get_log_bytes()


def test_enter_opens_several_runs_in_tabs(workspace, code_job) -> None:
    launch(workspace, "tab1").wait(timeout=60)
    launch(workspace, "tab2", "python", "train.py", "5").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        main.table.focus()
        await pilot.press("enter")  # tab2 (newest, first row)
        main.table.focus()
        await pilot.press("down", "enter")
        panes = await until(pilot, lambda: len(main.query(LogPane)) == 3 and list(main.query(LogPane)),
                            what="two pinned tabs")
        await until(pilot, lambda: {p.run_id: p.view.received for p in panes[1:]} == {"tab2": 6, "tab1": 4},
                    what="both logs")
        assert main.query_one("#logs", TabbedContent).active.startswith("tab-run-tab1")
        await pilot.press("x")
        await until(pilot, lambda: len(main.query(LogPane)) == 2, what="the tab to close")

    drive(app, scenario)


async def launch_from_app(pilot, run_id: str, *argv: str):
    """Start a run the way the app does (a preset from the palette): the app counts it as its own."""
    presets_dir().mkdir(parents=True, exist_ok=True)
    entry = ", ".join(f'"{arg}"' for arg in argv)
    (presets_dir() / f"{run_id}.toml").write_text(f'job = "trainer"\nrun_id = "{run_id}"\nentry_point = [{entry}]\n')
    pilot.app.launch_preset(run_id)
    await until(pilot, lambda: shown_state(pilot.app.main, run_id) is RunState.RUNNING,
                what=f"run {run_id} running")


def test_quit_with_active_runs_can_leave_them_running(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await launch_from_app(pilot, "keepgoing", "python", "slow.py")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="staying")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        await pilot.press("l")
        await until(pilot, lambda: not app.is_running, what="the app to exit")

    drive(app, scenario)
    assert not workspace.run("keepgoing").state.is_terminal()


def test_quit_can_stop_active_runs(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await launch_from_app(pilot, "stopme", "python", "slow.py")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        await pilot.press("s")
        await until(pilot, lambda: not app.is_running, what="the app to exit")

    drive(app, scenario)
    workspace.run("stopme").wait(timeout=40)
    assert workspace.run("stopme").state is RunState.STOPPED


def test_engine_errors_become_notifications_and_a_preset_launches_from_the_palette(workspace, code_job) -> None:
    presets_dir().mkdir(parents=True)
    (presets_dir() / "broken.toml").write_text('resource = "moon"\njob = "trainer"\n')
    (presets_dir() / "ok.toml").write_text('job = "trainer"\nrun_id = "frompreset"\n')
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        app.launch_preset("broken")
        await until(pilot, lambda: any("'moon'" in n.message for n in app._notifications), what="the error")
        await pilot.press("ctrl+p")
        await pilot.press(*"launch preset ok")
        await until(pilot, lambda: "Launch preset: ok" in str(app.screen.query("CommandList").first().get_option_at_index(0).prompt)
                    if app.screen.query("CommandList") and app.screen.query("CommandList").first().option_count else False,
                    what="the preset command")
        await pilot.press("enter")
        await until(pilot, lambda: shown_state(main, "frompreset") is RunState.FINISHED,
                    what="the preset's run")
        assert app.is_running

    drive(app, scenario)
    assert [r.id for r in workspace.runs()] == ["frompreset"]


def test_details_show_the_resolved_spec_and_the_error_and_y_copies_the_id(workspace, code_job) -> None:
    launch(workspace, "broken", "python", "-c", "import sys; sys.exit(4)").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        main.table.focus()
        await pilot.press("y")
        assert app.clipboard == "broken"
        await pilot.press("d")
        details = await until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and app.screen,
                              what="the details screen")
        text = await until(pilot, lambda: _plain(details.query_one("#details")) if "argv" in _plain(
            details.query_one("#details")) else "", what="the details")
        assert "exit code 4" in text and "me/default/trainer:v0" in text
        assert '["python", "-c", "import sys; sys.exit(4)"]' in text
        assert "starting" in text and "failed" in text  # the state history
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the main screen")

    drive(app, scenario)


def _plain(static) -> str:
    """The text a Static shows (a rich renderable, printed without colours)."""
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(static.content)
    return console.file.getvalue()
