"""A real Ray head node for the test session (tests/ray/cluster.py): started once, stopped at the end
with every process it started. Without Ray installed these tests skip, except in CI (CI=true), where
the ray extra must be installed and they fail instead."""

from __future__ import annotations

import importlib.util
import os
import signal

import pytest

from launcher.errors import LaunchError
from tests.ray.cluster import PACKAGE_LIMIT, RayCluster, start_cluster, stop_cluster
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def ray_cluster() -> RayCluster:
    if importlib.util.find_spec("ray") is None:
        message = "Ray is not installed (pip install 'launcher[ray]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + ": CI must install the ray extra")
        pytest.skip(message)
    cluster = start_cluster(package_limit=PACKAGE_LIMIT)
    yield cluster
    stop_cluster(cluster)


@pytest.fixture
def ray_api(api, ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch):
    """A workspace pointed at the test cluster through its setting; waits, at the end, for every run's
    owner to exit, so that no process outlives the test."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    api.set_setting("ray_address", ray_cluster.address)
    yield api
    from launcher.runners.ownership import RunFolder

    for record in api.runs(active_only=True):
        try:
            api.run(record.id).cancel(grace_period=0, wait=False)
        except LaunchError:  # e.g. a run behind a relay its test cut: its monitor is killed below if it lingers
            pass
    for record in api.runs():
        run_dir = api.workspace.run_dir(record.id)
        if run_dir.is_dir():
            try:
                wait_for(lambda d=run_dir: not RunFolder(d).owner_alive(), timeout=60,
                         what=f"the owner of {record.id}")
            except AssertionError:
                pid = RunFolder(run_dir).owner_pid()
                if pid:
                    os.kill(pid, signal.SIGKILL)
                raise
