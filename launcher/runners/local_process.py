"""The local-process resource: the entry point runs on this machine, owned by a small owner process
(launcher/runners/process_owner.py) in a session of its own, so the run outlives the launching process."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launcher.environment import run_environment
from launcher.errors import ResourceError
from launcher.options import Option, OptionKind, grace_option
from launcher.runners import cgroups, process_owner
from launcher.runners.base import DEFAULT_GRACE_SECONDS, OwnerProcess, Runner
from launcher.runners.ownership import spawn_owner

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.runners.ownership import RunFolder
    from launcher.spec import LaunchSpec
    from launcher.workspace import Workspace

#: current: the launcher's own interpreter; venv: an environment with the job's declared dependencies,
#: built with uv. Left out: venv when the job declares dependencies (as `mlflow run` does), else current.
ENV_MANAGERS = ("current", "venv")
PART = "launcher.runners.process_owner:ProcessPart"


@dataclass(frozen=True)
class ProcessHandle:
    """What a local-process run records about its program: its process group."""

    pgid: int | None = None
    #: The run's cgroup (every process of the run is in it), when the machine allowed one.
    cgroup: str | None = None

    @classmethod
    def of(cls, record: RunRecord) -> ProcessHandle:
        pgid, group = record.handle.get("pgid"), record.handle.get("cgroup")
        return cls(pgid if isinstance(pgid, int) and pgid > 1 else None,
                   group if isinstance(group, str) and group.startswith("/") else None)


class LocalProcessRunner(Runner):
    name = "local-process"
    options = (
        Option("env", OptionKind.NAMES_TO_TEXT, "environment variables for the program", example='{"SEED": "1"}'),
        Option("env_manager", OptionKind.CHOICE, "the program's Python: the launcher's own (current), or an "
               "environment with the job's declared dependencies built with uv (venv)",
               default="venv when the job declares dependencies, else current", choices=ENV_MANAGERS),
        grace_option(DEFAULT_GRACE_SECONDS),
    )

    def notes(self) -> str | None:
        reason = cgroups.unavailable_reason()
        if reason is None:
            return None
        return (f"runs get no cgroup of their own here ({reason}): cancel and the end of a run find the run's "
                "processes by process group, as children of its owner and by the run folder in their environment")

    def working_directory(self, run_dir: str) -> str | None:
        return os.path.join(run_dir, "src")

    def validate(self, spec: LaunchSpec) -> None:
        args = self.check_args(spec.resource_args)
        if not spec.argv:
            raise ResourceError("local-process needs an entry point to run")
        program = spec.argv[0]
        # A bare name is looked up on PATH (python means the run's interpreter); paths are checked against
        # the job's source when the spec is resolved.
        if "/" not in program and program not in ("python", "python3") and shutil.which(program, path=_path(args)) is None:
            raise ResourceError(f"program {program!r} of the entry point is not found on PATH; give a path such as "
                                f"'./{program}' for a file in the job's source, or install it")

    def start(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder, lock_fd: int) -> OwnerProcess:
        args = spec.resource_args
        dependencies = declared_dependencies(spec)
        environment = wants_environment(args, dependencies)
        if environment:
            from launcher.runners.process_environment import write_plan

            write_plan(folder.path, str(workspace.envs_dir), dependencies.to_data())
        from launcher.tracking.launching import run_tracking

        user_env = {k: str(v) for k, v in args.get("env", {}).items()}
        env = dict(os.environ)
        env.update(run_environment(spec, folder.config))
        # The launching shell's variables reach the program too: they count as the user's.
        env.update(run_tracking(workspace, spec, folder.path, folder.outputs, {**os.environ, **user_env}).variables)
        env.update(user_env)
        env[cgroups.BASE_ENV] = cgroups.base() or ""
        arguments = process_owner.owner_arguments(sys.executable, self.grace_period(args), list(spec.argv))
        # An owner that builds an environment needs uv, from site-packages; others start without them.
        return OwnerProcess(spawn_owner(folder, lock_fd, PART, arguments, env=env, site=environment))

    def stop_orphan(self, workspace: Workspace, record: RunRecord, folder: RunFolder) -> str | None:
        # The program's output went to pipes only its owner read: it cannot be picked up again. Stop its
        # group and every process that carries the run's folder in its environment.
        handle = ProcessHandle.of(record)
        if handle.cgroup is not None and os.path.basename(handle.cgroup) == cgroups.run_group_name(folder.path):
            cgroups.remove(handle.cgroup)
        pgid = handle.pgid
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process_owner.stop_tagged(folder.path, signal.SIGKILL)
        return None


def declared_dependencies(spec: LaunchSpec):  # -> DeclaredDependencies
    from launcher.envs.declared import DeclaredDependencies

    if spec.dependencies:
        return DeclaredDependencies.from_data(spec.dependencies)
    return DeclaredDependencies.from_requirements(spec.requirements)


def wants_environment(args: Mapping[str, Any], dependencies) -> bool:
    manager = args.get("env_manager")
    if manager is None:  # as `mlflow run`: an environment when the project declares one
        return dependencies.declares_environment
    return manager == "venv"


def _path(args: Mapping[str, Any]) -> str | None:
    """The PATH the program will see."""
    return str(args.get("env", {}).get("PATH", os.environ.get("PATH", os.defpath)))
