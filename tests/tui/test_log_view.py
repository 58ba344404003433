"""The log view on its own: bounded memory under a flood, wrap, only-matching lines, follow and pause."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from launcher.logfile import LogLine
from tui.widgets.log_view import LogView


class ViewApp(App):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=1000)


def lines(start: int, count: int, width: int = 20) -> list[LogLine]:
    return [LogLine("2026-01-01T00:00:00.000000Z", "stdout", f"line {i:06d} ".ljust(width, "x").encode())
            for i in range(start, start + count)]


def run(scenario) -> None:
    async def main() -> None:
        app = ViewApp()
        async with app.run_test(size=(60, 20)) as pilot:
            await scenario(pilot, app.query_one(LogView))

    asyncio.run(main())


def test_a_flood_keeps_a_bounded_tail_and_follows_the_end() -> None:
    async def scenario(pilot, view: LogView) -> None:
        for start in range(0, 12_000, 1500):
            view.append(lines(start, 1500))
            await pilot.pause()
        assert view.received == 12_000
        assert 1000 <= len(view.entries) <= 1100
        assert view.texts()[-1].startswith("line 011999")
        assert view.scroll_y == view.max_scroll_y  # following the end

    run(scenario)


def test_paused_view_counts_new_lines_and_keeps_its_place_when_old_lines_are_dropped() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.append(lines(0, 900))
        await pilot.pause()
        view.focus()
        await pilot.press("pageup")
        assert not view.follow
        top_line = view.texts()[int(view.scroll_y)]
        view.append(lines(900, 400))  # past max_lines + 10%: the oldest lines are dropped
        await pilot.pause()
        assert view.unseen == 400 and view.base > 0
        assert view.texts()[int(view.scroll_y)] == top_line
        await pilot.press("end")
        assert view.follow and view.unseen == 0 and view.scroll_y == view.max_scroll_y

    run(scenario)


def test_wrap_and_only_matching_lines_change_the_rows_not_the_lines() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.append(lines(0, 10, width=130))
        await pilot.pause()
        width = view.scrollable_content_region.width
        view.set_modes(wrap=True)
        assert view.row_count == 10 * -(-130 // width)
        view.set_modes(wrap=False, search="line 00000")
        assert view.row_count == 10 and view.match_rows() == list(range(10))
        view.set_modes(search="line 000003", only_matches=True)
        assert view.row_count == 1
        view.append(lines(10, 5, width=130))
        assert view.row_count == 1 and view.received == 15
        view.set_modes(only_matches=False)
        assert view.row_count == 15

    run(scenario)


def test_turning_only_matches_off_keeps_the_current_match_at_the_top() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.append(lines(0, 900))
        await pilot.pause()
        view.set_modes(search="line 0003")  # lines 300 to 399
        assert view.jump_to_match(forward=True) and view.jump_to_match(forward=True)
        assert view.texts()[int(view.scroll_y)].startswith("line 000301")
        view.set_modes(only_matches=True)
        await pilot.pause()
        assert view.row_count == 100 and int(view.scroll_y) == 1  # the same line, among the matches only
        view.scroll_to(y=5, animate=False, immediate=True)  # the reader moves on to line 305
        view.set_modes(only_matches=False)
        await pilot.pause()
        assert not view.follow and view.texts()[int(view.scroll_y)].startswith("line 000305")

    run(scenario)


FLOOD_PY = """\
import sys
sys.stdout.writelines(f"line {i:06d} of the flood\\n" for i in range(int(sys.argv[1])))
"""


def test_a_pane_far_behind_its_log_skips_to_the_tail_and_says_so(workspace, make_code_dir) -> None:
    from launcher.spec import merge_request
    from tests.tui.conftest import until
    from tui.widgets.log_pane import LogPane

    source = make_code_dir({"flood.py": FLOOD_PY})
    workspace.create_job("code", str(source), name="flood", entry_point=["python", "flood.py"])
    run_ = workspace.runs.submit(merge_request(job="flood", entry_point=["python", "flood.py", "60000"], run_id="flood"))
    run_.wait(timeout=60)

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield LogPane(workspace, "flood", max_lines=2000)

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(100, 20)) as pilot:
            pane = app.query_one(LogPane)
            await until(pilot, lambda: pane.state == "finished" and not pane.busy, what="the pane to catch up")
            view = pane.view
            texts = view.texts()
            assert texts[-1] == "line 059999 of the flood"
            assert view.received < 2000 and view.skipped > 55_000  # not 60,000 lines parsed and handed over
            assert any("lines" in t and "skipped" in t and "full log is on disk" in t for t in texts)
            status = str(pane.query_one(".log-status").render())
            assert f"(last {len(view.entries):,} shown, ctrl+s saves all)" in status
            # The lines after the skip are whole and in order.
            numbers = [int(t.split()[1]) for t in texts if t.startswith("line ")]
            assert numbers == list(range(numbers[0], 60_000))

    asyncio.run(main())
