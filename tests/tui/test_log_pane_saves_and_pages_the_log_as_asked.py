"""Saving a run's log keeps the launcher's own notes, with or without timestamps and stream markers, and `o`
hands the terminal to $PAGER with the log as the pane shows it (driven in a real terminal: a pty)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input

from launcher.logfile import iter_lines
from launcher.logtext import visible_text
from launcher.spec import merge_request
from tests.tui.conftest import cli, until
from tests.waiting import wait_for
from tui.widgets.log_pane import LogPane
from tui.widgets.log_save_dialog import SaveLogDialog

CANCELLED_PY = """\
import sys, time
for i in range(5):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
print("ready", flush=True)
time.sleep(120)
"""
SHOWN_PY = r"""
import sys
print("\x1b[32mgreen\x1b[0m text", flush=True)
sys.stderr.write("progress 50%\rprogress 100%\n")
sys.stderr.flush()
print("tab\there", flush=True)
"""
#: A pager that keeps what it was given, and whether it had the terminal.
PAGER_PY = """\
import os, shutil, sys
shutil.copy(sys.argv[-1], os.environ["PAGED_COPY"] + ".part")
os.replace(os.environ["PAGED_COPY"] + ".part", os.environ["PAGED_COPY"])
with open(os.environ["PAGED_COPY"] + ".tty", "w") as f:
    f.write(str(os.isatty(0) and os.isatty(1)))
"""


def a_run(workspace, make_code_dir, run_id: str, program: str):
    source = make_code_dir({"prog.py": program})
    workspace.create_job("code", str(source), name=run_id, entry_point=["python", "prog.py"])
    return workspace.runs.submit(merge_request(job=run_id, run_id=run_id))


def pane_app(workspace, run_id: str) -> App:
    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield LogPane(workspace, run_id)

    return PaneApp()


def test_saving_keeps_the_launchers_notes_with_or_without_timestamps_and_markers(
        workspace, make_code_dir, tmp_path: Path) -> None:
    run = a_run(workspace, make_code_dir, "noted", CANCELLED_PY)
    wait_for(lambda: "ready" in run.get_logs(), what="the program's output")
    run.cancel(grace_period=1)  # the launcher notes the cancel in the log
    lines = list(iter_lines(run.log_path))
    assert any(line.stream == "launcher" for line in lines)
    plain, marked = tmp_path / "plain.log", tmp_path / "marked.log"
    app = pane_app(workspace, "noted")

    async def save(pilot, path: Path, *options: str) -> None:
        await pilot.press("ctrl+s")
        dialog = await until(pilot, lambda: isinstance(app.screen, SaveLogDialog) and app.screen, what="the dialog")
        for option in options:
            await pilot.click(option)
        dialog.query_one(Input).value = str(path)
        dialog.query_one(Input).focus()
        await pilot.press("enter")
        await until(pilot, path.exists, what=f"{path.name} saved")
        await until(pilot, lambda: any(str(path) in n.message for n in app._notifications), what="the saved note")

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(LogPane)
            await until(pilot, lambda: pane.state == "stopped" and not pane.busy, what="the log")
            pane.view.focus()
            await save(pilot, plain)
            await save(pilot, marked, "#save-timestamps", "#save-markers")

    asyncio.run(main())
    # Without options: what `launcher logs RUN` prints, the notes as [launcher] lines.
    assert plain.read_text() == cli("logs", "noted").stdout
    assert "[launcher] cancel requested" in plain.read_text()
    # With both: each line's arrival time (UTC, as in the file) and its stream letter.
    letters = {"stdout": "O", "stderr": "E", "launcher": "L"}
    assert marked.read_text() == "".join(f"{line.timestamp} {letters[line.stream]} {line.text}\n" for line in lines)


def test_o_hands_the_terminal_to_the_pager_with_the_log_as_the_pane_shows_it(
        workspace, make_code_dir, tmp_path: Path) -> None:
    run = a_run(workspace, make_code_dir, "paged", SHOWN_PY)
    run.wait(timeout=60)
    markers = {"stdout": "  ", "stderr": "E ", "launcher": "L "}
    expected = "".join(markers[line.stream] + visible_text(line.data) + "\n" for line in iter_lines(run.log_path))
    assert "  green text\n" in expected and "E progress 100%\n" in expected
    pager = tmp_path / "pager.py"
    pager.write_text(PAGER_PY)
    copy = tmp_path / "paged.txt"
    env = {**os.environ, "PAGER": f"{sys.executable} {pager}", "PAGED_COPY": str(copy), "TERM": "xterm-256color"}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    app = subprocess.Popen([sys.executable, "-m", "launcher.cli.main"], stdin=slave, stdout=slave, stderr=slave,
                           env=env, start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def read_screen() -> None:  # the terminal's side: drained all along, or the app would block on it
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    reader = threading.Thread(target=read_screen, daemon=True)
    reader.start()
    try:
        wait_for(lambda: b"following" in screen, timeout=60, what="the app to show the run's log")
        os.write(master, b"\t")  # focus to the log pane
        os.write(master, b"o")
        wait_for(copy.exists, timeout=60, what="the pager to run")
        assert copy.read_text() == expected
        wait_for(lambda: Path(f"{copy}.tty").exists(), what="the pager's note")
        assert Path(f"{copy}.tty").read_text() == "True"  # it had the terminal
        # Keys typed before the app has the terminal back are the pager's (or dropped when the app resumes):
        # wait until it draws again.
        drawn = len(screen)
        wait_for(lambda: b"following" in screen[drawn:], timeout=60, what="the app to draw again after the pager")
        os.write(master, b"\x11")  # ctrl+q: the app came back from the pager and quits
        assert app.wait(timeout=30) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=10)
        os.close(master)
        reader.join(timeout=10)


def test_without_a_terminal_to_hand_over_o_says_where_the_shown_log_is(workspace, make_code_dir) -> None:
    a_run(workspace, make_code_dir, "headless", SHOWN_PY).wait(timeout=60)
    app = pane_app(workspace, "headless")

    async def main() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.query_one(LogPane)
            await until(pilot, lambda: pane.state == "finished" and not pane.busy, what="the log")
            pane.view.focus()
            await pilot.press("o")
            message = await until(pilot, lambda: next((n.message for n in app._notifications
                                                       if "cannot be handed to a pager" in n.message), None),
                                  what="the note")
            path = Path(message.rsplit(" ", 1)[1])
            assert "E progress 100%\n" in path.read_text()
            path.unlink()

    asyncio.run(main())
