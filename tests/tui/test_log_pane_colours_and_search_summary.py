"""The log pane shows a run's output as a terminal shows it (colour codes rendered, other escapes dropped,
progress bars at their last state, a stream column), and a search says what it found in the whole log."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from launcher.logfile import LogLine
from launcher.spec import merge_request
from tests.tui.conftest import until
from tui.widgets.log_pane import LogPane
from tui.widgets.log_view import MATCH_STYLE, LogView


class ViewApp(App):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=100)


def run_view(scenario) -> None:
    async def main() -> None:
        app = ViewApp()
        async with app.run_test(size=(60, 20)) as pilot:
            await scenario(pilot, app.query_one(LogView))

    asyncio.run(main())


def run_pane(workspace, run_id: str, scenario, max_lines: int = 50_000) -> None:
    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield LogPane(workspace, run_id, max_lines=max_lines)

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.query_one(LogPane)
            await until(pilot, lambda: pane.state == "finished" and not pane.busy, what="the pane to show the log")
            await scenario(pilot, app, pane)

    asyncio.run(main())


def finished_run(workspace, make_code_dir, program: str, run_id: str):
    source = make_code_dir({"prog.py": program})
    workspace.create_job("code", str(source), name=run_id, entry_point=["python", "prog.py"])
    run = workspace.runs.submit(merge_request(job=run_id, entry_point=["python", "prog.py"], run_id=run_id))
    run.wait(timeout=60)
    return run


# -- 2. colours and progress bars -------------------------------------------------------------------------
def test_colour_codes_are_rendered_and_other_escapes_dropped() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.append([LogLine("2026-01-01T00:00:00.000000Z", "stdout",
                             b"\x1b[31mred\x1b[0m and \x1b[1mbold\x1b[0m\x1b]0;title\x07\x1b[2K!"),
                     LogLine("2026-01-01T00:00:00.000000Z", "stderr", b"\x1b[32mgreen\x1b[0m on stderr")])
        await pilot.pause()
        assert view.texts() == ["red and bold!", "green on stderr"]
        first = view.render_line(0)
        assert first.text.rstrip() == "red and bold!"
        styles = {segment.text: segment.style for segment in first}
        assert styles["red"].color.number == 1 and styles["bold"].bold
        second = {segment.text: segment.style for segment in view.render_line(1)}
        # The line's own colour wins over the stream's (yellow for stderr), which colours the rest.
        assert second["green"].color.number == 2 and second[" on stderr"].color.name == "yellow"
        # Search matches and highlights the visible text, not the codes.
        view.set_modes(search="red and")
        assert view.match_count() == 1
        highlighted = [s for s in view.render_line(0) if s.style and s.style.bgcolor == MATCH_STYLE.bgcolor]
        assert "".join(s.text for s in highlighted) == "red and"
        view.set_modes(search="31m")
        assert view.match_count() == 0
        # Wrapping counts the visible columns: 120 of them, behind 40 bytes of colour codes.
        view.clear()
        view.append([LogLine("2026-01-01T00:00:00.000000Z", "stdout", b"\x1b[1;34m" + b"0123456789\x1b[0m" * 12)])
        view.set_modes(search="", wrap=True, timestamps=True)
        width = view._content_width
        assert view.row_count == -(-120 // width)
        rows = [view.render_line(y).text for y in range(view.row_count)]
        assert "".join(row[13:].rstrip() for row in rows) == "0123456789" * 12
        assert rows[0][2] == ":" and rows[0][12] == " " and rows[1][:13] == " " * 13  # time of day, then indent

    run_view(scenario)


PROGRESS_PY = r"""
import sys
print("\x1b[31mred error\x1b[0m and \x1b[1mbold\x1b[0m", flush=True)
for i in range(0, 101, 10):
    sys.stderr.write(f"\rprogress {i:3d}% |{'#' * (i // 10):10s}|")
    sys.stderr.flush()
sys.stderr.write("\r\n")
print("epoch 1\r", flush=True)
print("plain\tline", flush=True)
"""


def test_a_run_with_colours_and_a_progress_bar_shows_what_a_terminal_shows(workspace, make_code_dir) -> None:
    finished_run(workspace, make_code_dir, PROGRESS_PY, "progress")

    async def scenario(pilot, app, pane: LogPane) -> None:
        texts = pane.view.texts()  # stdout and stderr are captured apart: their relative order may vary
        expected = ["red error and bold", "progress 100% |##########|", "epoch 1", "plain   line"]
        assert [text for text in texts if text in expected] == sorted(expected, key=texts.index)
        # Each row: the stream column (E for stderr, blank for stdout), then the text as a terminal shows it.
        rows = [pane.view.render_line(y).text.rstrip() for y in range(len(texts))]
        assert not any("\ufffd" in text or "\x1b" in text for text in rows)
        assert set(expected) <= {row[2:] for row in rows}
        assert "E progress 100% |##########|" in rows and "  red error and bold" in rows

    run_pane(workspace, "progress", scenario)


# -- 3. search feedback -----------------------------------------------------------------------------------
MANY_PY = """\
for i in range(3000):
    print(f"line {i:04d}" + (" needle" if i % 100 == 0 else ""), flush=False)
"""


def test_enter_in_the_search_box_counts_the_matching_lines_of_the_whole_log_not_only_the_kept_ones(
        workspace, make_code_dir) -> None:
    finished_run(workspace, make_code_dir, MANY_PY, "many")

    async def scenario(pilot, app, pane: LogPane) -> None:
        view = pane.view
        assert view.dropped > 0  # the pane keeps 1000 lines (up to 1100) of 3000
        assert sum("needle" in text for text in view.texts()) < 30
        view.focus()
        await pilot.press("slash", *"needle", "enter")
        message = await until(pilot, lambda: next((n.message for n in app._notifications if "match" in n.message),
                                                   None), what="the search summary")
        assert message == "30 of 3,000 lines match 'needle'"  # the file on disk, not the 1,000 kept lines
        await pilot.press("slash", "ctrl+u", *"haystack", "enter")
        await until(pilot, lambda: any(n.message == "no match for 'haystack' in 3,000 lines" for n in app._notifications),
                    what="the no-match summary")

    run_pane(workspace, "many", scenario, max_lines=1000)


def test_a_search_of_a_whole_log_does_not_warn_about_dropped_lines(workspace, make_code_dir) -> None:
    finished_run(workspace, make_code_dir, MANY_PY, "whole")

    async def scenario(pilot, app, pane: LogPane) -> None:
        pane.view.focus()
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: any(n.message == "30 of 3,000 lines match 'needle'" for n in app._notifications),
                    what="the search summary")

    run_pane(workspace, "whole", scenario)
