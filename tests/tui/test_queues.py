"""Queues, the agent in the app, sweeps and live metrics, driven through the TUI against a real workspace:
items added from the launch form, cancelled and removed; an agent started from the queues screen draining
an item into a run; a sweep created from a TOML file with its trials best first; metrics in the run table
and charts in the run details."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Log, Sparkline

from launcher.queue import launch_add
from launcher.states import AgentState, RunState
from tests.tui.conftest import drive, shown_state, until
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen, QuitScreen, TextPromptScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.screens.queue_dialogs import AgentStartScreen, QueueTargetScreen, parse_agent_choice
from tui.screens.queues import QueuesScreen
from tui.screens.run_details import RunDetailsScreen
from tui.screens.sweeps import SweepsScreen


# Reports the losses its run config lists (with acc = 1 - loss), then waits for a gate file if it names one.
@pytest.fixture
def agents(workspace):
    """The apps whose agents must be stopped at the end of the test, whatever happened."""
    apps: list[LauncherApp] = []
    yield apps
    for app in apps:
        if app.agent_control.agent is not None:
            app.agent_control.agent.stop("stop")
            assert app.agent_control.agent.join(60), "the app's agent did not stop"


def losses(**values) -> dict:
    return {"overrides": {"run_config": values}}


def palette(app) -> set[str]:
    """The command palette's system commands for the screen shown."""
    return {command.title for command in app.get_system_commands(app.screen)}


def table_column(screen, table_id: str, column: int) -> list[str]:
    table = screen.query_one(table_id, DataTable)
    return [str(table.get_row_at(row)[column]) for row in range(table.row_count)]


async def main_screen(pilot) -> MainScreen:
    return await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.loaded_at
                       and pilot.app.screen, what="the main screen")


async def queues_screen(pilot) -> QueuesScreen:
    await pilot.press("Q")
    return await until(pilot, lambda: isinstance(pilot.app.screen, QueuesScreen) and pilot.app.screen.loaded
                       and pilot.app.screen, what="the queues screen")


def test_a_launch_queued_from_the_form_shows_in_the_queues_screen_then_is_cancelled_and_removed(
        workspace, worker_job) -> None:
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("n")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.resources and app.screen)
        await pilot.press(*"worker")
        form.query_one("#name", Input).value = "queued-one"
        titles = palette(app)
        assert {"Queue this launch", "Queues", "Sweeps", "Start an agent", "Create a sweep from a TOML file"} <= titles
        await pilot.press("f4")
        target = await until(pilot, lambda: isinstance(app.screen, QueueTargetScreen) and app.screen)
        target.query_one("#priority").value = "high"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the form to close")
        assert workspace.runs() == []  # queued, not launched

        queues = await queues_screen(pilot)
        await until(pilot, lambda: table_column(queues, "#items", 3) == ["queued"], what="the queued item")
        item_id = table_column(queues, "#items", 0)[0]
        assert {f"Cancel queue item {item_id}", f"Remove queue item {item_id}", "Create a queue"} <= palette(app)
        row = queues.query_one("#items", DataTable).get_row_at(0)
        assert (str(row[1]), str(row[2]), str(row[4])) == ("default", "high", "worker")
        assert workspace.queue_items()[0].settings["name"] == "queued-one"
        # The queues table counts it.
        counts = {str(r[0]): str(r[1]) for r in (queues.query_one("#queues", DataTable).get_row_at(i) for i in range(2))}
        assert counts == {"(all queues)": "1", "default": "1"}

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the cancel confirmation")
        await pilot.press("y")
        await until(pilot, lambda: table_column(queues, "#items", 3) == ["cancelled"], what="the item cancelled")
        assert str(queues.query_one("#items", DataTable).get_row_at(0)[8]) == "cancelled by request"
        assert workspace.queue_items()[0].state == "cancelled" and workspace.runs() == []

        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the remove confirmation")
        await pilot.press("y")
        await until(pilot, lambda: table_column(queues, "#items", 0) == [], what="the item removed")
        assert workspace.queue_items() == [] and item_id

    drive(app, scenario)


