"""Runs outlive the process that launched them; synchronous=False keeps its promise; a workspace reopened
after a crash reattaches to its containers without losing or repeating output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from launcher import Api
from launcher.launching import submit
from launcher.spec import merge_request
from tests.container.conftest import workspace_containers
from tests.waiting import wait_for

BASE = "launcher-base:bookworm"
RESOURCE = "local-container"
ROOT = Path(__file__).resolve().parents[2]

#: Prints numbered lines, waits for /shared/go, prints more, exits with the code written in it.
BEFORE_AND_AFTER = (
    "import os, sys, time\n"
    "for i in range(5):\n    print('before', i, flush=True)\n"
    "while not os.path.exists('/shared/go'):\n    time.sleep(0.02)\n"
    "for i in range(5):\n    print('after', i, flush=True)\n"
    "sys.exit(int(open('/shared/go').read()))\n"
)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


def release(shared: Path, code: str) -> None:
    """Let BEFORE_AND_AFTER go on: written aside then renamed, so the program never reads a half-written file."""
    (shared / "go.tmp").write_text(code)
    (shared / "go.tmp").rename(shared / "go")


def run_script(home: Path, body: str, **kwargs) -> subprocess.Popen:
    script = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(body)
    env = dict(os.environ, LAUNCHER_HOME=str(home))
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True, **kwargs)


def test_run_outlives_the_process_that_launched_it(api, home, shared):
    # The program waits for a file the test writes once the launching process is gone (no timing bet).
    wait_then_done = "while [ ! -e /shared/go ]; do sleep 0.05; done; echo done"
    process = run_script(home, f"""
        from launcher import Api
        from launcher.launching import submit
        from launcher.spec import merge_request
        run = submit(Api().workspace, merge_request(docker_image={BASE!r}, entry_point=['sh', '-c', {wait_then_done!r}],
                                          resource_args={{{RESOURCE!r}: {{'volumes': [{f"{shared}:/shared"!r}]}}}}))
        print(run.id)
    """)
    run_id = process.communicate(timeout=60)[0].strip()
    assert process.returncode == 0
    run = api.run(run_id)
    assert not run.get_status().done  # the launcher is gone, the run goes on
    release(shared, "")
    assert run.wait(timeout=60)
    assert run.get_logs() == "done\n"


def test_synchronous_false_waits_for_the_run_when_the_process_exits(api, home, docker_client):
    process = run_script(home, f"""
        from launcher import Api, launch
        run = launch(Api(), docker_image={BASE!r}, entry_point=['sh', '-c', 'sleep 1; echo waited'],
                     synchronous=False)
        print(run.id, flush=True)
    """)
    run_id = process.communicate(timeout=60)[0].strip()
    assert process.returncode == 0
    run = api.run(run_id)
    assert run.state == "finished"  # already, when the launching process has exited
    assert run.get_logs() == "waited\n"
    assert workspace_containers(docker_client, api.home) == []


def test_synchronous_false_stops_the_run_when_the_process_is_interrupted(api, home, docker_client):
    process = run_script(home, f"""
        import time
        from launcher import Api, launch
        run = launch(Api(), docker_image={BASE!r}, entry_point=['sh', '-c', 'echo ready; sleep 300'],
                     synchronous=False)
        print(run.id, flush=True)
        time.sleep(300)
    """)
    run_id = process.stdout.readline().strip()
    run = api.run(run_id)
    wait_for(lambda: "ready" in run.get_logs(), timeout=30, what="the container to run")
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert run.get_status().state == "stopped"
    assert workspace_containers(docker_client, api.home) == []


def _kill_owner(run) -> None:
    pid = run.folder.owner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    run._owner.process.wait(10)  # reap it: it is this process's child


def _lines(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == "stdout"]


EXPECTED = [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5)]


def test_reattach_to_a_running_container_after_its_owner_died(api, home, shared, docker_client):
    run = submit(api.workspace, merge_request(docker_image=BASE, entry_point=["python3", "-c", BEFORE_AND_AFTER],
                                    resource_args={RESOURCE: {"volumes": [f"{shared}:/shared"]}}))
    wait_for(lambda: _lines(run) == EXPECTED[:5], timeout=30, what="the first lines")
    _kill_owner(run)

    reopened = Api(home)  # reattaches: a new owner follows the container from its log driver
    release(shared, "3")
    again = reopened.run(run.id)
    assert not again.wait(timeout=60)
    status = again.get_status()
    assert (status.state, status.exit_code) == ("failed", 3)
    assert _lines(again) == EXPECTED  # nothing lost, nothing twice
    assert "owner reattaching to the run" in [line.text for line in again.log_lines()]
    assert workspace_containers(docker_client, api.home) == []
    reopened.close()


def test_reattach_to_a_container_that_ended_while_nobody_watched(api, home, shared, docker_client):
    run = submit(api.workspace, merge_request(docker_image=BASE, entry_point=["python3", "-c", BEFORE_AND_AFTER],
                                    resource_args={RESOURCE: {"volumes": [f"{shared}:/shared"]}}))
    wait_for(lambda: _lines(run) == EXPECTED[:5], timeout=30, what="the first lines")
    _kill_owner(run)
    release(shared, "0")
    [container] = workspace_containers(docker_client, api.home)
    assert container.wait(timeout=30)["StatusCode"] == 0
    assert run.state == "running"  # nobody has looked yet

    reopened = Api(home)
    again = reopened.run(run.id)
    assert again.wait(timeout=60)
    assert again.get_status().exit_code == 0
    assert _lines(again) == EXPECTED
    assert workspace_containers(docker_client, api.home) == []
    reopened.close()


def test_cancel_a_reattached_run_whose_container_is_silent(api, home, shared, docker_client):
    import time

    run = submit(api.workspace, merge_request(docker_image=BASE, entry_point=["python3", "-c", BEFORE_AND_AFTER],
                                    resource_args={RESOURCE: {"volumes": [f"{shared}:/shared"]}}))
    wait_for(lambda: _lines(run) == EXPECTED[:5], timeout=30, what="the first lines")
    _kill_owner(run)
    reopened = Api(home)
    again = reopened.run(run.id)
    wait_for(lambda: "owner reattaching to the run" in [line.text for line in again.log_lines()],
             timeout=30, what="the new owner")
    began = time.monotonic()
    status = again.cancel(grace_period=0)
    assert status.state == "stopped"
    assert time.monotonic() - began < 15
    assert _lines(again) == EXPECTED[:5]
    assert workspace_containers(docker_client, api.home) == []
    reopened.close()


#: Prints lines, waits for /shared/go1, prints one more, waits for /shared/go2, ends with a partial line.
ENDS_WITHOUT_NEWLINE = (
    "import os, time\n"
    "def wait(name):\n    while not os.path.exists(name):\n        time.sleep(0.02)\n"
    "for i in range(3):\n    print('line', i, flush=True)\n"
    "wait('/shared/go1')\nprint('after', flush=True)\n"
    "wait('/shared/go2')\nprint('partial-no-newline', end='', flush=True)\n"
)


def test_reattached_run_keeps_a_last_line_without_a_newline(api, home, shared, docker_client):
    run = submit(api.workspace, merge_request(docker_image=BASE, entry_point=["python3", "-c", ENDS_WITHOUT_NEWLINE],
                                    resource_args={RESOURCE: {"volumes": [f"{shared}:/shared"]}}))
    wait_for(lambda: _lines(run) == ["line 0", "line 1", "line 2"], timeout=30, what="the first lines")
    _kill_owner(run)

    reopened = Api(home)
    again = reopened.run(run.id)
    (shared / "go1").write_text("")
    # Seen only through the new owner, which follows the running container's log driver.
    wait_for(lambda: "after" in _lines(again), timeout=30, what="the reattached owner to follow")
    (shared / "go2").write_text("")
    assert again.wait(timeout=60)
    assert again.get_log_bytes(("stdout",)) == b"line 0\nline 1\nline 2\nafter\npartial-no-newline"
    assert workspace_containers(docker_client, api.home) == []
    reopened.close()
