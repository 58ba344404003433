"""The run table's sort order and header, relaunching a git run at the commit it ran, and the run details
reading only new metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from launcher.spec import merge_request
from launcher.states import RunState
from tests.tui.conftest import drive, run_record, until
from tui.app import LauncherApp
from tui.screens.launch_form import LaunchForm
from tui.screens.main import MainScreen
from tui.screens.run_details import RunDetailsScreen
from tui.widgets.run_table import RunTable


async def main_screen(pilot) -> MainScreen:
    return await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.loaded_at
                       and pilot.app.screen, what="the main screen")


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield RunTable()


def test_state_sorts_by_lifecycle_and_the_header_shows_the_sort_column_and_direction() -> None:
    states = [RunState.STOPPED, RunState.FINISHED, RunState.PREPARING, RunState.START_FAILED, RunState.RUNNING,
              RunState.FAILED, RunState.STARTING]
    assert set(states) == set(RunState)
    records = [run_record(f"r{i}", state, created_at=100.0 + i) for i, state in enumerate(states)]
    lifecycle = [RunState.STARTING, RunState.PREPARING, RunState.RUNNING, RunState.FINISHED, RunState.FAILED,
                 RunState.STOPPED, RunState.START_FAILED]
    app = TableApp()

    async def scenario(pilot) -> None:
        table = app.query_one(RunTable)
        table.load(records)
        await pilot.pause()
        assert "STARTED ▼" not in header(table) and "▼" not in header(table)  # newest first: no column
        table.action_sort("state")
        assert [table.records[r].state for r in table.visible_run_ids] == lifecycle
        await pilot.pause()
        assert "STATE ▲" in header(table)
        table.action_sort("state")
        assert [table.records[r].state for r in table.visible_run_ids] == list(reversed(lifecycle))
        await pilot.pause()
        assert "STATE ▼" in header(table) and "ID ▲" not in header(table)
        table.action_sort("id")
        await pilot.pause()
        assert "ID ▲" in header(table) and "STATE ▼" not in header(table)

    drive(app, scenario, size=(160, 20))


def test_sorting_by_sweep_groups_a_sweeps_runs() -> None:
    records = [run_record(f"r{i}", created_at=100.0 + i, sweep_id=sweep)
               for i, sweep in enumerate(["s2", None, "s1", "s2", "s1", None])]
    app = TableApp()

    async def scenario(pilot) -> None:
        table = app.query_one(RunTable)
        table.load(records)
        table.action_sort("sweep")
        assert table.visible_run_ids == ["r1", "r5", "r2", "r4", "r0", "r3"]
        assert [table.get_row(r)[3] for r in table.visible_run_ids] == ["-", "-", "s1", "s1", "s2", "s2"]
        await pilot.pause()
        assert "SWEEP ▲" in header(table)

    drive(app, scenario, size=(160, 20))


def test_a_narrow_terminal_drops_the_less_needed_columns_and_keeps_state_and_exit_in_view() -> None:
    records = [run_record("r1", RunState.FAILED, name="a-rather-long-run-name", job="team/project/classifier:v3",
                          exit_code=3, started_at=101.0, ended_at=150.0)]
    app = TableApp()

    async def scenario(pilot) -> None:
        table = app.query_one(RunTable)
        table.load(records)
        await pilot.pause()
        width = table.scrollable_content_region.width
        titles = header(table).split()
        assert titles[:5] == ["ID", "NAME", "JOB", "STATE", "EXIT"] and "RESOURCE" not in titles
        row = "".join(segment.text for segment in table.render_line(1))
        assert len(row) == width and "failed" in row and " 3 " in row
        assert " …classifier:v3 " in row  # a job is cut at its start: its name and version stay
        assert table.virtual_size.width <= width  # nothing to scroll sideways for
        table.action_sort("state")  # hidden columns still sort and filter
        table.set_filter("local-process")
        assert table.visible_run_ids == ["r1"]

    drive(app, scenario, size=(80, 24))


def header(table: RunTable) -> str:
    return "".join(segment.text for segment in table.render_line(0))


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)


def test_relaunching_a_git_run_pins_the_commit_it_ran_and_names_the_branch(workspace, git_job, tmp_path) -> None:
    run = workspace.runs.submit(merge_request(job="gittrainer", version="main", run_id="atmain"))
    run.wait(timeout=90)
    commit = run.spec.source["commit"]
    repo = tmp_path / "gitrepo"
    (repo / "train.py").write_text("print('the branch moved on')\n")
    git(repo, "commit", "-qam", "second")
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        await until(pilot, lambda: main.table.selected_run_id == "atmain")
        await pilot.press("r")
        form = await until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen, what="the form")
        version = form.query_one("#version", Input)
        await until(pilot, lambda: version.value == commit, what="the pinned commit")
        hint = form.query_one("#version-hint", Static)
        assert hint.display and "'main'" in str(hint.render())

    drive(app, scenario)


METRICS_PY = """\
import json, os, sys, time
def report(step, loss):
    print("@metrics " + json.dumps({"loss": loss, "step": step}), flush=True)
for step in range(3):
    report(step, 1.0 / (step + 1))
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
report(3, 0.125)
while not os.path.exists(sys.argv[1] + ".end"):
    time.sleep(0.02)
