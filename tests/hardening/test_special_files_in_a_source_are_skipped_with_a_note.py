"""Issue 10, finding 7: a FIFO in a code folder hung `job create` forever (the snapshot read it). Special
files (FIFO, socket) are now skipped with a note, which `job create` prints and the version keeps."""

from __future__ import annotations

import json
import os
import socket

from tests.hardening.conftest import cli


def test_fifo_and_socket_are_skipped_with_a_note_and_job_create_returns(home, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    os.mkfifo(src / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(src / "control.sock"))
    try:
        result = cli(home, "job", "create", "code", str(src), "--name", "special", "-e", "python train.py",
                     "--json", timeout=60)  # before the fix: never returned
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert any("FIFO 'pipe'" in line for line in notes), result.stderr
    assert any("socket 'control.sock'" in line for line in notes), result.stderr
    version = json.loads(result.stdout)
    assert len(version["notes"]) == 2
    snapshot = home / "snapshots" / version["source"]["snapshot"]
    assert sorted(os.listdir(snapshot)) == ["train.py"]
    described = json.loads(cli(home, "job", "describe", "special").stdout)
    assert described["notes"] == version["notes"]


def test_an_ignored_fifo_needs_no_note(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n", ".gitignore": "run/\n"})
    (src / "run").mkdir()
    os.mkfifo(src / "run" / "pipe")
    job = api.create_job("code", str(src), entry_point=["python", "train.py"])
    assert job.notes == ()
