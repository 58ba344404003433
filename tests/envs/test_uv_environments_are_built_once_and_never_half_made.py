"""Environments built with real uv from the package index: a python_env.yaml project and a conda.yaml
project run their imports; a second request reuses the environment; two concurrent builders build it
once (the second says it waits); a cancelled build and a killed builder leave nothing behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from launcher.envs import interpreters
from launcher.envs.declared import DeclaredDependencies, DependencySource
from launcher.envs.pip_config import IndexSettings, read_pip_settings
from launcher.envs.uv_env import ensure_environment, environment_key, find_environment, uv_binary
from launcher.errors import EnvironmentCancelled
from launcher.jobs.inspect import describe_source, read_from_dir
from tests.envs.conftest import leftovers, processes_in_groups, processes_working_in
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
#: What `uv pip install` prints first (`uv venv` says "Using CPython 3.x interpreter at").
INSTALLING = re.compile(rb"Using Python \S+ environment at")

BUILDER = """
import json, sys
from pathlib import Path
from launcher.envs.declared import DeclaredDependencies
from launcher.envs.pip_config import IndexSettings
from launcher.envs.uv_env import ensure_environment

def show(chunk):
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()

settings = IndexSettings() if sys.argv[3] == "no-machine-settings" else None
environment = ensure_environment(DeclaredDependencies.from_data(json.loads(sys.argv[2])), Path(sys.argv[1]),
                                 on_output=show, settings=settings)
