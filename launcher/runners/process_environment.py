"""The environment a local-process run's program gets when it asks for one (`env_manager: venv`): a
virtualenv with the job's requirements, cached by their hash and shared between runs.

Built in a temporary folder and renamed into place once complete, so a failed or cancelled install (or an
owner killed during it) leaves no half-made environment; two runs needing the same environment build it
once (a file lock), and the second says in its log that it waits."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext


def prepare_environment(context: SetupContext, plan_file: str, base_python: str) -> str:
    """The interpreter of the run's environment, built first if it is not cached yet."""
    with open(plan_file) as f:
        plan = json.load(f)
    envs_dir, requirements = plan["envs_dir"], list(plan["requirements"])
    digest = hashlib.sha256(json.dumps(sorted(requirements)).encode()).hexdigest()[:16]
    env_dir = os.path.join(envs_dir, digest)
    python = os.path.join(env_dir, "bin", "python")
    os.makedirs(envs_dir, exist_ok=True)
    with open(os.path.join(envs_dir, f"{digest}.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            context.step(f"waiting for another run that is building the environment {env_dir}")
            _wait_for_lock(context, lock)
        if os.path.exists(python):
            context.step(f"using cached virtualenv {env_dir}")
            return python
        _remove_stale(envs_dir, digest)
        building = os.path.join(envs_dir, f".{digest}-{context.folder.run_id}")
        context.folder.add_scratch(building)  # removed by whoever settles the run if this owner dies
        try:
            context.step(f"creating virtualenv {env_dir}")
            context.run_setup([base_python, "-m", "venv", "--clear", building])
            if requirements:
                context.step("installing requirements: " + " ".join(requirements))
                context.run_setup([os.path.join(building, "bin", "python"), "-m", "pip", "install",
                                   "--disable-pip-version-check", *requirements])
            # Runs call the environment's interpreter by path, which stays valid after the rename (its
            # console scripts would not: they are never used).
            os.rename(building, env_dir)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return python


def _wait_for_lock(context: SetupContext, lock) -> None:
    """Block until the lock is ours, giving up (Cancelled) when this run is cancelled meanwhile."""
    import time

    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            context.raise_if_cancelled()
            time.sleep(0.2)


def _remove_stale(envs_dir: str, digest: str) -> None:
    """Temporary folders of builds whose owner died (we hold the lock: nobody else is building it)."""
    for name in os.listdir(envs_dir):
        if name.startswith(f".{digest}-"):
            shutil.rmtree(os.path.join(envs_dir, name), ignore_errors=True)
