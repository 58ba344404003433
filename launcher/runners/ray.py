"""The ray resource: runs go to a Ray cluster as Ray jobs, through the Ray Jobs API.

`start` checks that the cluster answers and hands the run to its owner (launcher/runners/ray_owner.py),
which stages and submits the job during set-up (the submission id is the run id), then follows its log
and state. Because the submission id is the run id, a reopened workspace finds its jobs again: when an
owner is gone while its job goes on, `resume` starts a new owner that follows it.

The cluster is named by resource_args ray.address, else RAY_ADDRESS, else the workspace setting
`ray_address`, else the local default http://127.0.0.1:8265 (a `ray start --head` on this machine)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.environment import run_environment
from launcher.errors import ResourceError
from launcher.options import Option, OptionKind
from launcher.runners.base import OwnerProcess, Runner
from launcher.runners.ownership import spawn_owner
from launcher.runners.ray_jobs_api import ClusterError, JobNotFound, RayJobsApi, normalize_address
from launcher.runners.ray_package import CONFIG_RELATIVE
from launcher.states import RunState

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.runners.ownership import RunFolder
    from launcher.spec import LaunchSpec
    from launcher.workspace import Workspace

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
ADDRESS_SETTING = "ray_address"
INSTALL_HINT = "pip install 'launcher[ray]'"
#: Ray's stop sends SIGTERM, then SIGKILL after this many seconds; the engine's usual grace period.
#: Ray reads it when the job is submitted, so on this resource it cannot change at cancel time.
STOP_WAIT_SECONDS = "10"
ADDRESS_HELP = ("set resource_args ray.address, RAY_ADDRESS or the workspace setting 'ray_address' to a "
                "cluster's dashboard address such as http://HOST:8265, or start one with 'ray start --head'")
PART = "launcher.runners.ray_owner:RayPart"


def _check_address(label: str, value: Any) -> str:
    problem = address_problem(value, "resource_args ray.address")
    if problem:
        raise ResourceError(problem)
    return value


def _check_resources(label: str, value: Any) -> Any:
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k and not isinstance(v, bool) and isinstance(v, int | float)
            and math.isfinite(v) and v >= 0 for k, v in value.items()):
        raise ResourceError(f"resource_args ray.resources {value!r} is not valid; "
                            "expected a mapping of resource names to amounts >= 0, e.g. {'accelerator': 1}")
    return value


def _check_pip(label: str, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ResourceError(f"resource_args ray.pip {value!r} is not valid; expected a list of requirement "
                            "strings, e.g. ['numpy>=1.26']")
    return value


def _check_env_vars(label: str, value: Any) -> Any:
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k and "=" not in k and not isinstance(v, bool) and isinstance(v, str | int | float)
            and (not isinstance(v, float) or math.isfinite(v)) for k, v in value.items()):
        raise ResourceError(f"resource_args ray.env_vars {value!r} is not valid; "
                            "expected a mapping of variable names to string values")
    return value


def _check_address_setting(label: str, value: Any) -> str:
    """A dashboard address must be a URL (http://HOST[:PORT]) or HOST:PORT; a bare word is a typo far more
    often than a host name, and would only fail at the next Ray launch."""
    from urllib.parse import urlsplit

    problem = address_problem(value, label)
    if problem:
        raise ResourceError(problem)
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text if "://" in text else "http://" + text)
        port = parts.port
    except ValueError:  # an unclosed '[', a port that is not a number or out of range
        parts, port = urlsplit(""), -1
    if (parts.scheme in ("http", "https") and parts.hostname and port != -1 and not (parts.path or parts.query)
            and ("://" in text or port is not None)):
        return value
    raise ResourceError(f"{label} {value!r} is not a Ray dashboard address; expected one such as "
                        "http://HOST:8265 or HOST:8265")


@dataclass(frozen=True)
class RayHandle:
    """What a Ray run records: the cluster it went to, its entry point, whether it was submitted, and when
    its last owner gave up on an unreachable cluster."""

    address: str | None = None
    submitted: bool = False
    gave_up_at: float | None = None

    @classmethod
    def of(cls, record: RunRecord) -> RayHandle:
        handle = record.handle
        address = handle.get("address")
        gave_up = handle.get("monitor_gave_up_at")
        return cls(address if isinstance(address, str) else None, handle.get("submitted") is True,
                   float(gave_up) if isinstance(gave_up, int | float) else None)


class RayRunner(Runner):
    name = "ray"
    options = (
        Option("address", OptionKind.CUSTOM, "the cluster's dashboard (Jobs API) address",
               example="'http://HOST:8265'", checker=_check_address),
        Option("num_cpus", OptionKind.NUMBER, "CPUs reserved for the entry point", minimum=0, maximum=1e6),
        Option("num_gpus", OptionKind.NUMBER, "GPUs reserved for the entry point", minimum=0, maximum=1e6),
        Option("memory", OptionKind.NUMBER, "memory reserved for the entry point, in bytes", minimum=0,
               maximum=float(1 << 60)),
        Option("resources", OptionKind.CUSTOM, "custom resources reserved for the entry point",
               example="{'accelerator': 1}", checker=_check_resources),
        Option("pip", OptionKind.CUSTOM, "requirements added to the job's own", example="['numpy>=1.26']",
               checker=_check_pip),
        Option("env_vars", OptionKind.CUSTOM, "environment variables for the entry point",
               example='{"SEED": "1"}', checker=_check_env_vars),
    )
    settings = (Option(ADDRESS_SETTING, OptionKind.CUSTOM, "Ray dashboard address for resource 'ray'",
                       default=DEFAULT_ADDRESS, example="http://HOST:8265", checker=_check_address_setting),)
    runs_images = False
    runs_source = True

    def unavailable_reason(self) -> str | None:
        # find_spec answers without importing Ray, which takes about a second.
        if importlib.util.find_spec("ray") is None:
            return f"the ray resource needs Ray, which is not installed: {INSTALL_HINT}"
        for module in ("aiohttp", "requests"):
            if importlib.util.find_spec(module) is None:
                return (f"the ray resource needs Ray's job SDK (ray[default]; {module} is missing): "
                        f"{INSTALL_HINT}")
        return None

    def unreachable_reason(self, workspace: Workspace) -> str | None:
        try:
            address, origin = cluster_address(workspace, {})
            check_cluster(RayJobsApi(address, timeout=1.0), origin)
        except ResourceError as error:
            return str(error)
        return None

    def validate(self, spec: LaunchSpec) -> None:
        self.check_args(spec.resource_args)
        reason = self.unavailable_reason()
        if reason is not None:
            raise ResourceError(reason)
        if spec.docker_image:
            raise ResourceError(f"docker_image {spec.docker_image!r} cannot run on the ray resource: Ray jobs "
                                "run the job's source on the cluster's Python; use resource='local-container'")
        if not spec.argv:
            raise ResourceError("the ray resource needs an entry point to run, e.g. ['python', 'train.py']")

    # -- start ----------------------------------------------------------------------------------------
    def start(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder, lock_fd: int) -> OwnerProcess:
        args = spec.resource_args
        address, origin = cluster_address(workspace, args)
        ray_version = check_cluster(RayJobsApi(address), origin)["ray_version"]
        from launcher.tracking.launching import run_tracking

        entrypoint = build_entrypoint(spec.argv)
        user_env = {k: str(v) for k, v in (args.get("env_vars") or {}).items()}
        env = run_environment(spec, CONFIG_RELATIVE)
        env["RAY_JOB_STOP_WAIT_TIME_S"] = STOP_WAIT_SECONDS
        tracking = run_tracking(workspace, spec, folder.path, OUTPUTS_RELATIVE, user_env).variables
        # The outputs folder is in the job's working directory on its node: the entry point makes it and
        # names it (absolute) in LAUNCHER_OUTPUT_DIR, and in WANDB_DIR unless the user chose one.
        tracking.pop("LAUNCHER_OUTPUT_DIR", None)
        tracking.pop("WANDB_DIR", None)
        env.update(tracking)
        env.update(user_env)
        plan = {
            "run_id": spec.run_id, "address": address, "ray_version": ray_version, "entrypoint": entrypoint,
            "env_vars": env, "pip": [*spec.requirements, *(args.get("pip") or [])],
            "metadata": {"launcher_run_id": spec.run_id, "launcher_run_name": spec.name,
                         "launcher_job": spec.job or ""},
            "num_cpus": args.get("num_cpus"), "num_gpus": args.get("num_gpus"),
            "memory": int(args["memory"]) if args.get("memory") is not None else None,
            "resources": dict(args["resources"]) if args.get("resources") else None,
        }
        from launcher.runners.ray_owner import PLAN_FILE

        Path(folder.file(PLAN_FILE)).write_text(json.dumps(plan))
        workspace.store.update_handle(spec.run_id, address=address, entrypoint=entrypoint)
        return OwnerProcess(spawn_owner(folder, lock_fd, PART, [], site=True))

    # -- owners that are gone -------------------------------------------------------------------------
    def resume(self, workspace: Workspace, record: RunRecord, folder: RunFolder, lock_fd: int) -> bool:
        """A Ray job goes on without its owner: a submitted run gets a new owner that follows it, unless
        the last one gave up on an unreachable cluster a short while ago (the run is left as it is)."""
        from launcher.runners import ray_owner

        handle = RayHandle.of(record)
        if not handle.submitted:
            return False
        if self.unavailable_reason() is not None:
            return True  # this process cannot follow it; one that has Ray will
        pause = ray_owner.seconds_setting(ray_owner.REATTACH_PAUSE_ENV, ray_owner.REATTACH_PAUSE_DEFAULT)
        if handle.gave_up_at is not None and time.time() - handle.gave_up_at < pause:
            return True
        spawn_owner(folder, lock_fd, PART, [], resume=True, site=True)
        return True

    def stop_orphan(self, workspace: Workspace, record: RunRecord, folder: RunFolder) -> str | None:
        handle = RayHandle.of(record)
        if handle.address is None or record.state is RunState.STARTING:
            return None
        try:
            RayJobsApi(handle.address).stop(record.id)
        except (ClusterError, JobNotFound):
            return None
        return "asked the Ray cluster to stop its job"


# -- helpers ----------------------------------------------------------------------------------------------
def cluster_address(workspace: Workspace, args: Mapping[str, Any]) -> tuple[str, str]:
    """(the dashboard address, where it came from) for error messages that say what to change."""
    for value, origin in ((args.get("address"), "resource_args ray.address"),
                          (os.environ.get("RAY_ADDRESS"), "RAY_ADDRESS"),
                          (workspace.setting(ADDRESS_SETTING), "workspace setting 'ray_address'")):
        if value:
            problem = address_problem(value, origin)
            if problem:
                raise ResourceError(problem)
            return normalize_address(value), origin
    return DEFAULT_ADDRESS, "default address"


def address_problem(value: object, origin: str) -> str | None:
    if isinstance(value, str) and value.strip() and value.strip() not in ("auto", "local") \
            and not value.strip().startswith("ray://"):
        return None
    return (f"{origin} {value!r} is not a Ray dashboard address; expected one such as http://HOST:8265 "
            "(the Jobs API, not the Ray Client or GCS port)")


def check_cluster(jobs: RayJobsApi, origin: str) -> dict[str, Any]:
    try:
        return jobs.version()
    except ClusterError as error:
        raise ResourceError(f"the Ray cluster at {jobs.address} ({origin}) does not answer: {error}; "
                            f"{ADDRESS_HELP}") from None


#: The run's outputs folder, in the job's working directory on the node that runs it (LAUNCHER_OUTPUT_DIR).
OUTPUTS_RELATIVE = "outputs"


def build_entrypoint(argv: tuple[str, ...] | list[str]) -> str:
    """Ray runs the entrypoint with /bin/sh: every argument is quoted, and `exec` lets Ray's stop signal
    reach the program itself. The config file's and outputs folder's paths are made absolute on the node
    that runs the job."""
    return (f'export LAUNCHER_CONFIG_FILE="$PWD/{CONFIG_RELATIVE}"; '
            f'mkdir -p "$PWD/{OUTPUTS_RELATIVE}"; export LAUNCHER_OUTPUT_DIR="$PWD/{OUTPUTS_RELATIVE}"; '
            f'export WANDB_DIR="${{WANDB_DIR:-$LAUNCHER_OUTPUT_DIR}}"; '
            f"exec {shlex.join(argv)}")
