"""The log pane's stream filter (`e`: all, stdout, stderr), its stream column (a letter, not only a colour),
and `m`, which hides `@metrics {json}` lines; the whole-log search covers only what they let show."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from launcher.logsearch import StreamFilter
from launcher.spec import merge_request
from tests.tui.conftest import until
from tui.widgets.log_pane import LogPane

MIXED_PY = """\
import json, sys
for i in range(30):
    print(f"out {i}", flush=True)
    print(f"err {i} loss rising", file=sys.stderr, flush=True)
    print("@metrics " + json.dumps({"loss": 1 / (i + 1), "step": i}), flush=True)
"""


def test_e_cycles_the_streams_shown_m_hides_metrics_lines_and_search_follows_them(workspace, make_code_dir) -> None:
    source = make_code_dir({"mixed.py": MIXED_PY})
    workspace.create_job("code", str(source), name="mixed", entry_point=["python", "mixed.py"])
    workspace.runs.submit(merge_request(job="mixed", run_id="mixed")).wait(timeout=60)

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield LogPane(workspace, "mixed")

    async def scenario(pilot, pane: LogPane) -> None:
        view = pane.view
        status = lambda: str(pane.query_one(".log-status").render())  # noqa: E731
        shown = lambda: [(entry[1], entry[2].decode()) for entry in view.shown_entries()]  # noqa: E731
        await until(pilot, lambda: pane.state == "finished" and not pane.busy, what="the log")
        assert len(shown()) == 90
        # The stream column: E for every stderr row, blank for stdout; the text starts after it.
        assert view.scroll_y == 0  # all 90 lines on screen
        rows = [view.render_line(y).text.rstrip() for y in range(90)]
        assert sorted(row for row in rows if row.startswith("E ")) == sorted(f"E err {i} loss rising" for i in range(30))
        assert sorted(row for row in rows if row.startswith("  out")) == sorted(f"  out {i}" for i in range(30))

        view.focus()
        await pilot.press("e")
        assert view.line_filter.streams is StreamFilter.STDOUT and "stdout only" in status()
        assert {stream for stream, _ in shown()} == {"stdout"} and len(shown()) == 60
        await pilot.press("e")
        assert {stream for stream, _ in shown()} == {"stderr"} and len(shown()) == 30
        await pilot.press("e")
        assert view.line_filter.streams is StreamFilter.ALL and len(shown()) == 90

        await pilot.press("m")
        assert "@metrics hidden" in status()
        assert not any(text.startswith("@metrics") for _, text in shown()) and len(shown()) == 60
        # "loss" is on every stderr line and every metrics line: with metrics hidden, 30 lines match.
        await pilot.press("slash", *"loss", "enter")
        await until(pilot, lambda: any(n.message == "30 of 90 lines match 'loss'" for n in app._notifications),
                    what="the count without metrics lines")
        await pilot.press("m")  # metrics shown again: the search covers them too
        await until(pilot, lambda: "60 matching lines" in status(), what="the count with metrics lines")
        await pilot.press("e")  # stdout only: the metrics lines are the matches
        await until(pilot, lambda: "30 matching lines" in status(), what="the count on stdout")
        await pilot.press("m")
        await until(pilot, lambda: "search loss: no match" in status().replace("  ", " "), what="no match left")

    app = PaneApp()

    async def main() -> None:
        async with app.run_test(size=(100, 100)) as pilot:
            await scenario(pilot, app.query_one(LogPane))

    asyncio.run(main())
