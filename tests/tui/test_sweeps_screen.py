"""The sweeps screen: an ended sweep keeps its end (it is not offered pause, resume or cancel, and the
keys say why), a sweep whose trials all failed shows failed, and the screen fits 80 columns."""

from __future__ import annotations

from textual.widgets import DataTable

from launcher.states import ItemState, SweepState
from tests.tui.conftest import drive, notified, palette_titles, sweeps_screen, until
from tests.tui.test_queues import main_screen, table_column
from tests.waiting import wait_for
from tui.app import LauncherApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.sweeps import SWEEP_COLUMNS, TRIAL_COLUMNS, SweepsScreen


def test_an_ended_sweep_is_not_offered_pause_resume_or_cancel(workspace, worker_job, side_agent) -> None:
    sweep = workspace.sweeps.create({"job": "worker", "parameters": {"losses": [[0.5]]}, "name": "done-one"})
    side_agent(["default"])
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        screen = await sweeps_screen(pilot)
        await until(pilot, lambda: table_column(screen, "#sweeps", 2) == ["finished"], timeout=60,
                    what="the sweep finished")
        assert not any(t.startswith(("Cancel sweep", "Pause sweep", "Resume sweep", "Pause", "Resume"))
                       for t in palette_titles(app)), palette_titles(app)
        assert f"Runs of sweep {sweep.id}" in palette_titles(app)
        await pilot.press("c")
        await until(pilot, lambda: notified(app, f"sweep {sweep.id} is finished: its trials have all ended; "
                                                 "it cannot be moved to cancelled"), what="why it is not cancelled")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("p")
        await until(pilot, lambda: notified(app, "its trials have all ended; it cannot be moved to paused"), what="why it is not paused")
        await pilot.pause()
        assert table_column(screen, "#sweeps", 2) == ["finished"]

    drive(app, scenario)
    assert workspace.sweeps.get(sweep.id).state is SweepState.FINISHED


def test_a_sweep_whose_trials_all_failed_shows_failed(workspace, make_code_dir) -> None:
    workspace.create_job("code", str(make_code_dir({"fail.py": "import sys\nsys.exit(5)\n"})), name="fails",
                         entry_point=["python", "fail.py"])
    sweep = workspace.sweeps.create({"job": "fails", "name": "doomed", "parameters": {"n": [1, 2]}})
    agent = workspace.queues.agent(["default"], 2, poll_seconds=0.1)
    agent.start()
    try:
        wait_for(lambda: workspace.sweeps.get(sweep.id).counts[ItemState.FAILED] == 2, timeout=60,
                 what="both trials to fail")
    finally:
        agent.stop("stop")
        assert agent.join(60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        await pilot.press("W")
        sweeps = await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded and app.screen)
        assert table_column(sweeps, "#sweeps", 2) == ["failed"]
        assert "doomed, failed" in str(sweeps.query_one("#trials-title").render())

    drive(app, scenario)


def test_the_sweeps_screen_fits_80_columns_with_its_counts_and_reason(workspace, worker_job) -> None:
    workspace.sweeps.create({"job": "worker", "parameters": {"losses": [[0.5], [0.25]]}, "name": "narrow",
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