print("RESULT " + json.dumps({"built": environment.built, "python": str(environment.python)}), flush=True)
"""


def start_builder(envs_dir: Path, declared: DeclaredDependencies, output: Path, *, machine_settings: bool = True):
    return subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(envs_dir), json.dumps(declared.to_data()),
         "machine-settings" if machine_settings else "no-machine-settings"],
        stdout=output.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)))


def another_minor_version() -> str:
    """An installed Python minor version other than the current one, when the machine has one."""
    current = interpreters.current_interpreter().version.rsplit(".", 1)[0]
    installed = interpreters.installed_interpreters(uv_binary(), interpreters.uv_environment())
    others = sorted({i.version.rsplit(".", 1)[0] for i in installed if i.implementation == "cpython"} - {current})
    return "3.12" if "3.12" in others else (others[-1] if others else current)


def run_in(environment_python: Path, code: str) -> str:
    return subprocess.run([str(environment_python), "-c", code], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_python_env_project_gets_its_python_and_packages_then_reuses_them(make_code_dir, tmp_path):
    minor = another_minor_version()
    source = make_code_dir({
        "MLproject": "python_env: python_env.yaml\nentry_points:\n  main:\n    command: python train.py\n",
        "python_env.yaml": f'python: "{minor}"\nbuild_dependencies:\n  - wheel\ndependencies:\n  - six\n  - packaging\n'})
    declared = describe_source(read_from_dir(source)).dependencies
    envs_dir = tmp_path / "envs"
    chunks: list[bytes] = []
    environment = ensure_environment(declared, envs_dir, on_output=chunks.append)
    assert environment.built
    output = b"".join(chunks).decode()
    # uv's own output came through the callback, before the launcher said the environment was ready
    assert output.index("+ six==") < output.index(f"environment uv-{environment.key} is ready")
    assert run_in(environment.python, "import sys, six, packaging, wheel; print('%d.%d' % sys.version_info[:2])") == minor
    assert leftovers(envs_dir) == [f"uv-{environment.key}"]

    again = ensure_environment(declared, envs_dir, on_output=chunks.append)
    assert (again.built, again.path) == (False, environment.path)
    assert find_environment(declared, envs_dir) == again


def test_conda_yaml_pip_section_is_installed(make_code_dir, tmp_path):
    current = interpreters.current_interpreter().version.rsplit(".", 1)[0]
    source = make_code_dir({
        "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n    command: python train.py\n",
        "conda.yaml": f"name: t\ndependencies:\n  - python={current}\n  - pip\n  - pip:\n    - six\n    - packaging>=20\n"})
    declared = describe_source(read_from_dir(source)).dependencies
    environment = ensure_environment(declared, tmp_path / "envs")
    assert run_in(environment.python, "import six, packaging; print('ok')") == "ok"
    # console scripts of a relocated environment still start (the folder was renamed into place)
    assert environment.path.name == f"uv-{environment.key}"


def test_two_concurrent_builders_build_once_and_the_second_says_it_waits(tmp_path):
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",))
    envs_dir = tmp_path / "envs"
    envs_dir.mkdir()
    lock_path = envs_dir / f"uv-{environment_key(declared, read_pip_settings())}.lock"
    outputs = [tmp_path / "first.out", tmp_path / "second.out"]
    # Hold the key's lock, as a builder at work holds it, until both builders are waiting for it.
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builders = [start_builder(envs_dir, declared, output) for output in outputs]
        wait_for(lambda: all(b"waiting for another run that is building" in o.read_bytes() for o in outputs),
                 timeout=60, what="both builders waiting for the lock")
        fcntl.flock(lock, fcntl.LOCK_UN)
    for builder in builders:
        assert builder.wait(timeout=180) == 0
    texts = [output.read_text() for output in outputs]
    results = [json.loads(text.split("RESULT ", 1)[1]) for text in texts]
    assert sorted(result["built"] for result in results) == [False, True]
    assert sum(text.count("launcher: building environment") for text in texts) == 1
    assert any("was built by another run meanwhile; using it" in text for text in texts)
    assert results[0]["python"] == results[1]["python"]
    assert leftovers(envs_dir) == [Path(results[0]["python"]).parents[1].name]


def test_a_cancelled_build_stops_uv_and_leaves_nothing(tmp_path, silent_index):
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",),
                                    index_url=silent_index)
    envs_dir = tmp_path / "envs"
    cancel = threading.Event()
    chunks: list[bytes] = []
    outcome: list[BaseException] = []

    def build() -> None:
        try:
            ensure_environment(declared, envs_dir, on_output=chunks.append, cancelled=cancel, grace_period=2.0,
                               settings=IndexSettings())
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    worker = threading.Thread(target=build)
    worker.start()
    # uv is installing: it asked the index, which never answers
    wait_for(lambda: INSTALLING.search(b"".join(chunks)) and processes_working_in(envs_dir), timeout=60,
             what="uv waiting on the index")
    assert any(path.name.startswith(".tmp-uv-") for path in envs_dir.iterdir())
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 2.0 + 1.5
    assert len(outcome) == 1 and isinstance(outcome[0], EnvironmentCancelled)
    assert processes_working_in(envs_dir) == []
    assert leftovers(envs_dir) == []


def test_a_killed_builders_folder_is_removed_once_its_uv_is_gone(tmp_path, silent_index):
    hanging = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",),
                                   index_url=silent_index)
    envs_dir = tmp_path / "envs"
    output = tmp_path / "builder.out"
    builder = start_builder(envs_dir, hanging, output, machine_settings=False)
    # `uv pip install` is at work (asking the index that never answers)
    wait_for(lambda: INSTALLING.search(output.read_bytes()) and processes_working_in(envs_dir), timeout=60,
             what="the builder's uv pip install at work")
    [temp] = envs_dir.glob(".tmp-uv-*")
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait(timeout=30)
    orphans = processes_working_in(envs_dir)
    assert orphans, "uv outlives its builder"

    # uv still holds the key's lock: another build leaves its folder alone
    six = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",))
    ensure_environment(six, envs_dir)
    assert temp.exists()

    # The machine loses the orphan too: uv's process group (uv runs in a session of its own, with the
    # helpers it starts, which inherit the lock as well).
    groups = {os.getpgid(pid) for pid in orphans if processes_in_groups({pid})}
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    wait_for(lambda: not processes_in_groups(groups), timeout=30, what="uv and its helpers gone")
    packaging = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("packaging",))
    ensure_environment(packaging, envs_dir)
    assert not temp.exists()
    assert all(name.startswith("uv-") for name in leftovers(envs_dir)) and len(leftovers(envs_dir)) == 2


@pytest.mark.parametrize("cancel_kind", ["event", "callable"])
def test_cancel_while_waiting_for_another_builder(tmp_path, cancel_kind):
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",))
    envs_dir = tmp_path / "envs"
    envs_dir.mkdir()
    lock_path = envs_dir / f"uv-{environment_key(declared, read_pip_settings())}.lock"
    chunks: list[bytes] = []
    event = threading.Event()
    cancelled = event if cancel_kind == "event" else event.is_set
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        timer = threading.Timer(0.0, lambda: wait_for(lambda: chunks, what="the wait message") and event.set())
        timer.start()
        with pytest.raises(EnvironmentCancelled, match="cancelled while waiting for environment"):
            ensure_environment(declared, envs_dir, on_output=chunks.append, cancelled=cancelled)
        timer.join()
    assert b"waiting for another run" in chunks[0]
    assert leftovers(envs_dir) == []
