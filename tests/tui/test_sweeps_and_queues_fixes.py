"""Second UX pass, sweeps and queues: an ended sweep is not paused, resumed or cancelled (and the TUI says
why instead of asking); the agent events panel follows its newest lines; queued items that nothing will
take say why (no agent on their queue, or their sweep paused); the sweeps screen fits 80 columns; the
queues screen's own actions are in the palette; the unknown-queue error names both ways to create one."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Log

from launcher.queue import QueueError, create_queue, launch_add
from launcher.sweeps import create_sweep, get_sweep, pause_sweep
from tests.agents import agents_for
from tests.tui.conftest import drive, until
from tests.tui.test_queues import main_screen, queues_screen, table_column
from tui.app import AgentEvent, LauncherApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.queue_dialogs import QueueTargetScreen
from tui.screens.queues import unserved_note
from tui.screens.sweeps import SWEEP_COLUMNS, TRIAL_COLUMNS, SweepsScreen


@pytest.fixture
def side_agent(workspace):
    """An agent outside the app (as a `launcher agent` process would be), on the queues named; stopped at
    teardown."""
    yield from agents_for(workspace)


async def sweeps_screen(pilot) -> SweepsScreen:
    await pilot.press("W")
    return await until(pilot, lambda: isinstance(pilot.app.screen, SweepsScreen) and pilot.app.screen.loaded
                       and pilot.app.screen, what="the sweeps screen")


def titles(app) -> list[str]:
    return [command.title for command in app.get_system_commands(app.screen)]


def notified(app, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


# -- 1. an ended sweep keeps its end --------------------------------------------------------------------
def test_an_ended_sweep_is_not_offered_pause_resume_or_cancel(workspace, worker_job, side_agent) -> None:
    sweep = create_sweep(workspace, {"job": "worker", "parameters": {"losses": [[0.5]]}, "name": "done-one"})
    side_agent(["default"])
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        screen = await sweeps_screen(pilot)
        await until(pilot, lambda: table_column(screen, "#sweeps", 2) == ["finished"], timeout=60,
                    what="the sweep finished")
        assert not any(t.startswith(("Cancel sweep", "Pause sweep", "Resume sweep", "Pause", "Resume"))
                       for t in titles(app)), titles(app)
        assert f"Runs of sweep {sweep['id']}" in titles(app)
        await pilot.press("c")
        await until(pilot, lambda: notified(app, f"sweep {sweep['id']} is finished: its trials have all ended; "
                                                 "it cannot be moved to cancelled"), what="why it is not cancelled")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("p")
        await until(pilot, lambda: notified(app, "its trials have all ended; it cannot be moved to paused"), what="why it is not paused")
        await pilot.pause()
        assert table_column(screen, "#sweeps", 2) == ["finished"]

    drive(app, scenario)
    assert get_sweep(workspace, sweep["id"])["state"] == "finished"


# -- 2. the agent events panel follows its tail ------------------------------------------------------------
def test_the_agent_events_panel_shows_the_newest_events_also_when_reopened(workspace) -> None:
    app = LauncherApp(workspace)
    app.agent_events.extend(f"12:00:{n:02d}  event {n}" for n in range(60))

    def at_end(log: Log) -> bool:
        return log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        queues = await queues_screen(pilot)
        log = queues.query_one("#agent-events", Log)
        await until(pilot, lambda: at_end(log), what="the events panel at its end")
        app.post_message(AgentEvent("12:01:00  the newest event"))
        await until(pilot, lambda: log.lines[-1].endswith("the newest event") and at_end(log),
                    what="the newest event shown")
        await pilot.press("escape")
        await main_screen(pilot)
        queues = await queues_screen(pilot)
        log = queues.query_one("#agent-events", Log)
        await until(pilot, lambda: at_end(log) and log.lines[-1].endswith("the newest event"),
                    what="the reopened panel at its end")

    drive(app, scenario)


# -- 3. why queued items wait --------------------------------------------------------------------------------
def test_queued_items_say_no_agent_takes_them_or_their_sweep_is_paused(workspace, worker_job, side_agent) -> None:
    create_queue(workspace, "sw")
    create_queue(workspace, "idle")
    lonely = launch_add(workspace, job="worker", queue_name="sw")
    paused = create_sweep(workspace, {"job": "worker", "parameters": {"losses": [[0.5]]}, "queue": "idle"})
    pause_sweep(workspace, paused["id"])
    waiting = create_sweep(workspace, {"job": "worker", "parameters": {"losses": [[0.5]]}, "queue": "sw",
                                       "name": "waits"})
    other = side_agent(["idle"])  # it takes no item: the only one on its queue is of a paused sweep
    # The confirmations of the TUI's sweep creation and queueing use this note.
    assert unserved_note(workspace, "sw") == "; no agent takes items from 'sw': Q, then a starts one"
    assert unserved_note(workspace, "idle") == ""
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        queues = await queues_screen(pilot)
        await until(pilot, lambda: other.id in str(queues.query_one("#agent").render()), what="the other agent")
        reasons = await until(pilot, lambda: dict(zip(table_column(queues, "#items", 0),
                                                      table_column(queues, "#items", 8), strict=True)))
        assert reasons[str(lonely.id)] == "no agent takes items from 'sw': a starts one"
        paused_item = workspace.queue_items(sweep_id=paused["id"])[0]
        assert reasons[str(paused_item.id)] == "sweep paused (u on the sweeps screen resumes it)"
        await pilot.press("W")
        sweeps = await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded and app.screen)
        sweeps.select_sweep(waiting["id"])
        await until(pilot, lambda: "No agent takes items from 'sw': Q, then a starts one"
                    in str(sweeps.query_one("#trials-title").render()), what="the sweep's hint")
        sweeps.select_sweep(paused["id"])
        await until(pilot, lambda: "Paused: agents skip its trials" in str(sweeps.query_one("#trials-title").render()),
                    what="the paused sweep's hint")

    drive(app, scenario)
    assert lonely.state == "queued"


def test_the_queue_dialog_says_when_no_agent_takes_the_chosen_queue(workspace, side_agent) -> None:
    create_queue(workspace, "sw")
    side_agent(["default"])
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.push_screen(QueueTargetScreen(["default", "sw"]))
        dialog = await until(pilot, lambda: isinstance(app.screen, QueueTargetScreen) and app.screen.served is not None
                             and app.screen, what="the dialog knowing the served queues")
        hint = dialog.query_one("#queue-hint")
        assert not hint.display  # an agent takes items from 'default'
        dialog.query_one("#queue").value = "sw"
        await until(pilot, lambda: hint.display and "no agent takes items from 'sw': Q, then a starts one"
                    in str(hint.render()), what="the hint for 'sw'")
        dialog.query_one("#queue").value = "default"
        await until(pilot, lambda: not hint.display, what="no hint for 'default'")

    drive(app, scenario)


# -- 4. the sweeps screen at 80x24 ------------------------------------------------------------------------
def test_the_sweeps_screen_fits_80_columns_with_its_counts_and_reason(workspace, worker_job) -> None:
    create_sweep(workspace, {"job": "worker", "parameters": {"losses": [[0.5], [0.25]]}, "name": "narrow",
                             "metric": {"name": "loss", "goal": "minimize"}})
    app = LauncherApp(workspace)

    def shown(table: DataTable) -> tuple[list[str], int]:
        columns = list(table.columns.values())
        return [str(c.label) for c in columns], sum(c.get_render_width(table) for c in columns)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        screen = await sweeps_screen(pilot)
        await until(pilot, lambda: screen.query_one("#trials", DataTable).row_count == 2, what="the trials")
        labels, width = shown(screen.query_one("#sweeps", DataTable))
        assert {"ID", "STATE", "TRIALS", "DONE", "RUNNING", "QUEUED", "FAILED"} <= set(labels), labels
        assert width <= 78, (labels, width)
        assert table_column(screen, "#sweeps", labels.index("QUEUED")) == ["2"]  # the cells follow the columns
        labels, width = shown(screen.query_one("#trials", DataTable))
        assert {"STATE", "RUN", "METRIC", "PARAMETERS", "OTHER METRICS / REASON"} <= set(labels), labels
        assert width <= 78, (labels, width)
        assert table_column(screen, "#trials", labels.index("STATE")) == ["queued", "queued"]
        # Wider again: every column back, in order, with the rows.
        await pilot.resize_terminal(160, 40)
        await until(pilot, lambda: len(screen.query_one("#sweeps", DataTable).columns) == len(SWEEP_COLUMNS)
                    and len(screen.query_one("#trials", DataTable).columns) == len(TRIAL_COLUMNS), what="every column")
        assert shown(screen.query_one("#sweeps", DataTable))[0] == [title for _, title, _ in SWEEP_COLUMNS]
        assert table_column(screen, "#sweeps", 1) == ["narrow"]
        assert screen.query_one("#trials", DataTable).row_count == 2

    drive(app, scenario, size=(80, 24))


# -- 5. the queues screen's actions in the palette ---------------------------------------------------------
def test_the_queues_screen_offers_its_own_actions_in_the_palette(workspace, worker_job) -> None:
    item = launch_add(workspace, job="worker")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        queues = await queues_screen(pilot)
        await until(pilot, lambda: table_column(queues, "#items", 0) == [str(item.id)], what="the item")
        commands = titles(app)
        assert {"Stop agent", "Start agent", f"Cancel queue item {item.id}", "Create a queue"} <= set(commands)
        assert "Cancel item" not in commands and "New queue" not in commands  # offered once, with the item's id
        assert len(commands) == len(set(commands))

    drive(app, scenario)


# -- 6. the unknown-queue error fits the CLI and the TUI ---------------------------------------------------
def test_the_unknown_queue_error_names_the_cli_and_the_tui_way(workspace, worker_job) -> None:
    with pytest.raises(QueueError) as raised:
        launch_add(workspace, job="worker", queue_name="gpu")
    assert str(raised.value) == ("unknown queue 'gpu'; expected one of: default (create it: "
                                 "'launcher queue create NAME', or N on the queues screen)")