"""


def test_details_of_an_active_run_read_its_metrics_whole_only_when_they_change(
        workspace, make_code_dir, tmp_path) -> None:
    source = make_code_dir({"metrics.py": METRICS_PY})
    workspace.create_job("code", str(source), name="reporter", entry_point=["python", "metrics.py"])
    gate = tmp_path / "gate"
    run = workspace.runs.submit(merge_request(job="reporter", entry_point=["python", "metrics.py", str(gate)],
                                          run_id="live"))
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        app.action_details("live")
        details = await until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and app.screen)
        await until(pilot, lambda: details.charts.get("loss") == 3, what="the first three points")
        # The first read may come before the program has reported all three (it starts slower than the
        # app on a busy machine): count from here.
        first, reads = details.loads, details._series.full_reads
        await until(pilot, lambda: details.loads >= first + 3, what="three more refreshes")
        assert details._series.full_reads == reads  # nothing new: the points were not read again
        gate.write_text("go")
        await until(pilot, lambda: details.charts.get("loss") == 4, what="the new point")
        label = str(details.query_one("#metric-loss-label").render())
        assert "0.125" in label and "step 3" in label and "4 points" in label
        assert details._series.points["loss"][-1].value == 0.125
        assert details._series.full_reads <= reads + 1

    try:
        drive(app, scenario)
    finally:
        gate.write_text("go")
        Path(str(gate) + ".end").write_text("end")
        run.wait(timeout=60)
    assert json.loads(json.dumps(run.state)) == "finished"


FLOOD_THEN_WAIT_PY = """\
import json, os, sys, time
print("@metrics " + json.dumps({"loss": 0.5, "step": 0}), flush=True)
sys.stdout.writelines(f"line {i:07d} " + "y" * 90 + "\\n" for i in range(40000))
sys.stdout.flush()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
print("@metrics " + json.dumps({"loss": 0.25, "step": 1}), flush=True)
"""


def test_the_table_reads_a_flooding_runs_metrics_once_it_slows_down(workspace, make_code_dir, tmp_path) -> None:
    from tests.waiting import wait_for
    from tui.live_metrics import FLOOD_BYTES_PER_SECOND, LatestMetrics

    source = make_code_dir({"flood.py": FLOOD_THEN_WAIT_PY})
    workspace.create_job("code", str(source), name="flooder", entry_point=["python", "flood.py"])
    gate = tmp_path / "gate"
    run = workspace.runs.submit(merge_request(job="flooder", entry_point=["python", "flood.py", str(gate)], run_id="fl"))
    try:
        wait_for(lambda: run.log_path.exists() and run.log_path.stat().st_size > 1.5 * FLOOD_BYTES_PER_SECOND,
                 what="the flood on disk")
        metrics = LatestMetrics(workspace)
        metrics.note(workspace.runs())
        assert metrics.refresh(["fl"]) == {} and metrics.deferred == {"fl"}  # its log grew too fast to index now
    finally:
        gate.write_text("go")
    run.wait(timeout=60)
    metrics.note(workspace.runs())
    texts: dict[str, str] = {}
    wait_for(lambda: texts.update(metrics.refresh(["fl"])) or texts.get("fl") == "loss=0.25",
             what="the metrics once the run ended")
    assert metrics.deferred == set()


def test_details_name_the_image_built_for_a_container_run(workspace) -> None:
    from rich.console import Console

    from tui.screens.run_details import details_table

    record = run_record("c1", exit_code=0, resource="local-container",
                        spec={"job": "me/default/trainer:v0", "argv": ["python", "train.py"], "source": {}},
                        handle={"image": "launcher/trainer:0123456789abcdef0123"})
    image = workspace.runs.image(record)  # read through the container runner's handle
    assert image == "launcher/trainer:0123456789abcdef0123"
    console = Console(width=120, record=True)
    console.print(details_table(record, [], None, None, image))
    assert "launcher/trainer:0123456789abcdef0123" in console.export_text()
    assert workspace.runs.image(run_record("p1", handle={"image": "x"})) is None  # not a container run


SETUP_LINE = "Installing torch==2.4.0 (3 of 5 packages)"


def test_a_preparing_run_shows_its_own_state_style_and_its_last_set_up_line_in_the_table_and_details() -> None:
    from rich.console import Console

    from tui import formatting
    from tui.screens.run_details import details_table

    preparing = run_record("prep1", RunState.PREPARING, message=SETUP_LINE, created_at=200.0)
    # A style of its own, unlike every other state's.
    others = {formatting.STATE_STYLES[state] for state in RunState if state is not RunState.PREPARING}
    assert formatting.STATE_STYLES[RunState.PREPARING] not in others
    app = TableApp()

    async def scenario(pilot) -> None:
        table = app.query_one(RunTable)
        table.load([preparing, run_record("done1", RunState.FINISHED, message="ignored", created_at=100.0)])
        table.set_metrics({"done1": "loss=0.5"})
        await pilot.pause()
        cells = table.get_row("prep1")
        assert str(cells[5]) == "preparing" and cells[5].style == formatting.STATE_STYLES[RunState.PREPARING]
        assert str(cells[9]) == SETUP_LINE  # where metrics show once it runs
        assert table.get_row("done1")[9] == "loss=0.5"
        row = "".join(segment.text for segment in table.render_line(1))
        assert "preparing" in row and "Installing torch" in row
        table.set_filter("installing torch")  # the set-up line is searchable like any cell
        assert table.visible_run_ids == ["prep1"]

    drive(app, scenario, size=(200, 10))
    console = Console(width=120, record=True)
    console.print(details_table(preparing, []))
    text = console.export_text()
    assert "preparing" in text and re.search(rf"set-up\s+{re.escape(SETUP_LINE)}", text), text
