"""Queued items that nothing will take say why (no agent on their queue, or their sweep paused), in the
queues screen, the sweeps screen, the queue dialog and the confirmations; the unknown-queue error names the
CLI's and the TUI's way to create one."""

from __future__ import annotations

import pytest

from launcher.queue import QueueError, launch_add
from tests.tui.conftest import drive, until
from tests.tui.test_queues import main_screen, queues_screen, table_column
from tui.app import LauncherApp
from tui.screens.queue_dialogs import QueueTargetScreen
from tui.screens.queues import unserved_note
from tui.screens.sweeps import SweepsScreen


def test_queued_items_say_no_agent_takes_them_or_their_sweep_is_paused(workspace, worker_job, side_agent) -> None:
    workspace.queues.create("sw")
    workspace.queues.create("idle")
    lonely = launch_add(workspace, job="worker", queue_name="sw")
    paused = workspace.sweeps.create({"job": "worker", "parameters": {"losses": [[0.5]]}, "queue": "idle"})
    workspace.sweeps.pause(paused.id)
    waiting = workspace.sweeps.create({"job": "worker", "parameters": {"losses": [[0.5]]}, "queue": "sw",
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
        paused_item = workspace.queue_items(sweep_id=paused.id)[0]
        assert reasons[str(paused_item.id)] == "sweep paused (u on the sweeps screen resumes it)"
        await pilot.press("W")
        sweeps = await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded and app.screen)
        sweeps.select_sweep(waiting.id)
        await until(pilot, lambda: "No agent takes items from 'sw': Q, then a starts one"
                    in str(sweeps.query_one("#trials-title").render()), what="the sweep's hint")
        sweeps.select_sweep(paused.id)
        await until(pilot, lambda: "Paused: agents skip its trials" in str(sweeps.query_one("#trials-title").render()),
                    what="the paused sweep's hint")

    drive(app, scenario)
    assert lonely.state == "queued"


def test_the_queue_dialog_says_when_no_agent_takes_the_chosen_queue(workspace, side_agent) -> None:
    workspace.queues.create("sw")
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


def test_the_unknown_queue_error_names_the_cli_and_the_tui_way(workspace, worker_job) -> None:
    with pytest.raises(QueueError) as raised:
        launch_add(workspace, job="worker", queue_name="gpu")
    assert str(raised.value) == ("unknown queue 'gpu'; expected one of: default (create it: "
                                 "'launcher queue create NAME', or N on the queues screen)")
