"""Cancel, and the end of a run, reach every process of a local-process run: even a daemon that left the
run's process tree early, in a new session, with an empty environment (so no process group, no session
and no environment tag finds it). The run's cgroup holds it (issue 10, finding 6)."""

from __future__ import annotations

import os
import uuid

import pytest

from launcher import launch
from launcher.runners import cgroups
from launcher.states import RunState
from tests.waiting import wait_for

TRIES = 50


def escaped_daemon(marker: str, then: str) -> list[str]:
    """A program that starts a daemon in a new session with an empty environment, lets the process
    between them exit (so the daemon is re-parented at once), then `then`."""
    return ["sh", "-c", f"(setsid env -i /bin/sh -c 'exec sleep 1000.{marker}' &); {then}"]


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f"1000.{marker}".encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture(autouse=True)
def needs_cgroups():
    reason = cgroups.unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            raise AssertionError(f"CI machines give runs cgroups: {reason}")
        pytest.skip(reason)


def test_cancel_leaves_no_escaped_daemon_in_fifty_tries(api):
    escapes = []
    for attempt in range(TRIES):
        marker = f"{uuid.uuid4().int % 10**9}"
        run = launch(api, entry_point=escaped_daemon(marker, "echo up; exec sleep 30"), synchronous=False)
        wait_for(lambda m=marker, r=run: processes_with(m) and "up" in r.get_logs(), what="the daemon to be up")
        status = run.cancel(grace_period=1)
        assert status.state is RunState.STOPPED
        if processes_with(marker):
            escapes.append(attempt)
            for pid in processes_with(marker):
                os.kill(pid, 9)
    assert escapes == []


def test_a_run_that_ends_normally_leaves_no_daemon(api):
    marker = f"{uuid.uuid4().int % 10**9}"
    run = launch(api, entry_point=escaped_daemon(marker, "echo up"), synchronous=False)
    assert run.wait(timeout=60)
    assert processes_with(marker) == []
    assert not [g for g in os.listdir(cgroups.base()) if g == cgroups.run_group_name(str(run.dir))]


def test_the_cgroup_costs_a_launch_little_and_is_gone_after_the_run(api):
    run = launch(api, entry_point=["true"])
    assert run.get_status().state is RunState.FINISHED
    assert run.record.handle["cgroup"].endswith(cgroups.run_group_name(str(run.dir)))
    assert not os.path.exists(run.record.handle["cgroup"])
