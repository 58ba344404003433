"""TUI test fixtures: a workspace with fixed defaults, a private presets folder, jobs made from real code
directories and real git repositories, and a way to drive the app with Textual's pilot."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from launcher import Api
from launcher.records import RunRecord
from launcher.states import RunState

TRAIN_PY = """\
import json, os, sys, time
config = json.load(open(os.environ["LAUNCHER_CONFIG_FILE"])) if os.environ.get("LAUNCHER_CONFIG_FILE") else {}
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    print(f"step {i} lr={config.get('lr')}", flush=True)
print("done", file=sys.stderr, flush=True)
"""

MLPROJECT = """\
name: trainer
entry_points:
  main:
    parameters:
      lr: {type: float, default: 0.1}
      epochs: {type: int, default: 2}
    command: "python train.py {epochs}"
  evaluate:
    parameters:
      split: {type: string, default: test}
    command: "python train.py 1"
"""

SLOW_PY = """\
import time
print("started", flush=True)
time.sleep(120)
"""


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Presets go to a private folder, never to the user's config directory."""
    path = tmp_path / "config"
    monkeypatch.setenv("LAUNCHER_CONFIG_DIR", str(path))
    return path


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Times are shown in local time; snapshots need one fixed zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def workspace(home: Path):
    """A workspace whose default entity is fixed (it is the user name otherwise)."""
    first = Api(home)
    first.set_setting("default_entity", "me")
    first.close()
    api = Api(home)
    yield api
    for record in api.runs(active_only=True):
        try:
            api.run(record.id).cancel(grace_period=0)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
    api.close()


@pytest.fixture
def code_job(workspace: Api, make_code_dir):
    source = make_code_dir({"train.py": TRAIN_PY, "slow.py": SLOW_PY})
    return workspace.create_job("code", str(source), name="trainer", entry_point=["python", "train.py"])


def make_git_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "train.py").write_text(TRAIN_PY)
    (root / "MLproject").write_text(MLPROJECT)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-q", "-m", "first"],
                 ["git", "tag", "v1"]):
        subprocess.run(argv, cwd=root, check=True, env=env)
    return root


@pytest.fixture
def mlp_job(workspace: Api, make_code_dir):
    """A code job with an MLproject: entry points main (lr, epochs) and evaluate (split)."""
    return workspace.create_job("code", str(make_code_dir({"train.py": TRAIN_PY, "MLproject": MLPROJECT})),
                                name="mlp")


@pytest.fixture
def side_agent(workspace: Api):
    """An agent outside the app (as a `launcher agent` process would be), on the queues named; stopped at
    teardown."""
    from tests.agents import agents_for

    yield from agents_for(workspace)


@pytest.fixture
def git_job(workspace: Api, tmp_path: Path):
    repo = make_git_repo(tmp_path / "gitrepo")
    return workspace.create_job("git", str(repo), name="gittrainer")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The launcher CLI in its own process (LAUNCHER_HOME and LAUNCHER_CONFIG_DIR come from the environment)."""
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


async def until(pilot, condition: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Let the app run until condition() is true (the async twin of tests/waiting.py's wait_for)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


async def sweeps_screen(pilot):
    """Press W and wait for the sweeps screen to show what the engine says."""
    from tui.screens.sweeps import SweepsScreen

    await pilot.press("W")
    return await until(pilot, lambda: isinstance(pilot.app.screen, SweepsScreen) and pilot.app.screen.loaded
                       and pilot.app.screen, what="the sweeps screen")


def palette_titles(app) -> list[str]:
    """The command palette's system commands for the screen shown, in order."""
    return [command.title for command in app.get_system_commands(app.screen)]


def notified(app, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


def run_record(run_id: str, state: RunState = RunState.FINISHED, **fields) -> RunRecord:
    """A run record as the store gives them, for widgets tested on their own (fields not given: blank)."""
    values = {"name": "", "project": "default", "entity": "me", "job": "-", "resource": "local-process",
              "message": None, "exit_code": None, "spec": {}, "handle": {}, "created_at": 100.0, "started_at": None,
              "ended_at": None, "updated_at": 100.0, **fields}
    return RunRecord(id=run_id, state=state, **values)


def shown_state(main, run_id: str) -> RunState | None:
    """The state the main screen's run table shows for a run (None before the table has it)."""
    record = main.table.records.get(run_id)
    return None if record is None else record.state


def drive(app, scenario: Callable[..., Awaitable[None]], size: tuple[int, int] = (140, 45)) -> None:
    """Run the app headless and play the scenario against it with a pilot."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


#: A queue worker: reports the losses its config names as metrics, waits for its config's gate file if any.
WORKER_PY = """\
import json, os, pathlib, sys, time
cfg = json.load(open(os.environ["LAUNCHER_CONFIG_FILE"])) if os.environ.get("LAUNCHER_CONFIG_FILE") else {}
for step, loss in enumerate(cfg.get("losses", [0.5, 0.25])):
    print("@metrics " + json.dumps({"loss": loss, "acc": round(1 - loss, 3), "step": step}), flush=True)
gate = cfg.get("gate")
while gate and not os.path.exists(gate):
    time.sleep(0.02)
print("worker done", flush=True)
"""


@pytest.fixture
def worker_job(workspace, make_code_dir):
    source = make_code_dir({"worker.py": WORKER_PY})
    return workspace.create_job("code", str(source), name="worker", entry_point=["python", "worker.py"])
