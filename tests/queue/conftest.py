"""Fixtures for queues, agents, sweeps and metrics: a worker job driven by its run config, agents run in a
thread of the test process or as `launcher agent` processes, and the CLI as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.processes import process_start_time
from tests.agents import agents_for

# The program under test's runs: told by its run config what to report, how to end, and whether to wait
# for a gate file (so a test decides when a run ends, without sleeping).
WORKER = """\
import json, os, pathlib, sys, time
cfg = json.loads(os.environ["LAUNCHER_CONFIG"])
gate = cfg.get("gate")
if gate:
    pathlib.Path(gate + ".started").write_text(os.environ["LAUNCHER_RUN_ID"])
    while not os.path.exists(gate):
        time.sleep(0.02)
for step, loss in enumerate(cfg.get("losses", [])):
    print("@metrics " + json.dumps({"loss": loss, "step": step}), flush=True)
print("worker done", cfg.get("tag", ""), flush=True)
sys.exit(cfg.get("exit", 0))
"""


@pytest.fixture
def worker(api, make_code_dir) -> str:
    src = make_code_dir({"worker.py": WORKER})
    api.create_job("code", str(src), name="worker", entry_point=["python", "worker.py"])
    return "worker"


def run_config(**values) -> dict:
    return {"overrides": {"run_config": values}}


@pytest.fixture
def start_agent(api):
    """start_agent(queues, max_jobs, ...) -> a started Agent on the test's workspace; stopped at teardown."""
    yield from agents_for(api)


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher.cli.main", *args]


@pytest.fixture
def cli(home: Path):
    """cli("queue", "list") -> CompletedProcess (text), against the test's workspace."""
    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, LAUNCHER_HOME=str(home)))
    return run


@pytest.fixture
def agent_process(home: Path):
    """agent_process("--max-jobs", "2") -> a `launcher agent` process; killed at teardown if still alive."""
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(cli_argv("agent", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=dict(os.environ, LAUNCHER_HOME=str(home)))
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The CLI's error output, checked to be one line without a traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("launcher: error: "), result.stderr
    return lines[0]


def dead_process() -> tuple[int, str]:
    """The pid and start time of a process that has really exited (as an agent killed outright leaves)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = process_start_time(process.pid)
    process.communicate(b"")
    return process.pid, started
