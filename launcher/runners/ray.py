"""The ray resource: runs go to a Ray cluster as Ray jobs, through the Ray Jobs API.

`start` stages the run's source with its config file (launcher/runners/ray_package.py), submits a job
whose submission id is the run id, and starts a detached monitor process (ray_monitor.py) that follows
the job's log and state into the run folder and the store. Because the submission id is the run id, a
reopened workspace finds its jobs again: `reattach` starts a monitor for any active run that has none.

The cluster is named by resource_args ray.address, else RAY_ADDRESS, else the workspace setting
`ray_address`, else the local default http://127.0.0.1:8265 (a `ray start --head` on this machine).
Ray itself is imported only to submit (its SDK packages and uploads the working directory)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import states
from launcher.environment import run_environment
from launcher.errors import ResourceError
from launcher.logfile import LogWriter
from launcher.processes import try_lock
from launcher.runners import ray_monitor
from launcher.runners.base import ProcessHandle, RunHandle, Runner, check_resource_args
from launcher.runners.ray_jobs_api import ClusterError, JobNotFound, RayJobsApi, normalize_address
from launcher.runners.ray_package import CONFIG_RELATIVE, stage_working_dir

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.spec import LaunchSpec

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
ADDRESS_SETTING = "ray_address"
INSTALL_HINT = "pip install 'launcher[ray]'"
STAGING_DIR = "ray-working-dir"
#: A run still without a cluster address after this long was never submitted: its launcher died.
START_TIMEOUT_SECONDS = 60.0
#: Ray's stop sends SIGTERM, then SIGKILL after this many seconds; the engine's usual grace period.
#: Ray reads it when the job is submitted, so on this resource it cannot change at cancel time.
STOP_WAIT_SECONDS = "10"
QUIET_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk",
                 "ray._private.runtime_env.packaging")
ADDRESS_HELP = ("set resource_args ray.address, RAY_ADDRESS or the workspace setting 'ray_address' to a "
                "cluster's dashboard address such as http://HOST:8265, or start one with 'ray start --head'")


class RayRunner(Runner):
    name = "ray"
    resource_arg_keys = ("address", "num_cpus", "num_gpus", "memory", "resources", "pip", "env_vars")
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

    def unreachable_reason(self, api: Api) -> str | None:
        try:
            address, origin = cluster_address(api, {})
            check_cluster(RayJobsApi(address, timeout=1.0), origin)
        except ResourceError as error:
            return str(error)
        return None

    def validate(self, spec: LaunchSpec) -> None:
        args = spec.resource_args
        check_resource_args(self.name, args, self.resource_arg_keys)
        reason = self.unavailable_reason()
        if reason is not None:
            raise ResourceError(reason)
        _check_args(args)
        if spec.docker_image:
            raise ResourceError(f"docker_image {spec.docker_image!r} cannot run on the ray resource: Ray jobs "
                                "run the job's source on the cluster's Python; use resource='local-container'")
        if not spec.argv:
            raise ResourceError("the ray resource needs an entry point to run, e.g. ['python', 'train.py']")

    # -- start ----------------------------------------------------------------------------------------
    def start(self, api: Api, spec: LaunchSpec, run_dir: Path) -> RunHandle:
        lock = try_lock(run_dir / ray_monitor.LOCK_FILE)  # held while submitting: reattach must not step in
        try:
            address, origin = cluster_address(api, spec.resource_args)
            jobs = RayJobsApi(address)
            ray_version = check_cluster(jobs, origin)["ray_version"]
            entrypoint = build_entrypoint(spec.argv)
            api.store.update_handle(spec.run_id, address=address, entrypoint=entrypoint)
            self._submit(spec, run_dir, address, ray_version, entrypoint)
            api.store.update_handle(spec.run_id, submitted=True)
        finally:
            if lock is not None:
                os.close(lock)
        if (run_dir / ray_monitor.CANCEL_FILE).exists():  # cancelled while we were submitting
            try:
                jobs.stop(spec.run_id)
            except (ClusterError, JobNotFound):
                pass  # the monitor tries again, and records the stop
        return ProcessHandle(spawn_monitor(api, run_dir, spec.run_id))

    def _submit(self, spec: LaunchSpec, run_dir: Path, address: str, ray_version: str, entrypoint: str) -> None:
        args = spec.resource_args
        staging = run_dir / STAGING_DIR
        shutil.rmtree(staging, ignore_errors=True)
        try:
            count, size = stage_working_dir(run_dir / "src", run_dir / "config.json", staging,
                                            respect_gitignore=spec.job_kind != "git")
            env = run_environment(spec, CONFIG_RELATIVE)
            env["RAY_JOB_STOP_WAIT_TIME_S"] = STOP_WAIT_SECONDS
            env.update({k: str(v) for k, v in (args.get("env_vars") or {}).items()})
            runtime_env: dict[str, Any] = {"working_dir": str(staging), "env_vars": env}
            pip = [*spec.requirements, *(args.get("pip") or [])]
            if pip:
                runtime_env["pip"] = pip
            _note(run_dir, f"submitting to the Ray cluster at {address} (Ray {ray_version}) as job {spec.run_id}: "
                           f"{count} files, {_size(size)}" + (f"; pip: {' '.join(pip)}" if pip else ""))
            _submit_job(address, spec, entrypoint, runtime_env, count, size)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- cancel and reattach --------------------------------------------------------------------------
    def cancel(self, api: Api, run: Mapping[str, Any], grace_period: float | None) -> None:
        run_dir = api.run_dir(run["id"])
        (run_dir / ray_monitor.CANCEL_FILE).write_text(json.dumps({"grace_period": grace_period, "at": time.time()}))
        handle = run["handle"]
        if not handle.get("submitted"):
            if ray_monitor.monitor_alive(run_dir):
                return  # still being submitted: start() stops the job once it is in
            api.store.transition(run["id"], states.STOPPED, message="stopped before it reached the Ray cluster")
            return
        jobs = RayJobsApi(handle["address"])
        try:
            jobs.stop(run["id"])
            status = jobs.job(run["id"]).get("status")
        except JobNotFound:
            api.store.transition(run["id"], states.STOPPED,
                                 message="stopped by request (the Ray cluster no longer knew the job)")
            return
        except ClusterError as error:
            raise ResourceError(f"cannot stop run {run['id']}: the Ray cluster at {handle['address']} "
                                f"does not answer ({error})") from None
        if status == "PENDING":
            # Ray answers "stopped" but leaves a job that waits to be scheduled PENDING: its stop is queued
            # for a job supervisor that does not exist yet. It ends the job at once if it is ever scheduled.
            # The run's monitor, which sees the cancel request too, may record the same stop first: the note
            # is written here either way.
            api.store.transition(run["id"], states.STOPPED, message=ray_monitor.PENDING_STOP_MESSAGE)
            _note(run_dir, "stopped while still pending on the Ray cluster; Ray keeps the job listed as "
                           "PENDING until it is scheduled (then it stops at once) or its start timeout passes")
            return
        if not ray_monitor.monitor_alive(run_dir):
            spawn_monitor(api, run_dir, run["id"])  # someone must record the stop

    def reattach(self, api: Api, run: Mapping[str, Any]) -> None:
        reason = self.unavailable_reason()
        if reason is not None:  # leave the run as it is for a process that can follow it
            raise ResourceError(reason)
        run_dir = api.run_dir(run["id"])
        if not run_dir.is_dir() or ray_monitor.monitor_alive(run_dir):
            return  # a monitor follows it, or it is being submitted right now
        latest = api.store.get_run(run["id"])
        if latest is None or states.is_terminal(latest["state"]):
            return
        gave_up = latest["handle"].get("monitor_gave_up_at")
        pause = ray_monitor.seconds_setting(ray_monitor.REATTACH_PAUSE_ENV, ray_monitor.REATTACH_PAUSE_DEFAULT)
        if gave_up is not None and time.time() - gave_up < pause:
            return  # the last monitor gave up on an unreachable cluster a short while ago
        if "address" not in latest["handle"]:
            if time.time() - latest["created_at"] < START_TIMEOUT_SECONDS:
                return  # the engine is between recording the run and calling start()
            message = "the launching process ended before the job was submitted to Ray"
            _note(run_dir, message)
            api.store.transition(run["id"], states.START_FAILED, message=message)
            return
        spawn_monitor(api, run_dir, run["id"])


# -- helpers ----------------------------------------------------------------------------------------------
def cluster_address(api: Api, args: Mapping[str, Any]) -> tuple[str, str]:
    """(the dashboard address, where it came from) for error messages that say what to change."""
    for value, origin in ((args.get("address"), "resource_args ray.address"),
                          (os.environ.get("RAY_ADDRESS"), "RAY_ADDRESS"),
                          (api.get_setting(ADDRESS_SETTING), "workspace setting 'ray_address'")):
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


def build_entrypoint(argv: tuple[str, ...] | list[str]) -> str:
    """Ray runs the entrypoint with /bin/sh: every argument is quoted, and `exec` lets Ray's stop signal
    reach the program itself. The config file's path is made absolute on the node that runs the job."""
    return (f'export LAUNCHER_CONFIG_FILE="$PWD/{CONFIG_RELATIVE}"; '
            f"exec {shlex.join(argv)}")


