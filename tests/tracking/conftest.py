"""Shared by the tracking tests: a launcher run's tracking targets, and unmodified scripts run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from launcher.tracking.environment import tracking_environment
from launcher.tracking.targets import MlflowStore, TrackedRun


@dataclass
class Target:
    run: TrackedRun
    store: MlflowStore
    #: Created by the test when the script may go on (the scripts wait for it).
    go_file: Path


@pytest.fixture
def target(tmp_path: Path) -> Target:
    outputs = tmp_path / "runs" / "run-7" / "outputs"
    outputs.mkdir(parents=True)
    run = TrackedRun(run_id="run7abc", name="bright-run-7", project="vision", job="trainer", outputs_dir=outputs)
    return Target(run, MlflowStore.in_workspace(tmp_path / "workspace"), tmp_path / "go")


@pytest.fixture
def start_script(tmp_path: Path) -> Iterator:
    """start_script(source, env) runs an unmodified training script as a real subprocess in tmp_path/work."""
    started: list[subprocess.Popen] = []

    def start(source: str, env: dict[str, str]) -> subprocess.Popen:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        (work / "train.py").write_text(source)
        process = subprocess.Popen([sys.executable, "train.py"], cwd=work, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def run_environment(target: Target, mlflow_run_id: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a launcher run gets (the tracking part), on top of this process's own."""
    env = dict(os.environ, GO_FILE=str(target.go_file), **extra)
    env.update(tracking_environment(target.run, target.store, user_env={}, mlflow_run_id=mlflow_run_id))
    return env