def test_an_agent_in_the_app_drains_an_item_into_a_run_with_metrics_in_the_table_and_details(
        workspace, worker_job, agents) -> None:
    item = launch_add(workspace, job="worker", config=losses(losses=[0.9, 0.4, 0.2]), run_id="drained")
    app = LauncherApp(workspace)
    agents.append(app)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        queues = await queues_screen(pilot)
        await pilot.press("a")
        dialog = await until(pilot, lambda: isinstance(app.screen, AgentStartScreen) and app.screen)
        assert dialog.query_one("#queues", Input).value == "default"
        dialog.query_one("#max-jobs", Input).value = "2"
        dialog.query_one("#max-jobs", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: table_column(queues, "#items", 3) == ["finished"], timeout=60,
                    what="the agent to launch the item and its run to finish")
        assert table_column(queues, "#items", 5) == ["drained"]
        events = "\n".join(queues.query_one("#agent-events", Log).lines)
        assert f"item {item.id} -> run drained" in events
        assert app.agent_control.status().launched == 1 and app.agent_control.status().max_jobs == 2
        assert "Stop the agent" in palette(app)

        # enter on the item: back to the run table, on its run.
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is main and main.table.selected_run_id == "drained",
                    what="the item's run selected in the run table")
        await until(pilot, lambda: main.table.records["drained"].state is RunState.FINISHED)
        await until(pilot, lambda: main.table.get_row("drained")[9] == "acc=0.8 loss=0.2", what="metrics in the table")

        await pilot.press("d")
        details = await until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and app.screen)
        await until(pilot, lambda: len(details.query(Sparkline)) == 2, what="one chart per metric")
        assert details.query_one("#metric-loss", Sparkline).data == [0.9, 0.4, 0.2]
        shown = await until(pilot, lambda: _plain(details.query_one("#details")) if "queue item" in _plain(
            details.query_one("#details")) else "", what="the queue item in the details")
        assert f"#{item.id} on queue 'default'" in shown
        assert "0.2" in str(details.query_one("#metric-loss-label").render())
        await pilot.press("escape")

        # Quitting with the agent idle: it is stopped and the app closes.
        agent = app.agent_control.agent
        await pilot.press("q")
        await until(pilot, lambda: not agent._thread.is_alive(), what="the agent stopped on quit")

    drive(app, scenario)
    assert app.return_code == 0


def test_quitting_with_the_agent_and_its_run_active_can_stop_both(workspace, worker_job, agents, tmp_path) -> None:
    gate = tmp_path / "gate"
    launch_add(workspace, job="worker", config=losses(losses=[0.5], gate=str(gate)), run_id="gated")
    app = LauncherApp(workspace)
    agents.append(app)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        app.start_agent(["default"], 1)
        await until(pilot, lambda: shown_state(main, "gated") is RunState.RUNNING, timeout=60,
                    what="the agent's run running")
        await until(pilot, lambda: main.table.get_row("gated")[9] == "acc=0.5 loss=0.5", what="live metrics")
        await pilot.press("q")
        dialog = await until(pilot, lambda: isinstance(app.screen, QuitScreen) and app.screen)
        assert dialog.agent == app.agent_control.agent.id and dialog.active == ["gated"]
        await pilot.press("s")
        agent = app.agent_control.agent
        await until(pilot, lambda: agent.state is AgentState.STOPPED and not agent._thread.is_alive(), timeout=60,
                    what="the agent stopped with its run")

    drive(app, scenario)
    assert workspace.run("gated").state == "stopped"
    assert workspace.queue_items()[0].state == "cancelled"


