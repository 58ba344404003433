"""A full disk (a workspace on an 8 MB tmpfs, a program printing 50 MB): the program is stopped, the run
is recorded failed with "no space left on device in WORKSPACE" (in the store, and on stderr of a
synchronous CLI launch, which returns), a new launch is refused at once with that message, and nothing
already stored is lost (issue 10, finding 4)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launcher import Api, launch
from launcher.errors import DiskFullError
from launcher.states import RunState

FLOOD = "import sys\nline = b'x' * 1023 + b'\\n'\nfor _ in range(50 * 1024):\n    sys.stdout.buffer.write(line)\n"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"cannot mount a tmpfs: {result.stderr.decode()}")
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_program_and_records_why(small_disk, tmp_path):
    home = small_disk / "workspace"
    src = tmp_path / "src"
    src.mkdir()
    (src / "flood.py").write_text(FLOOD)
    (src / "ok.py").write_text("print('fine')\n")
    api = Api(home)
    api.create_job("code", str(src), name="ok", entry_point=["python", "ok.py"])
    api.create_job("code", str(src), name="flood", entry_point=["python", "flood.py"])
    earlier = launch(api, job="ok")

    result = subprocess.run([sys.executable, "-m", "launcher.cli.main", "launch", "-j", "flood", "-q"],
                            env=dict(os.environ, LAUNCHER_HOME=str(home)), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    expected = f"no space left on device in {home}: the program was stopped because its output could not be kept"
    assert expected in result.stderr
    [flooded] = [r for r in api.runs() if r.id != earlier.id]
    assert (flooded.state, flooded.message) == (RunState.FAILED, expected)
    assert not api.run(flooded.id).folder.owner_alive()

    with pytest.raises(DiskFullError, match=f"^no space left on device in {home}; free some space"):
        launch(api, job="ok")
    assert [r.id for r in api.runs()] == [flooded.id, earlier.id]  # the refused launch recorded nothing
    assert api.run(earlier.id).get_logs() == "fine\n"  # nothing already stored is lost
    assert api.run(earlier.id).get_status().state is RunState.FINISHED
    api.close()