def spawn_monitor(api: Api, run_dir: Path, run_id: str) -> subprocess.Popen:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(run_dir / "ray-monitor.err", "ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "launcher.runners.ray_monitor", str(api.store.path), str(run_dir), run_id],
            env=env, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
            start_new_session=True, close_fds=True)


def _submit_job(address: str, spec: LaunchSpec, entrypoint: str, runtime_env: dict[str, Any],
                count: int, size: int) -> None:
    args = spec.resource_args
    try:
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(address)
        with _quiet_ray_logging():
            client.submit_job(
                entrypoint=entrypoint,
                submission_id=spec.run_id,
                runtime_env=runtime_env,
                metadata={"launcher_run_id": spec.run_id, "launcher_run_name": spec.name,
                          "launcher_job": spec.job or ""},
                entrypoint_num_cpus=args.get("num_cpus"),
                entrypoint_num_gpus=args.get("num_gpus"),
                entrypoint_memory=int(args["memory"]) if args.get("memory") is not None else None,
                entrypoint_resources=dict(args["resources"]) if args.get("resources") else None,
            )
    except ImportError as error:
        raise ResourceError(f"the ray resource cannot import Ray's job SDK ({error}): {INSTALL_HINT}") from None
    except Exception as error:  # noqa: BLE001 - Ray raises plain RuntimeError/ValueError/ConnectionError
        raise _submit_error(address, spec.run_id, error, count, size) from None


