"""The log pane over a 1,000,000-line run: its line count is exactly what `launcher logs RUN | wc -l`
counts, live and reopened, and its search covers the whole file on disk: a match in the first 100 lines,
long dropped from the pane, is found and jumped to, n/N go anywhere in the file, `f` shows the matching
lines of the whole log, and End comes back to the end."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from launcher.spec import merge_request
from tests.tui.conftest import cli, until
from tui.widgets.log_pane import LogPane

MILLION = 1_000_000
#: Lines of about 60 bytes; `needle` on three lines: near the start, in the middle, and near the end (kept
#: in the pane), `pin` near the start only.
FLOOD_PY = """\
import sys
write = sys.stdout.write
needles = {50: " needle pin", 500_000: " needle", 999_990: " needle"}
for i in range(int(sys.argv[1])):
    write(f"line {i:07d} loss=0.{i % 9973:04d} the quick brown fox{needles.get(i, '')}\\n")
"""


def flood_run(workspace, make_code_dir, run_id: str):
    source = make_code_dir({"flood.py": FLOOD_PY})
    workspace.create_job("code", str(source), name=run_id, entry_point=["python", "flood.py"])
    return workspace.runs.submit(merge_request(job=run_id, entry_point=["python", "flood.py", str(MILLION)], run_id=run_id))


def cli_line_count(run_id: str) -> int:
    """What `launcher logs RUN | wc -l` prints."""
    result = cli("logs", run_id)
    assert result.returncode == 0, result.stderr
    return result.stdout.count("\n")


def drive_pane(workspace, scenario, run_id: str | None = None) -> None:
    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield LogPane(workspace, run_id)

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(120, 30)) as pilot:
            await scenario(pilot, app, app.query_one(LogPane))

    asyncio.run(main())


def status_of(pane: LogPane) -> str:
    return str(pane.query_one(".log-status").render())


def test_a_million_line_run_is_counted_exactly_live_and_when_reopened(workspace, make_code_dir) -> None:
    async def scenario(pilot, app, pane: LogPane) -> None:
        run = flood_run(workspace, make_code_dir, "counted")
        pane.show_run("counted")  # live: the pane follows the flood, and skips to keep up with it
        await until(pilot, lambda: pane.state == "finished" and not pane.busy, timeout=120, what="the live pane")
        expected = cli_line_count("counted")
        assert expected == MILLION
        assert pane.view.skipped > 0  # it did skip: the count covers lines it never parsed
        assert pane.line_count == expected, "live"
        assert f"{MILLION:,} lines" in status_of(pane)
        assert run.state == "finished"

        pane.show_run("counted", force=True)  # reopened: a finished log read from the start
        await until(pilot, lambda: pane.state == "finished" and not pane.busy, timeout=120, what="the reopened pane")
        assert pane.line_count == expected, "reopened"
        assert pane.view.texts()[-1].startswith(f"line {MILLION - 1:07d}")

    drive_pane(workspace, scenario)


def test_a_search_of_a_million_line_log_finds_a_match_in_its_first_hundred_lines_and_goes_anywhere(
        workspace, make_code_dir) -> None:
    flood_run(workspace, make_code_dir, "searched").wait(timeout=120)

    async def scenario(pilot, app, pane: LogPane) -> None:
        view = pane.view
        await until(pilot, lambda: pane.state == "finished" and not pane.busy, timeout=120, what="the pane")
        assert view.index_of_line(50) is None  # long dropped: the pane keeps the last lines only
        view.focus()
        # The only match is at line 50: nothing after the end, so the search wraps around to it.
        await pilot.press("slash", *"pin", "enter")
        await until(pilot, lambda: view.top_line == 50, timeout=30, what="the jump to line 50")
        assert view.texts()[view.index_of_line(50)] == "line 0000050 loss=0.0050 the quick brown fox needle pin"
        assert view.detached and not view.follow  # a window read from the file, not the end of the log
        await until(pilot, lambda: any(n.message == f"1 of {MILLION:,} lines match 'pin'"
                                       for n in app._notifications), what="the whole-file count")

        await pilot.press("slash", "ctrl+u", *"needle", "enter")  # the next match after line 50
        await until(pilot, lambda: view.top_line == 500_000, what="the jump to line 500,000")
        await until(pilot, lambda: "2 of 3 matching lines" in status_of(pane), what="the match's rank")
        await pilot.press("n")  # the last one, among the lines the pane kept from the end
        # Near the end of the log: on screen, though not at the top (there are not enough lines after it).
        await until(pilot, lambda: pane.current_match == 999_990 and view.on_screen(999_990), what="n to the last match")
        assert "3 of 3 matching lines" in status_of(pane)
        await pilot.press("n")  # around to the first again
        await until(pilot, lambda: view.top_line == 50, what="n to wrap around")
        assert "1 of 3 matching lines" in status_of(pane)
        await pilot.press("N")  # back around to the last one
        await until(pilot, lambda: pane.current_match == 999_990 and view.on_screen(999_990),
                    what="N to wrap around backwards")

        await pilot.press("f")  # only matching lines: those of the whole log, not of a window
        await until(pilot, lambda: view.row_count == 3 and view.line_range == (50, 999_990),
                    what="the three matching lines of the whole log")
        await pilot.press("f")
        await until(pilot, lambda: view.row_count > 3 and view.index_of_line(view.top_line + 1) is not None,
                    what="the lines around the match again")

        await pilot.press("end")  # back to the end of the log, following it
        await until(pilot, lambda: not view.detached and view.follow and not pane.busy, what="the end again")
        assert view.texts()[-1].startswith(f"line {MILLION - 1:07d}")
        assert pane.line_count == MILLION
        assert "search needle" in status_of(pane).replace(":", "")

    drive_pane(workspace, scenario, "searched")


GATED_PY = """\
import os, sys, time
for i in range(200):
    print(f"early {i}" + (" needle" if i == 10 else ""), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
for i in range(200):
    print(f"late {i}" + (" needle" if i == 150 else ""), flush=True)
"""


def test_a_search_of_a_live_run_covers_what_has_arrived_and_then_what_arrives(workspace, make_code_dir,
                                                                               tmp_path) -> None:
    gate = tmp_path / "gate"
    source = make_code_dir({"gated.py": GATED_PY})
    workspace.create_job("code", str(source), name="gated", entry_point=["python", "gated.py"])
    run = workspace.runs.submit(merge_request(job="gated", entry_point=["python", "gated.py", str(gate)], run_id="gated"))

    async def scenario(pilot, app, pane: LogPane) -> None:
        view = pane.view
        await until(pilot, lambda: pane.line_count == 200, what="the first lines")
        view.focus()
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: any(n.message == "1 of 200 lines match 'needle'" for n in app._notifications),
                    what="the count of what has arrived")
        assert pane.current_match == 10 and pane.state == "running"
        gate.touch()
        run.wait(timeout=60)
        await until(pilot, lambda: "2 matching lines" in status_of(pane), what="the match that arrived later")
        await pilot.press("n")
        await until(pilot, lambda: pane.current_match == 350 and view.on_screen(350), what="n to the new match")
        assert view.texts()[view.index_of_line(350)] == "late 150 needle"
        await until(pilot, lambda: not pane.busy, what="the pane to settle")
        assert pane.line_count == 400

    drive_pane(workspace, scenario, "gated")
