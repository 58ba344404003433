"""The queues screen: the agent events panel follows its newest lines (also when the screen is opened again),
and the screen's own actions are in the command palette, each once, with the selected item's id."""

from __future__ import annotations

from textual.widgets import Log

from launcher.queue import launch_add
from tests.tui.conftest import drive, palette_titles, until
from tests.tui.test_queues import main_screen, queues_screen, table_column
from tui.app import LauncherApp
from tui.messages import AgentEvent


def test_the_agent_events_panel_shows_the_newest_events_also_when_reopened(workspace) -> None:
    app = LauncherApp(workspace)
    app.agent_control.events.extend(f"12:00:{n:02d}  event {n}" for n in range(60))

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


def test_the_queues_screen_offers_its_own_actions_in_the_palette(workspace, worker_job) -> None:
    item = launch_add(workspace, job="worker")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        queues = await queues_screen(pilot)
        await until(pilot, lambda: table_column(queues, "#items", 0) == [str(item.id)], what="the item")
        commands = palette_titles(app)
        assert {"Stop agent", "Start agent", f"Cancel queue item {item.id}", "Create a queue"} <= set(commands)
        assert "Cancel item" not in commands and "New queue" not in commands  # offered once, with the item's id
        assert len(commands) == len(set(commands))

    drive(app, scenario)