@contextlib.contextmanager
def _quiet_ray_logging() -> Iterator[None]:
    """Ray's SDK logs each packaging and upload step at INFO on the launching terminal; the run's log
    gets a line of our own instead."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _submit_error(address: str, run_id: str, error: Exception, count: int, size: int) -> ResourceError:
    text = str(error)
    too_big = re.search(r"Package size \(([^)]*)\) exceeds the maximum size of ([0-9.]+ ?\w+)", text)
    if too_big:
        return ResourceError(f"the job's source is too big for the Ray cluster at {address}: {count} files, "
                             f"{_size(size)} ({too_big.group(1)} zipped), over Ray's limit of {too_big.group(2)}; "
                             "leave large files out with .gitignore or .rayignore")
    if "already exists" in text:
        return ResourceError(f"run_id {run_id!r} is already the id of a job on the Ray cluster at {address}; "
                             "choose another run_id")
    if isinstance(error, ConnectionError) or type(error).__module__.startswith(("requests", "urllib3")):
        return ResourceError(f"the Ray cluster at {address} stopped answering while the job was submitted: "
                             f"{_first_line(text)}")
    return ResourceError(f"the Ray cluster at {address} refused job {run_id}: {_first_line(_ray_reason(text))}")


def _ray_reason(text: str) -> str:
    """The last line of a server-side traceback is the useful one."""
    lines = [line.strip() for line in text.strip().rstrip(".").splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 and lines[0].startswith("Request failed") else text


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "no details"


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def _note(run_dir: Path, text: str) -> None:
    log = LogWriter(run_dir / "output.log")
    try:
        log.note(text)
    finally:
        log.close()


def _check_args(args: Mapping[str, Any]) -> None:
    if "address" in args:
        problem = address_problem(args["address"], "resource_args ray.address")
        if problem:
            raise ResourceError(problem)
    for key in ("num_cpus", "num_gpus", "memory"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            unit = "a number of bytes" if key == "memory" else "a number"
            raise ResourceError(f"resource_args ray.{key} {value!r} is not valid; expected {unit} >= 0")
    resources = args.get("resources")
    if resources is not None and (not isinstance(resources, Mapping) or not all(
            isinstance(k, str) and k and not isinstance(v, bool) and isinstance(v, int | float) and v >= 0
            for k, v in resources.items())):
        raise ResourceError(f"resource_args ray.resources {resources!r} is not valid; "
                            "expected a mapping of resource names to amounts >= 0, e.g. {'accelerator': 1}")
    pip = args.get("pip")
    if pip is not None and (not isinstance(pip, list | tuple) or not all(isinstance(p, str) and p.strip() for p in pip)):
        raise ResourceError(f"resource_args ray.pip {pip!r} is not valid; expected a list of requirement "
                            "strings, e.g. ['numpy>=1.26']")
    env_vars = args.get("env_vars")
    if env_vars is not None and (not isinstance(env_vars, Mapping) or not all(
            isinstance(k, str) and k and "=" not in k and not isinstance(v, bool) and isinstance(v, str | int | float)
            for k, v in env_vars.items())):
        raise ResourceError(f"resource_args ray.env_vars {env_vars!r} is not valid; "
                            "expected a mapping of variable names to string values")
