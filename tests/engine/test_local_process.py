"""The local-process resource: streaming capture, cancel of stubborn programs, no orphans, runs that
outlive their launcher, venvs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from launcher import launch
from launcher.states import RunState
from tests.waiting import wait_for


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def make_job(api, make_code_dir, name, code, **kwargs):
    src = make_code_dir({"main.py": textwrap.dedent(code)})
    return api.create_job("code", str(src), name=name, entry_point=["python", "main.py"], **kwargs)


STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open("pids", "w").write(f"{os.getpid()} {child.pid}")
time.sleep(600)
"""


def test_cancel_stops_a_silent_program_that_ignores_sigterm_and_its_children(api, make_code_dir):
    make_job(api, make_code_dir, "stubborn", STUBBORN)
    run = launch(api, job="stubborn", synchronous=False,
                 resource_args={"local-process": {"grace_period": 0.5}})
    pids_file = run.dir / "src" / "pids"
    wait_for(lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2, what="program start")
    pids = [int(p) for p in pids_file.read_text().split()]
    status = run.cancel()
    assert status.state == RunState.STOPPED
    assert status.exit_code == -signal.SIGKILL  # SIGTERM was ignored; SIGKILL after the grace period
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10, what="no process of the run left")
    assert "cancel requested" in run.log_path.read_text()


def test_processes_left_behind_by_a_finished_program_are_stopped(api, make_code_dir):
    make_job(api, make_code_dir, "leaver", """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(child.pid)
    """)
    run = launch(api, job="leaver")
    child = int(run.get_logs().strip())
    wait_for(lambda: not pid_alive(child), timeout=10, what="left-behind child stopped")


def test_output_streams_while_the_run_is_going(api, make_code_dir):
    make_job(api, make_code_dir, "streamer", """
        import os, time
        print("first line", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
        print("second line", flush=True)
    """)
    run = launch(api, job="streamer", synchronous=False)
    lines = run.follow_logs()
    assert next(lines).text == "first line"  # arrives while the program still waits
    assert run.get_status().state == RunState.RUNNING
    (run.dir / "src" / "go").write_text("")
    assert [line.text for line in lines] == ["second line"]
    assert run.wait()


def test_binary_output_and_huge_lines_are_stored_without_loss(api, make_code_dir):
    make_job(api, make_code_dir, "binary", """
        import sys
        out = sys.stdout.buffer
        out.write(b"caf\\xe9 \\xff\\xfe not utf-8\\n")
        out.write(b"x" * (5 * 1024 * 1024) + b"\\n")
        sys.stderr.buffer.write(b"partial line without newline")
    """)
    run = launch(api, job="binary")
    data = run.get_log_bytes(("stdout",))
    assert data == b"caf\xe9 \xff\xfe not utf-8\n" + b"x" * (5 * 1024 * 1024) + b"\n"
    assert run.get_log_bytes(("stderr",)) == b"partial line without newline"


def test_a_run_outlives_its_launcher_killed_outright(api, make_code_dir, home):
    make_job(api, make_code_dir, "survivor", """
        import os, time
        print("before", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
        print("after", flush=True)
        raise SystemExit(4)
    """)
    script = textwrap.dedent(f"""
        from launcher import Api, launch
        run = launch(Api({str(home)!r}), job="survivor", synchronous=False)
        print(run.id, flush=True)
        import time
        time.sleep(600)
    """)
    launcher_process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    run_id = launcher_process.stdout.readline().strip()
    run = api.run(run_id)
    wait_for(lambda: "before" in run.get_logs(), what="first output")
    launcher_process.kill()  # SIGKILL: no clean-up of any kind in the launcher
    launcher_process.wait()
    (run.dir / "src" / "go").write_text("")
    wait_for(lambda: run.get_status().done, what="run end")
    assert run.get_status() == run.get_status().__class__(RunState.FAILED, "exit code 4", 4)
    assert run.get_logs() == "before\nafter\n"


def test_a_program_that_cannot_start_is_start_failed(api):
    run = launch(api, entry_point=["./no-such-program"], synchronous=False)
    assert not run.wait(timeout=30)
    status = run.get_status()
    assert status.state == RunState.START_FAILED
    assert "no-such-program" in status.message


def test_an_owner_killed_outright_is_reported_and_its_program_stopped(api, make_code_dir):
    from launcher.runners.local_process import ProcessHandle

    make_job(api, make_code_dir, "orphaned", "import time\nprint('x', flush=True)\ntime.sleep(600)\n")
    run = launch(api, job="orphaned", synchronous=False)
    wait_for(lambda: run.get_status().state == RunState.RUNNING and "x" in run.get_logs(), what="running")
    owner, program = run.folder.owner_pid(), ProcessHandle.of(run.record).pgid
    assert owner is not None and program is not None
    os.kill(owner, signal.SIGKILL)
    wait_for(lambda: not pid_alive(owner), what="owner gone")
    api.reconcile()
    status = run.get_status()
    assert status.state == RunState.FAILED
    assert status.message == "the run's owner ended unexpectedly while its program ran; exit code unknown"
    wait_for(lambda: not pid_alive(program), what="program stopped")


