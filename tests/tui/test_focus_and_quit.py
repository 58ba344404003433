"""Keys act on the run the user looks at, focus moves where the user expects, and quitting only touches what
this app started: its launches and its agent's runs, never runs of the CLI or of another agent."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Button, Input, TabbedContent, Tabs

from launcher.queue import launch_add
from launcher.spec import merge_request
from launcher.states import AgentState, RunState
from tests.tui.conftest import drive, shown_state, until
from tests.tui.test_main_screen import launch_from_app
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen, QuitScreen
from tui.screens.help import HelpScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.screens.queues import QueuesScreen
from tui.screens.run_details import RunDetailsScreen
from tui.widgets.log_pane import LogPane
from tui.widgets.log_view import LogView
from tui.widgets.run_table import RunTable

GATED_PY = """\
import os, sys, time
print("waiting", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
"""


def launch(api, run_id: str, *argv: str):
    return api.runs.submit(merge_request(job="trainer", entry_point=list(argv) if argv else None, run_id=run_id))


async def main_screen(pilot) -> MainScreen:
    return await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.loaded_at
                       and pilot.app.screen, what="the main screen")


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


def plain(renderable, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


# -- 1. keys act on the run of the focused log pane ---------------------------------------------------------
def test_run_keys_act_on_the_focused_log_tabs_run_not_the_table_cursor(workspace, code_job) -> None:
    launch(workspace, "runa", "python", "train.py", "2").wait(timeout=60)
    launch(workspace, "runb", "python", "train.py", "2").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await main.open_logs("runa")  # a pinned tab of run A, focused
        assert main.table.select_run("runb")  # the table's cursor on run B
        pinned = main.query(LogPane).last()
        assert pinned.run_id == "runa"
        await until(pilot, lambda: pinned.view.has_focus, what="run A's pinned pane focused")
        await pilot.press("y")
        assert app.clipboard == "runa"
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Copy run id runa", "Cancel run runa", "Details of run runa"} <= titles
        assert "Copy run id runb" not in titles
        await pilot.press("d")
        details = await until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and app.screen,
                              what="the details")
        assert details.run_id == "runa"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is main)

        main.table.focus()  # back on the table: the keys act on the table's run again
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == "runb"

    drive(app, scenario)


# -- 2. quitting stops only this app's runs ---------------------------------------------------------------
def test_quit_offers_to_stop_only_this_apps_runs_and_counts_the_others(workspace, code_job) -> None:
    launch(workspace, "fromcli", "python", "slow.py")  # started outside the app (as the CLI does)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await until(pilot, lambda: shown_state(main, "fromcli") is RunState.RUNNING,
                    what="the outside run running")
        await launch_from_app(pilot, "fromapp", "python", "slow.py")
        await pilot.press("q")
        dialog = await until(pilot, lambda: isinstance(app.screen, QuitScreen) and app.screen, what="the question")
        assert dialog.active == ["fromapp"] and dialog.elsewhere == 1
        question = str(dialog.query_one("#quit-question").render())
        assert "1 run(s) started from this app" in question and "fromapp" in question
        assert "1 other run(s)" in question and "left alone" in question and "fromcli" not in question
        await pilot.press("s")
        await until(pilot, lambda: not app.is_running, timeout=40, what="the app to exit")

    drive(app, scenario)
    workspace.run("fromapp").wait(timeout=40)
    assert workspace.run("fromapp").state is RunState.STOPPED
    assert workspace.run("fromcli").state is RunState.RUNNING


def test_quit_does_not_ask_when_only_runs_started_elsewhere_are_active(workspace, code_job) -> None:
    launch(workspace, "elsewhere", "python", "slow.py")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await until(pilot, lambda: shown_state(main, "elsewhere") is RunState.RUNNING)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="the app to exit without a question")

    drive(app, scenario)
    assert workspace.run("elsewhere").state is RunState.RUNNING


def test_when_stopping_fails_on_quit_the_app_stays_open_and_shows_why(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await launch_from_app(pilot, "stuck", "python", "slow.py")
        # Its resource is no longer known (a plugin removed since the launch): it cannot be stopped.
        workspace.workspace.store.execute("UPDATE runs SET resource = 'retired' WHERE id = 'stuck'")
        try:
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, QuitScreen))
            await pilot.press("s")
            await until(pilot, lambda: any("could not stop" in m for m in messages(app)), what="the error")
            await pilot.pause()  # what the stop queued (an exit, before this fix) is handled by now
            assert app.is_running and app.screen is main
            error = next(m for m in messages(app) if "could not stop" in m)
            assert "run stuck" in error and "'retired'" in error
        finally:
            workspace.workspace.store.execute("UPDATE runs SET resource = 'local-process' WHERE id = 'stuck'")
        await pilot.press("q")  # the run can be stopped now: stop it and leave
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("s")
        await until(pilot, lambda: not app.is_running, timeout=40, what="the app to exit")

    drive(app, scenario)
    workspace.run("stuck").wait(timeout=40)
    assert workspace.run("stuck").state is RunState.STOPPED


# -- 3. q quits from the main screen only -----------------------------------------------------------------
def test_q_quits_only_from_the_main_screen(workspace, code_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await pilot.press("n")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen, what="the form")
        await pilot.press(*"trainer")
        form.query_one("#launch", Button).focus()  # not a text box: q reaches the bindings
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is form
        assert form.query_one("#job", Input).value == "trainer"  # nothing of the form is lost
        form.query_one("#name", Input).focus()
        await pilot.press("q")
        assert form.query_one("#name", Input).value == "q"  # typed
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the discard question")
        await pilot.press("y")
        await until(pilot, lambda: app.screen is main)

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("q")  # closes the help
        await until(pilot, lambda: app.screen is main, what="the help to close")

        launch(workspace, "tocancel", "python", "slow.py")
        await until(pilot, lambda: shown_state(main, "tocancel") is RunState.RUNNING)
        main.table.select_run("tocancel")
        await pilot.press("c")
        dialog = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        await pilot.press("q")  # means nothing in a yes/no dialog
        await pilot.pause()
        assert app.is_running and app.screen is dialog
        await pilot.press("n")
        await until(pilot, lambda: app.screen is main)

        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="q on the main screen to quit")

    drive(app, scenario)


# -- 4. stopping the app's agent, then its runs -----------------------------------------------------------
def test_s_stops_the_agent_and_s_again_stops_its_runs(workspace, code_job, make_code_dir, tmp_path) -> None:
    source = make_code_dir({"gated.py": GATED_PY})
    workspace.create_job("code", str(source), name="gated", entry_point=["python", "gated.py"])
    launch_add(workspace, job="gated", entry_point=["python", "gated.py", str(tmp_path / "never")], run_id="held")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        try:
            app.start_agent(["default"], 1)
            await until(pilot, lambda: shown_state(main, "held") is RunState.RUNNING, timeout=60,
                        what="the agent's run running")
            await pilot.press("Q")
            queues = await until(pilot, lambda: isinstance(app.screen, QueuesScreen) and app.screen.loaded
                                 and app.screen, what="the queues screen")
            await pilot.press("s")
            await until(pilot, lambda: app.agent_control.agent.state is AgentState.STOPPING,
                        what="the agent stopping")
            status = str(queues.query_one("#agent").render())
            assert "stopping: waiting for 1 run(s) (s again stops them)" in status
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert "Stop the agent's runs" in titles and "Start an agent" not in titles

            await pilot.press("a")
            await until(pilot, lambda: any("still stopping: waiting for 1 run(s)" in m for m in messages(app)),
                        what="a says the agent is still stopping")
            assert not any("already running in this app" in m for m in messages(app))

            await pilot.press("s")
            await until(pilot, lambda: app.agent_control.agent.state is AgentState.STOPPED, timeout=60,
                        what="the agent to stop its run")
            assert workspace.run("held").state is RunState.STOPPED
        finally:
            if app.agent_control.agent is not None:
                app.agent_control.agent.stop("stop")
                assert app.agent_control.agent.join(60)

    drive(app, scenario)


def test_the_palette_stops_the_stopping_agents_runs(workspace, code_job, make_code_dir, tmp_path) -> None:
    source = make_code_dir({"gated.py": GATED_PY})
    workspace.create_job("code", str(source), name="gated", entry_point=["python", "gated.py"])
    launch_add(workspace, job="gated", entry_point=["python", "gated.py", str(tmp_path / "never")], run_id="held2")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        try:
            app.start_agent(["default"], 1)
            await until(pilot, lambda: shown_state(main, "held2") is RunState.RUNNING, timeout=60)
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            commands["Stop the agent"].callback()
            await until(pilot, lambda: app.agent_control.agent.state is AgentState.STOPPING)
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            assert "Stop the agent" not in commands
            commands["Stop the agent's runs"].callback()
            await until(pilot, lambda: app.agent_control.agent.state is AgentState.STOPPED, timeout=60,
                        what="the agent to stop its run")
            assert workspace.run("held2").state is RunState.STOPPED
        finally:
            if app.agent_control.agent is not None:
                app.agent_control.agent.stop("stop")
                assert app.agent_control.agent.join(60)

    drive(app, scenario)


# -- 5. focus --------------------------------------------------------------------------------------------
def test_tab_goes_from_the_table_to_the_log_and_esc_comes_back(workspace, code_job) -> None:
    launch(workspace, "focus1", "python", "train.py", "2").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        tabs = main.query_one("#logs", TabbedContent)
        assert not tabs.query_one(Tabs).focusable
        main.table.focus()
        await pilot.press("tab")
        selected = main.query_one("#pane-selected", LogPane)
        assert selected.view.has_focus  # no invisible stop on the tab strip in between
        await pilot.press("escape")
        assert main.table.has_focus

        await main.open_logs("focus1")
        pinned = main.query(LogPane).last()
        await until(pilot, lambda: pinned.view.has_focus, what="the pinned log focused")
        await pilot.press("slash", *"step")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")  # closes the search box first
        assert pinned.view.has_focus
        await pilot.press("escape")
        assert main.table.has_focus

    drive(app, scenario)


def test_after_a_launch_from_the_form_the_new_run_is_selected_and_shown(workspace, code_job) -> None:
    launch(workspace, "older", "python", "train.py", "1").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await pilot.press("slash", *"older", "enter")
        await until(pilot, lambda: main.table.visible_run_ids == ["older"], what="the filter")
        await main.open_logs("older")  # a pinned tab is shown
        main.table.focus()
        await pilot.pause()
        await pilot.press("n")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen, what="the form")
        await pilot.press(*"trainer")
        form.query_one("#run_id", Input).value = "newrun"
        form.query_one("#command", Input).value = "python slow.py"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is main, timeout=40, what="the launch")
        await until(pilot, lambda: main.table.selected_run_id == "newrun", what="the new run selected")
        assert main.table.filter_text == "" and not main.query_one("#filter", Input).display
        assert main.query_one("#logs", TabbedContent).active == "tab-selected"
        assert main.table.has_focus
        await until(pilot, lambda: main.query_one("#pane-selected", LogPane).run_id == "newrun",
                    what="the selected-run pane on the new run")
        assert "newrun" in app.launched_runs

    drive(app, scenario)


# -- 6. palette descriptions -----------------------------------------------------------------------------
def test_palette_descriptions_are_human(workspace, code_job) -> None:
    launch(workspace, "pal1", "python", "train.py", "1").wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await main.open_logs("pal1")
        for focus in (main.table, main.query(LogPane).last().view):
            focus.focus()
            await pilot.pause()
            commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
            for title, help_text in commands.items():
                assert "Screen" not in help_text and "Pane" not in help_text and "View" not in help_text, (
                    title, help_text)
            assert commands["Close tab"] == "close the pinned log tab shown (x)"
        assert commands["Wrap"].startswith("wrap long log lines")

    drive(app, scenario)


# -- 7. help ---------------------------------------------------------------------------------------------
def test_help_lists_run_details_focus_moves_and_every_sort_key(workspace) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("question_mark")
        help_screen = await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        await pilot.pause()
        text = "\n".join(plain(static.content, width=96) for static in help_screen.query("Static"))
        assert "Run details" in text
        assert "back to the run table" in text and "tab" in text
        for key, column in (("I", "id"), ("N", "name"), ("J", "job"), ("P", "sweep"), ("R", "resource"),
                            ("S", "state"), ("A", "start time"), ("D", "duration"), ("E", "exit code")):
            assert any(line.split()[:1] == [key] and f"Sort by {column}" in line for line in text.splitlines()), key
        assert "…" not in text

    drive(app, scenario)


def test_table_and_log_widgets_are_what_tab_visits(workspace) -> None:
    """The focus chain of the main screen: the table and the log view, nothing invisible."""
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        chain = main.focus_chain
        assert [type(w) for w in chain] == [RunTable, LogView]

    drive(app, scenario)
