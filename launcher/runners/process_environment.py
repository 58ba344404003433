"""The environment a local-process run's program gets when its job declares dependencies (or the run asks
for one with `env_manager: venv`): a virtualenv built with uv (launcher/envs/uv_env.py), cached by the
interpreter version and the full dependency list and shared between runs, built during the owner's
set-up phase with uv's output streamed into the run's log."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from launcher.runners.ownership import Cancelled, StartFailed

if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext

#: Written by the local-process runner when the run needs an environment: where environments live and
#: what the job declares.
PLAN_FILE = "environment.json"


def write_plan(folder_path: str, envs_dir: str, dependencies: dict) -> None:
    with open(os.path.join(folder_path, PLAN_FILE), "w") as f:
        json.dump({"envs_dir": envs_dir, "dependencies": dependencies}, f)


def prepare_environment(context: SetupContext, grace_period: float) -> str:
    """The interpreter of the run's environment (built first if it is not cached yet). The environment's
    bin folder goes first on the program's PATH, so commands run through a shell find its `python` too."""
    from pathlib import Path

    from launcher.envs.declared import DeclaredDependencies
    from launcher.envs.uv_env import ensure_environment
    from launcher.errors import DependencyError, EnvironmentCancelled

    with open(context.folder.file(PLAN_FILE)) as f:
        plan = json.load(f)
    declared = DeclaredDependencies.from_data(plan["dependencies"])
    context.step(f"preparing the environment: {declared.describe()}")
    try:
        environment = ensure_environment(declared, Path(plan["envs_dir"]), on_output=context.setup_output,
                                         cancelled=context.check_cancel, grace_period=grace_period,
                                         on_scratch=lambda path: context.folder.add_scratch(str(path)))
    except EnvironmentCancelled:
        raise Cancelled() from None
    except DependencyError as error:
        raise StartFailed(str(error)) from None
    if not environment.built:
        context.step(f"using the cached environment {environment.path}")
    os.environ["PATH"] = os.pathsep.join([str(environment.bin_dir), os.environ.get("PATH", os.defpath)])
    os.environ["VIRTUAL_ENV"] = str(environment.path)
    return str(environment.python)