@pytest.mark.timeout(600)
def test_venv_env_manager_installs_requirements_once(api, make_code_dir):
    src = make_code_dir({"main.py": "import six, sys\nprint(sys.prefix)\n", "requirements.txt": "six\n"})
    api.create_job("code", str(src), name="venvjob", entry_point=["python", "main.py"])
    args = {"local-process": {"env_manager": "venv"}}
    first = launch(api, job="venvjob", resource_args=args)
    prefix = first.get_logs().strip()
    assert prefix.startswith(str(api.workspace.envs_dir))
    second = launch(api, job="venvjob", resource_args=args)
    assert second.get_logs().strip() == prefix
    assert "using the cached environment" in second.log_path.read_text()


def processes_of(run_dir) -> list[int]:
    """Pids whose command line or working directory is inside the run's folder."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (str(run_dir) in cmdline or cwd.startswith(str(run_dir))) and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def test_cancel_right_after_launch_leaves_nothing_running(api, make_code_dir):
    # The cancel arrives while the supervisor is still starting, before anyone could signal it.
    make_job(api, make_code_dir, "sleeper", "import time\ntime.sleep(600)\n")
    for _ in range(5):
        run = launch(api, job="sleeper", synchronous=False)
        assert run.cancel(grace_period=1).state == RunState.STOPPED
        wait_for(lambda run_dir=run.dir: not processes_of(run_dir), timeout=15, what="no process of the run left")


ESCAPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; print('child up', flush=True); time.sleep(600)"],
                         start_new_session=True)
open("child", "w").write(str(child.pid))
while not os.path.exists("child-seen"):
    time.sleep(0.01)
if sys.argv[1] == "wait":
    time.sleep(600)
"""


def test_a_child_in_its_own_session_does_not_keep_a_finished_run_alive(api, make_code_dir):
    make_job(api, make_code_dir, "escaper", ESCAPER)
    run = launch(api, job="escaper", entry_point=["python", "main.py", "exit"], synchronous=False)
    child_file = run.dir / "src" / "child"
    wait_for(lambda: "child up" in run.get_logs() and child_file.exists(), what="child started")
    (run.dir / "src" / "child-seen").write_text("")
    assert run.wait(timeout=30)  # finished, although the child still held the output pipes
    assert run.get_status().exit_code == 0
    wait_for(lambda: not pid_alive(int(child_file.read_text())), timeout=10, what="escaped child stopped")


def test_cancel_stops_a_child_that_left_the_process_group(api, make_code_dir):
    make_job(api, make_code_dir, "escaper", ESCAPER)
    run = launch(api, job="escaper", entry_point=["python", "main.py", "wait"], synchronous=False)
    child_file = run.dir / "src" / "child"
    wait_for(lambda: "child up" in run.get_logs() and child_file.exists(), what="child started")
    (run.dir / "src" / "child-seen").write_text("")
    assert run.cancel(grace_period=1).state == RunState.STOPPED
    wait_for(lambda: not pid_alive(int(child_file.read_text())), timeout=10, what="escaped child stopped")
    wait_for(lambda run_dir=run.dir: not processes_of(run_dir), timeout=10, what="no process of the run left")


def test_cancel_leaves_alone_a_run_of_another_workspace_with_the_same_id(api, make_code_dir, tmp_path):
    # Run ids are unique within a workspace only: cancel must find its own escaped processes by the run's
    # folder, not by its id, or it kills the other workspace's run (which then ends without an exit code).
    from launcher import Api

    other = Api(tmp_path / "other-workspace")
    try:
        runs = []
        for workspace in (api, other):
            make_job(workspace, make_code_dir, "sleeper", "print('up', flush=True)\nimport time\ntime.sleep(600)\n")
            runs.append(launch(workspace, job="sleeper", run_id="same-id", synchronous=False))
        mine, theirs = runs
        wait_for(lambda: all("up" in run.get_logs() for run in runs), what="both runs up")
        assert mine.cancel(grace_period=5).state == RunState.STOPPED
        assert theirs.state == RunState.RUNNING and "up" in theirs.get_logs()
        status = theirs.cancel(grace_period=5)
        assert (status.state, status.exit_code) == (RunState.STOPPED, -signal.SIGTERM)
        assert mine.get_status().exit_code == -signal.SIGTERM
    finally:
        other.close()


def test_a_run_looked_at_through_a_stale_record_is_left_alone_while_its_owner_lives(api, make_code_dir, tmp_path):
    # Whoever settles runs judges the owner by its lock, never by the record it listed a moment ago.
    from dataclasses import replace

    from launcher.reconcile import settle

    gate = tmp_path / "gate"
    make_job(api, make_code_dir, "gated", f"import os, time\nprint('up', flush=True)\n"
                                          f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)\n")
    run = launch(api, job="gated", synchronous=False)
    wait_for(lambda: "up" in run.get_logs(), what="the program to start")
    stale = replace(api.workspace.store.get_run(run.id), state=RunState.STARTING, handle={})
    settle(api.workspace, stale)
    assert run.state == RunState.RUNNING
    gate.write_text("")
    assert run.wait(timeout=30)
    assert run.get_status().exit_code == 0
