"""What a resource supplies, on the launching side. (Its owner part, run in the run's owner process, is in
launcher/runners/*_owner.py; the protocol they share is launcher/runners/ownership.py.)

The engine validates and resolves a launch, makes the run folder (source, config, the owner lock held),
records the run as starting, then calls `start`, which hands the run to its owner and returns. From there
the owner alone moves the run's state and writes its log. When an owner is found gone while its run is
still active (launcher/reconcile.py), `resume` may start a new owner that picks the program up (a
container or a cluster job goes on without its owner); otherwise `stop_orphan` stops what is left and the
run is recorded as ended."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from launcher.options import Option, check_options

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.runners.ownership import RunFolder
    from launcher.spec import LaunchSpec
    from launcher.workspace import Workspace

DEFAULT_GRACE_SECONDS = 10.0


class OwnerProcess:
    """What `start` returns: the owner process this process started (a launch may wait on it cheaply)."""

    def __init__(self, process: subprocess.Popen | None) -> None:
        self.process = process

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the owner has exited (True), or the timeout passed (False)."""
        if self.process is None:
            return False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


class Runner(ABC):
    #: The resource name users type (`local-process`, `local-container`, `ray`).
    name: ClassVar[str]
    #: resource_args[name], declared: checks, CLI help and the launch form's fields come from these.
    options: ClassVar[tuple[Option, ...]] = ()
    #: Workspace settings this resource adds (`launcher settings`), declared the same way.
    settings: ClassVar[tuple[Option, ...]] = ()
    #: Whether the runner can run image jobs and docker_image launches.
    runs_images: ClassVar[bool] = False
    #: Whether the runner can run code and git jobs.
    runs_source: ClassVar[bool] = True

    def unavailable_reason(self) -> str | None:
        """None when the resource can be used on this machine, else why not (shown in the UI)."""
        return None

    def notes(self) -> str | None:
        """What a user should know about this resource here, although it can be used (one line)."""
        return None

    def unreachable_reason(self, workspace: Workspace) -> str | None:
        """For a resource that is installed: None when the workspace's default target (a cluster, an
        engine) answers, else why not. Must answer within about a second."""
        return None

    def check_args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """resource_args for this runner, each checked by its declaration (ResourceError otherwise)."""
        return check_options(self.name, self.options, args)

    def validate(self, spec: LaunchSpec) -> None:
        """Raise a ResourceError for a launch this runner cannot do. Subclasses add their own checks."""
        self.check_args(spec.resource_args)

    def working_directory(self, run_dir: str) -> str | None:
        """Where the program runs, as the program sees it, when it is known before the run starts (MLproject
        path parameters are made absolute there); None: relative paths are passed as they are."""
        return None

    def grace_period(self, resource_args: Mapping[str, Any]) -> float:
        return float(resource_args.get("grace_period", DEFAULT_GRACE_SECONDS))

    @abstractmethod
    def start(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder, lock_fd: int) -> OwnerProcess:
        """Hand the run to its owner (spawn_owner with `lock_fd`, the held owner lock); return quickly."""

    def resume(self, workspace: Workspace, record: RunRecord, folder: RunFolder, lock_fd: int) -> bool:
        """The run's owner is gone while the run is active: start an owner that picks the program up
        (True), or leave the run as it is for now (True, when the runner knows why). False: the program
        cannot be picked up; `stop_orphan` stops what is left and the run is ended."""
        return False

    def stop_orphan(self, workspace: Workspace, record: RunRecord, folder: RunFolder) -> str | None:
        """Stop whatever is left of a run whose owner is gone for good; returns a note for the log."""
        import signal

        from launcher.runners.process_owner import stop_tagged

        stop_tagged(folder.path, signal.SIGKILL)
        return None

    def image_of(self, record: RunRecord) -> str | None:
        """The image the run's owner built or found for it, for resources that run images."""
        return None

    def forget(self, workspace: Workspace, record: RunRecord) -> None:
        """A run is being deleted: remove what this resource keeps for it outside its folder (a kept
        container). Its folder and record are removed by the caller."""
        return None

    def tidy(self, workspace: Workspace) -> None:
        """Finish clean-up that could not be done when a run ended (a container left while its engine was
        away). Opening a workspace calls this only when `workspace.tidy_dir / name` exists."""
        return None
