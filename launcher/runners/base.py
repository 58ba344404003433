"""The one small interface every resource implements.

The engine validates and resolves a launch, prepares the run folder (the source checkout in `src/`,
`config.json`), inserts the run in the starting state, then calls `start`. From there the runner owns the
run's state moves and its log file: it writes output to `run_dir/output.log` with `launcher.logfile`
and moves the state forward with `api.store.transition`. `reattach` is called for runs still active when
a workspace is (re)opened, so that a runner can pick up runs whose launching process is gone."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from launcher.errors import ResourceError

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.spec import LaunchSpec


#: Folder of the workspace where runners leave markers of pending clean-up, one sub-folder per resource.
TIDY_DIR = "tidy"


class RunHandle:
    """What `start` returns. Runners whose runs can be awaited cheaply in-process override `wait`."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended, if this handle can tell; False means: poll the store instead."""
        return False


class ProcessHandle(RunHandle):
    """A run followed by a process this one started (a supervisor or monitor that exits with the run)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


class Runner(ABC):
    #: The resource name users type (`local-process`, `local-container`, `ray`).
    name: ClassVar[str]
    #: Keys accepted in resource_args[name].
    resource_arg_keys: ClassVar[tuple[str, ...]] = ()
    #: Whether the runner can run image jobs and docker_image launches.
    runs_images: ClassVar[bool] = False
    #: Whether the runner can run code and git jobs.
    runs_source: ClassVar[bool] = True

    def unavailable_reason(self) -> str | None:
        """None when the resource can be used on this machine, else why not (shown in the UI)."""
        return None

    def unreachable_reason(self, api: Api) -> str | None:
        """For a resource that is installed: None when the workspace's default target (a cluster, an
        engine) answers, else why not. Must answer within about a second."""
        return None

    def validate(self, spec: LaunchSpec) -> None:
        """Raise a ResourceError for resource_args this runner does not understand."""
        check_resource_args(self.name, spec.resource_args, self.resource_arg_keys)

    @abstractmethod
    def start(self, api: Api, spec: LaunchSpec, run_dir: Path) -> RunHandle:
        """Start the run; return quickly, leaving the run in starting or running."""

    @abstractmethod
    def cancel(self, api: Api, run: Mapping[str, Any], grace_period: float | None) -> None:
        """Stop the run (SIGTERM, grace period, SIGKILL or the resource's equivalent)."""

    def tidy(self, api: Api) -> None:
        """Finish clean-up that could not be done when a run ended (a container left while its engine was
        away). The runner leaves a file per pending item in `api.home / TIDY_DIR / name`; opening the
        workspace calls this only when that folder exists, so a workspace with nothing pending pays one
        stat."""
        return None

    def reattach(self, api: Api, run: Mapping[str, Any]) -> None:
        """Pick up a run that is still active in the store but whose launching process may be gone."""
        return None


def check_resource_args(resource: str, args: Mapping[str, Any], known: tuple[str, ...]) -> None:
    if not isinstance(args, Mapping):
        raise ResourceError(f"resource_args[{resource!r}] must be a mapping, got {args!r}")
    unknown = sorted(set(args) - set(known))
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise ResourceError(f"unknown resource_args key{'s' if len(unknown) > 1 else ''} {names} for {resource}; "
                            f"expected one of: {', '.join(known) or 'none'}")