def test_quitting_and_leaving_runs_running_stops_the_agent_taking_items(workspace, worker_job, agents,
                                                                        tmp_path) -> None:
    gate = tmp_path / "gate"
    launch_add(workspace, job="worker", config=losses(losses=[0.5], gate=str(gate)), run_id="first")
    second = launch_add(workspace, job="worker", config=losses(losses=[0.5]), run_id="second")
    app = LauncherApp(workspace)
    agents.append(app)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        app.start_agent(["default"], 1)
        await until(pilot, lambda: shown_state(main, "first") is RunState.RUNNING, timeout=60,
                    what="the agent's first run running")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("l")

    drive(app, scenario)
    assert app.agent_control.agent.join(60)  # it takes no more items and leaves its run alone
    assert workspace.run("first").state == "running"
    gate.write_text("go")
    assert workspace.run("first").wait(timeout=60) is True
    assert second.state == "queued"


SWEEP_TOML = """\
job = "worker"
method = "grid"
name = "loss-grid"
[metric]
name = "loss"
goal = "minimize"
[parameters]
losses = [[0.5, 0.3], [0.9, 0.1], [0.4, 0.7]]
"""


def test_a_sweep_created_from_a_toml_file_shows_its_trials_best_first(workspace, worker_job, agents,
                                                                       tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP_TOML)
    bad = tmp_path / "bad.toml"
    bad.write_text(SWEEP_TOML.replace('"grid"', '"bayes"'))
    app = LauncherApp(workspace)
    agents.append(app)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("W")
        sweeps = await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded and app.screen)
        assert "No sweeps yet" in str(sweeps.query_one("#trials-title").render())

        await pilot.press("n")  # a file with an unknown method: a one-line error, nothing created
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*str(bad), "enter")
        await until(pilot, lambda: any("bayes" in n.message for n in app._notifications), what="the error")
        assert workspace.sweeps() == []

        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*str(path), "enter")
        await until(pilot, lambda: app.screen is sweeps and table_column(sweeps, "#sweeps", 1) == ["loss-grid"],
                    what="the new sweep")
        assert table_column(sweeps, "#trials", 2) == ["queued"] * 3
        sweep_id = table_column(sweeps, "#sweeps", 0)[0]

        await pilot.press("p")
        await until(pilot, lambda: table_column(sweeps, "#sweeps", 2) == ["paused"], what="paused")
        await pilot.press("u")
        await until(pilot, lambda: table_column(sweeps, "#sweeps", 2) == ["running"], what="resumed")

        app.start_agent(["default"], 3)
        await until(pilot, lambda: table_column(sweeps, "#sweeps", 2) == ["finished"], timeout=90,
                    what="every trial finished")
        await until(pilot, lambda: table_column(sweeps, "#trials", 4) == ["0.1", "0.3", "0.7"],
                    what="the trials' metric, best first")
        assert table_column(sweeps, "#trials", 0) == ["1", "2", "3"]
        assert table_column(sweeps, "#trials", 5) == ["losses=[0.9, 0.1]", "losses=[0.5, 0.3]", "losses=[0.4, 0.7]"]
        run_ids = table_column(sweeps, "#trials", 3)
        assert all(workspace.run(r).record.sweep_id == sweep_id for r in run_ids)

        # f: the run table, filtered to the sweep's runs.
        await pilot.press("f")
        main = await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen)
        await until(pilot, lambda: sorted(main.table.visible_run_ids) == sorted(run_ids), what="the sweep's runs")
        # The SWEEP column shows each run's sweep, and P sorts (groups) the runs by it.
        assert {main.table.get_row(r)[3] for r in run_ids} == {sweep_id}
        await pilot.press("escape", "P")
        assert main.table.sort_column == "sweep" and set(main.table.visible_run_ids[-3:]) == set(run_ids)

    drive(app, scenario)


def test_agent_dialog_rejects_bad_settings_with_one_line() -> None:
    assert parse_agent_choice("default, gpu", "3").queues == ["default", "gpu"]
    assert parse_agent_choice("default", "-1").max_jobs == -1
    for queues, max_jobs, expected in (("", "1", "at least one queue"), ("default", "two", "'two' is not a number"),
                                       ("default", "0", "max jobs 0 is not valid")):
        with pytest.raises(ValueError, match=expected):
            parse_agent_choice(queues, max_jobs)


def _plain(static) -> str:
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(static.content)
    return console.file.getvalue()
