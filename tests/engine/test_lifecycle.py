"""synchronous=False: the launching process waits for its runs at exit, and stops them when interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from launcher.states import RunState
from tests.waiting import wait_for

SCRIPT = """
import sys
from launcher import Api, launch
api = Api({home!r})
run = launch(api, entry_point=[sys.executable, "-c", {program!r}], synchronous=False,
             resource_args={{"local-process": {{"grace_period": 1}}}})
print(run.id, flush=True)
{after}
"""

WAITS_FOR_FILE = "import os, time\nprint('up', flush=True)\nwhile not os.path.exists('go'): time.sleep(0.01)\nprint('done')"


def start(home, after: str) -> tuple[subprocess.Popen, str]:
    code = SCRIPT.format(home=str(home), program=WAITS_FOR_FILE, after=textwrap.dedent(after))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_process_exit_waits_for_unfinished_runs(api, home):
    process, run_id = start(home, "")
    run = api.run(run_id)
    wait_for(lambda: "up" in run.get_logs(), what="program running")
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.5)  # the script's end has been reached, yet it waits for the run
    (run.dir / "src" / "go").write_text("")
    assert process.wait(timeout=30) == 0
    assert run.get_status().state == RunState.FINISHED


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_the_runs(api, home, signum):
    process, run_id = start(home, "import time\ntime.sleep(600)\n")
    run = api.run(run_id)
    wait_for(lambda: "up" in run.get_logs(), what="program running")
    process.send_signal(signum)
    process.wait(timeout=60)
    assert run.get_status().state == RunState.STOPPED


def test_sigterm_during_a_synchronous_launch_stops_the_run(api, home):
    code = SCRIPT.format(home=str(home), program=WAITS_FOR_FILE, after="").replace(
        "synchronous=False", "synchronous=True, run_id='sync-run'")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: api.workspace.store.get_run("sync-run") is not None and "up" in api.run("sync-run").get_logs(),
             what="program running")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert api.run("sync-run").get_status().state == RunState.STOPPED
