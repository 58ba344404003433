"""A log view that keeps a bounded tail: following survives the pruning of old lines (the end of the view
moves up as lines are dropped), and a reader who scrolled up stays paused, with new lines counted, until End."""

from __future__ import annotations

import asyncio

from textual import events
from textual.app import App, ComposeResult

from launcher.logfile import LogLine
from tests.tui.conftest import until
from tui.widgets.log_view import LogView


class ViewApp(App):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=100)


def lines(start: int, count: int) -> list[LogLine]:
    return [LogLine("2026-01-01T00:00:00.000000Z", "stdout", f"line {i:06d}".encode()) for i in range(start, start + count)]


def run_view(scenario) -> None:
    async def main() -> None:
        app = ViewApp()
        async with app.run_test(size=(60, 20)) as pilot:
            await scenario(pilot, app.query_one(LogView))

    asyncio.run(main())


def test_a_following_view_keeps_following_while_old_lines_are_dropped() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.focus()
        shrunk = 0
        # Batches of 7 lines: a prune (past 110 lines) leaves fewer rows than the view had before the batch,
        # so the end of the view moves up, as it does in a real flood.
        for start in range(0, 2100, 7):
            before = view.row_count
            view.append(lines(start, 7))
            shrunk += view.row_count < before
            await pilot.pause()
            assert view.follow, f"stopped following after {start + 7} lines"
            assert view.scroll_y == view.max_scroll_y
        assert shrunk > 10 and view.base > 1900 and view.texts()[-1] == "line 002099"

    run_view(scenario)


def test_the_reader_scrolling_up_still_pauses_and_end_resumes() -> None:
    async def scenario(pilot, view: LogView) -> None:
        view.focus()
        view.append(lines(0, 95))
        await pilot.pause()
        for pause in ("pageup", "k", "up", "mouse"):
            assert view.follow and view.scroll_y == view.max_scroll_y
            if pause == "mouse":
                view.post_message(events.MouseScrollUp(view, 1, 1, 0, -1, 0, False, False, False))
                await until(pilot, lambda: not view.follow, what="the mouse wheel to pause")
            else:
                await pilot.press(pause)
            assert not view.follow, pause
            view.append(lines(95, 30))  # pruned while paused: the reader keeps their place
            await pilot.pause()
            assert not view.follow and view.unseen == 30, pause
            await pilot.press("end")
            assert view.follow and view.unseen == 0 and view.scroll_y == view.max_scroll_y

    run_view(scenario)
