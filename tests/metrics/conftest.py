"""Shared by the metrics tests: the training job (real wandb, MLflow and TensorBoard scripts), a Docker
engine for its container runs, and `launcher metrics RUN --follow` run as a real CLI process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from launcher.spec import merge_request
from tests.waiting import wait_for

JOBS = Path(__file__).parent / "jobs"
FOLLOWED_POINT = re.compile(r"step\s+(\d+)\s+(.+?) = (\S+)$")


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher.cli.main", *args]


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, LAUNCHER_HOME=str(home)))


@pytest.fixture
def trainers(api) -> str:
    """The job: wandb_train.py, mlflow_train.py and tensorboard_train.py with their requirements.txt."""
    api.create_job("code", str(JOBS / "trainers"), name="trainers", entry_point=["python", "wandb_train.py"])
    return "trainers"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine with the base image; in CI its absence fails the test, elsewhere it skips."""
    from launcher.containers.engine import Engine, EngineUnavailable
    from launcher.runners.local_container import DEFAULT_BASE_IMAGE

    try:
        engine = Engine()
        engine.ping(timeout=3)
        problem = None if engine.image(os.environ.get("LAUNCHER_BASE_IMAGE") or DEFAULT_BASE_IMAGE) else (
            f"the base image {DEFAULT_BASE_IMAGE} is missing; build it with: bash scripts/docker-up")
    except EngineUnavailable as error:
        problem = str(error)
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"container metrics tests need a Docker engine in CI: {problem}", pytrace=False)
    pytest.skip(f"container metrics tests skipped: {problem}")


@dataclass
class Launched:
    run_id: str
    #: The file the script waits for before its second half.
    go: Path


def launch_trainer(api, tmp_path: Path, resource: str, script: str, run_config: dict | None = None,
                   env: dict[str, str] | None = None) -> Launched:
    """Launch one of the job's scripts on `resource`, waiting at its gate (a host folder mounted at /go in
    a container)."""
    gates = tmp_path / f"gates-{len(list(tmp_path.glob('gates-*')))}"
    gates.mkdir()
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}
    if resource == "local-container":
        go_seen = "/go/go"
        args = {"env": env, "volumes": {str(gates): {"bind": "/go", "mode": "ro"}}}
    else:
        go_seen = str(gates / "go")
        args = {"env": env, "env_manager": "current"}  # the launcher's interpreter has the three libraries
    request = merge_request(job="trainers", resource=resource, entry_point=["python", script],
                            config={"overrides": {"run_config": {"go": go_seen, **(run_config or {})}}},
                            resource_args={resource: args})
    run = api.runs.submit(request)
    return Launched(run.id, gates / "go")


@dataclass
class Follower:
    """`launcher metrics RUN --follow` as a process, its printed points collected as they come."""

    process: subprocess.Popen
    points: list[tuple[str, int, float]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(step, value) for point_name, step, value in list(self.points) if point_name == name]


@pytest.fixture
def follow(home: Path):
    started: list[Follower] = []

    def start(run_id: str) -> Follower:
        process = subprocess.Popen(cli_argv("metrics", run_id, "--follow"), stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, LAUNCHER_HOME=str(home)))
        follower = Follower(process)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                found = FOLLOWED_POINT.search(line.rstrip("\n"))
                if found:
                    follower.points.append((found[2], int(found[1]), float(found[3])))
                else:
                    follower.other.append(line)

        threading.Thread(target=read, daemon=True).start()
        started.append(follower)
        return follower

    yield start
    for follower in started:
        if follower.process.poll() is None:
            follower.process.kill()
        follower.process.wait(timeout=30)


def wait_for_points(follower: Follower, name: str, count: int, timeout: float) -> None:
    wait_for(lambda: len(follower.series(name)) >= count, timeout=timeout, interval=0.1,
             what=f"{count} {name!r} points from `launcher metrics --follow`")


@pytest.fixture
def start_agent(api):
    """start_agent(queues, max_jobs) -> a started Agent on the test's workspace; stopped at teardown."""
    from tests.agents import agents_for

    yield from agents_for(api)
