"""Snapshot tests (pytest-textual-snapshot): the main screen, the launch form, a log pane, the help screen,
the queues screen, and the run table with a run in each state.

The runs are real; their times are then set to fixed values in the store, so the pictures do not change
from one test run to the next. Update the pictures with `pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from launcher.spec import merge_request
from launcher.states import RunState
from tests.tui.conftest import run_record, until
from tui.app import LauncherApp
from tui.screens.help import HelpScreen
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.widgets.log_pane import LogPane

SIZE = (130, 36)
T0 = 1767225600.0  # 2026-01-01 00:00:00 UTC


def fix_times(api, run_id: str, offset: float, seconds: float) -> None:
    api.workspace.store.execute("UPDATE runs SET created_at=?, started_at=?, ended_at=?, updated_at=? WHERE id=?",
                      (T0 + offset, T0 + offset + 1, T0 + offset + 1 + seconds, T0 + offset + 1 + seconds, run_id))


@pytest.fixture
def history(workspace, code_job, utc):
    runs = [
        ("a1", "python", "train.py", "8"),
        ("b2", "python", "-c", "import sys; print('loading data'); print('out of memory', file=sys.stderr); sys.exit(3)"),
        ("c3", "python", "slow.py"),
    ]
    for run_id, *argv in runs:
        workspace.runs.submit(merge_request(job="trainer", entry_point=argv, run_id=f"run-{run_id}",
                                        name=f"exp-{run_id}"))
    workspace.run("run-a1").wait(timeout=60)
    workspace.run("run-b2").wait(timeout=60)
    until_running = workspace.run("run-c3")
    from tests.waiting import wait_for

    wait_for(lambda: until_running.state is RunState.RUNNING and "started" in until_running.get_logs(), what="slow run")
    until_running.cancel(grace_period=5)  # SIGTERM ends it at once: exit code -15, every time
    for index, (run_id, *_rest) in enumerate(runs):
        fix_times(workspace, f"run-{run_id}", offset=index * 600, seconds=42 + index * 61)
    return workspace


def main_ready(select: str | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        app.sub_title = "~/workspace"
        main = await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded_at and app.screen)
        if select is not None:
            main.table.select_run(select)
        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.run_id == (select or main.table.selected_run_id) and pane.state
                    and RunState(pane.state).is_terminal() and pane.view.received > 0)
        await settled(pilot, pane)
    return run_before


async def settled(pilot, pane: LogPane | None = None) -> None:
    """Wait for conditions, not for time: no log batch pending in the pane, then the app idle and drawn."""
    if pane is not None:
        await until(pilot, lambda: not pane.busy, what="no pending log batches")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()  # no delay: returns once the app has handled what is queued
    # Toasts expire on a timer: whether one is still up would depend on how fast the machine is.
    pilot.app.clear_notifications()
    await pilot.pause()


def test_main_screen(history, snap_compare) -> None:
    assert snap_compare(LauncherApp(history), terminal_size=SIZE, run_before=main_ready("run-b2"))


def test_log_pane_with_search(history, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await main_ready("run-a1")(pilot)
        pane = pilot.app.screen.query_one("#pane-selected", LogPane)
        pane.view.focus()
        await pilot.press("slash", *"step", "enter", "w")
        await until(pilot, lambda: pane.view.search == "step" and pane.view.wrap and pane.view.has_focus)
        await settled(pilot, pane)

    assert snap_compare(LauncherApp(history), terminal_size=SIZE, run_before=run_before)


def test_launch_form(history, git_job, snap_compare) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        await main_ready()(pilot)
        await pilot.press("n")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.resources and app.screen)
        # Which resources are usable depends on the machine (Docker, Ray); the picture should not.
        form.query_one("#resource-hint").display = False
        await pilot.press(*"gittrainer")
        await until(pilot, lambda: form.query("#param-epochs"))
        # A blinking cursor would be drawn or not depending on timing: keep it steadily drawn.
        job_input = form.query_one("#job")
        job_input.cursor_blink = False
        await until(pilot, lambda: job_input._cursor_visible)
        await until(pilot, lambda: form.query_one("#param-lr").placeholder == "default: 0.1",
                    what="the parameters' defaults")
        await settled(pilot)

    assert snap_compare(LauncherApp(history), terminal_size=(130, 44), run_before=run_before)


def test_help_screen(history, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await main_ready("run-b2")(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await settled(pilot)

    assert snap_compare(LauncherApp(history), terminal_size=(130, 50), run_before=run_before)


def test_queues_screen(workspace, code_job, utc, snap_compare) -> None:
    from launcher.queue import launch_add
    from tui.screens.queues import QueuesScreen

    workspace.queues.create("gpu")
    items = [
        launch_add(workspace, job="trainer", name="warmup", priority="high"),
        launch_add(workspace, job="trainer", name="baseline", entry_point=["python", "train.py", "5"]),
        launch_add(workspace, job="trainer", name="big", queue_name="gpu", priority="critical"),
        launch_add(workspace, job="trainer", name="later", priority="low"),
    ]
    workspace.queues.cancel_item(items[3].id)
    for index, item in enumerate(items):
        workspace.workspace.store.execute("UPDATE queue_items SET created_at=?, ended_at=NULL WHERE id=?",
                                (T0 + 60 * index, item.id))

    async def run_before(pilot) -> None:
        app = pilot.app
        app.sub_title = "~/workspace"
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded_at)
        await pilot.press("Q")
        await until(pilot, lambda: isinstance(app.screen, QueuesScreen) and app.screen.loaded)
        await settled(pilot)

    assert snap_compare(LauncherApp(workspace), terminal_size=SIZE, run_before=run_before)


def test_run_table_in_every_state(utc, snap_compare) -> None:
    """Each state in its own style; a preparing run shows its last set-up line where metrics show later."""
    from textual.app import App, ComposeResult

    from tui.widgets.run_table import RunTable

    messages = {RunState.PREPARING: "Installing torch==2.4.0 (3 of 5 packages)", RunState.FAILED: "exit code 3"}
    records = [run_record(f"run-{index}", state, name=f"exp-{state}", job="me/default/trainer:v0",
                          # An active run's duration moves with the clock: only ended runs have a start here.
                          created_at=T0 + index, started_at=T0 + index if state.is_terminal() else None,
                          ended_at=T0 + index + 42 if state.is_terminal() else None, message=messages.get(state),
                          exit_code={RunState.FINISHED: 0, RunState.FAILED: 3, RunState.STOPPED: -15}.get(state))
               for index, state in enumerate(RunState)]

    class TableApp(App):
        def compose(self) -> ComposeResult:
            yield RunTable()

        def on_mount(self) -> None:
            table = self.query_one(RunTable)
            table.load(records)
            table.set_metrics({"run-3": "acc=0.91 loss=0.31"})

    async def run_before(pilot) -> None:
        await pilot.pause()

    assert snap_compare(TableApp(), terminal_size=(150, 10), run_before=run_before)
