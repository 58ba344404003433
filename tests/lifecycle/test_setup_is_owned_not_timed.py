"""The set-up phase (`preparing`) belongs to the run's owner and is never ended by a clock: set-up output
streams into the log, a cancel stops it and leaves nothing half-made, and an owner that dies during it
is seen at once by its lock and ends the run failed."""

from __future__ import annotations

import os
import signal

import pytest

from launcher import launch
from launcher.runners.process_owner import tagged_processes
from launcher.states import RunState
from tests.waiting import wait_for


def venv_job(api, make_code_dir, package: str, name: str = "needs-env"):
    src = make_code_dir({"main.py": f"import {package}\nprint('value', {package}.VALUE)\n",
                         "requirements.txt": f"{package}\n"})
    return api.create_job("code", str(src), name=name, entry_point=["python", "main.py"])


def launch_with_env(api, index, **kwargs):
    args = {"env_manager": "venv", "env": {"PIP_INDEX_URL": index.url, "PIP_NO_CACHE_DIR": "1"}}
    return launch(api, job="needs-env", resource_args={"local-process": args}, synchronous=False, **kwargs)


def env_folders(api) -> list[str]:
    envs = api.workspace.envs_dir
    return sorted(p.name for p in envs.iterdir() if p.is_dir()) if envs.exists() else []


def test_setup_output_streams_while_preparing_and_the_run_then_finishes(api, make_code_dir, held_index):
    venv_job(api, make_code_dir, held_index.name)
    run = launch_with_env(api, held_index)
    wait_for(held_index.requested.is_set, timeout=120, what="the install to ask for the package")
    status = run.get_status()
    assert status.state is RunState.PREPARING
    setup_lines = [line.text for line in run.log_lines() if line.stream == "launcher"]
    assert any("preparing the environment" in line and held_index.name in line for line in setup_lines)
    # The preparing run shows its last set-up line (what the CLI's status and the TUI show).
    wait_for(lambda: run.get_status().message, timeout=10, what="a set-up line on the run")
    held_index.release()
    assert run.wait(timeout=120), run.get_logs()
    assert run.get_logs() == "value installed\n"
    assert run.get_status().message is None  # the set-up line went with the set-up
    assert [e.state for e in run.events()] == [RunState.STARTING, RunState.PREPARING, RunState.RUNNING,
                                               RunState.FINISHED]


def test_cancel_during_an_install_stops_it_and_leaves_no_environment(api, make_code_dir, held_index):
    venv_job(api, make_code_dir, held_index.name)
    run = launch_with_env(api, held_index)
    wait_for(held_index.requested.is_set, timeout=120, what="the install to ask for the package")
    status = run.cancel(grace_period=2)
    assert (status.state, status.message) == (RunState.STOPPED, "stopped by request before the program started")
    assert tagged_processes(str(run.dir), exclude=os.getpid()) == set()  # pip and its children are gone
    assert env_folders(api) == []  # nothing half-made in the environment cache


def test_an_owner_killed_during_setup_ends_the_run_failed_and_leaves_nothing(api, make_code_dir, held_index):
    venv_job(api, make_code_dir, held_index.name)
    run = launch_with_env(api, held_index)
    wait_for(held_index.requested.is_set, timeout=120, what="the install to ask for the package")
    owner = run.folder.owner_pid()
    os.kill(owner, signal.SIGKILL)
    run._owner.process.wait(10)  # this process started it: reap it
    api.reconcile()  # any process that looks at the run sees its owner is gone, by the lock
    status = run.get_status()
    assert status.state is RunState.FAILED
    assert status.message == "the run's owner ended unexpectedly during set-up; exit code unknown"
    wait_for(lambda: not tagged_processes(str(run.dir), exclude=os.getpid()), what="the install stopped")
    assert env_folders(api) == []


def test_a_program_killed_by_a_signal_python_does_not_name_is_failed_with_its_signal(api):
    run = launch(api, entry_point=["python", "-c", "import os; os.kill(os.getpid(), 40)"], synchronous=False)
    assert not run.wait(timeout=60)
    status = run.get_status()
    assert (status.state, status.exit_code) == (RunState.FAILED, -40)
    assert status.message == "killed by signal 40 (SIGRTMIN+6)"


@pytest.mark.parametrize("number, described", [(9, "killed by SIGKILL"), (15, "killed by SIGTERM")])
def test_named_signals_are_named(api, number, described):
    run = launch(api, entry_point=["python", "-c", f"import os; os.kill(os.getpid(), {number})"], synchronous=False)
    run.wait(timeout=60)
    assert (run.get_status().message, run.get_status().exit_code) == (described, -number)


@pytest.mark.timeout(300)
def test_a_setup_longer_than_any_old_clock_ends_finished(api, make_code_dir, held_index):
    # The launcher used to declare a run failed 60 s after launch while its environment was still being
    # installed. Nothing but the owner's liveness decides now: hold the install for 90 s.
    import time

    venv_job(api, make_code_dir, held_index.name)
    run = launch_with_env(api, held_index)
    wait_for(held_index.requested.is_set, timeout=120, what="the install to ask for the package")
    began = time.monotonic()
    wait_for(lambda: time.monotonic() - began >= 90 or run.get_status().done, timeout=120, interval=1,
             what="90 s of set-up")
    api.reconcile()  # a look at the run from a process that did not launch it changes nothing
    assert run.get_status().state is RunState.PREPARING
    held_index.release()
    assert run.wait(timeout=120)
    assert run.get_logs() == "value installed\n"
    assert any("preparing the environment" in line.text for line in run.log_lines() if line.stream == "launcher")




def test_a_run_ends_as_soon_as_its_program_has_exited_and_its_output_is_read(api):
    # The owner once waited out a whole drain period (1 s) when it had read all the output before it
    # reaped the program. The bug always cost >= 1 s; a prompt ending takes milliseconds.
    slow = []
    for _ in range(20):
        run = launch(api, entry_point=["python", "-c", "print('x')"])
        running, ended = [e.at for e in run.events()][-2:]
        if ended - running >= 0.9:
            slow.append(round(ended - running, 2))
    assert slow == []
