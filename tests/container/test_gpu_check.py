"""gpus on an engine without a GPU runtime: refused while the launch is resolved, so no run is recorded
(before, each attempt left a start_failed run behind while the CLI said "bad input")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launcher import launch
from launcher.containers.engine import Engine
from launcher.containers.settings import gpu_problem
from launcher.errors import ResourceError
from launcher.runners.local_container import DEFAULT_BASE_IMAGE
from tests.engine.test_bad_input import workspace_fingerprint


@pytest.fixture
def no_gpu_engine() -> None:
    if gpu_problem(1, Engine().info()) is None:
        pytest.skip("this machine's Docker engine can give containers GPUs")


def test_gpus_without_a_gpu_runtime_are_refused_before_the_run_is_recorded(api, no_gpu_engine):
    before = workspace_fingerprint(api)
    with pytest.raises(ResourceError) as raised:
        launch(api, docker_image=DEFAULT_BASE_IMAGE, entry_point=["true"], resource="local-container",
               resource_args={"local-container": {"gpus": 1}}, synchronous=False)
    assert str(raised.value).startswith("resource_args local-container.gpus 1 cannot be met: the Docker engine "
                                        "on this machine has no GPU runtime")
    assert workspace_fingerprint(api) == before
    assert api.runs() == []


def test_cli_retries_leave_no_failed_runs(api, home, no_gpu_engine):
    argv = [sys.executable, "-m", "launcher.cli.main", "launch", "-r", "local-container", "-d", DEFAULT_BASE_IMAGE,
            "-R", '{"local-container": {"gpus": "all"}}', "--", "true"]
    for _ in range(2):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("launcher: error: resource_args local-container.gpus "
                                                       "'all' cannot be met"), result.stderr
    assert api.runs() == []


def test_an_nvidia_runtime_counts_as_a_gpu_runtime():
    assert gpu_problem(1, {"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}}) is None
