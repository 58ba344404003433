"""Submitting a run to a Ray cluster, done by the run's owner during set-up: the run's source is staged
with its config file and Ray's SDK packages, uploads and submits it as a job whose submission id is the
run id. Ray itself is imported only here (about a second)."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from launcher.errors import ResourceError
from launcher.runners.ray_package import stage_working_dir

INSTALL_HINT = "pip install 'launcher[ray]'"
QUIET_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk",
                 "ray._private.runtime_env.packaging")


def stage_and_submit(plan: dict[str, Any], run_dir: Path, staging: Path, note) -> None:
    """Stage the working directory, submit the job as `plan` says (ray.json: see RayRunner.start), and
    remove the staged copy whatever happens. `note` takes a line for the run's log."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        count, size = stage_working_dir(run_dir / "src", run_dir / "config.json", staging, note)
        runtime_env: dict[str, Any] = {"working_dir": str(staging), "env_vars": plan["env_vars"]}
        if plan["pip"]:
            runtime_env["pip"] = plan["pip"]
        note(f"submitting to the Ray cluster at {plan['address']} (Ray {plan['ray_version']}) as job "
             f"{plan['run_id']}: {count} files, {_size(size)}" + (f"; pip: {' '.join(plan['pip'])}" if plan["pip"] else ""))
        _submit_job(plan, runtime_env, count, size)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _submit_job(plan: dict[str, Any], runtime_env: dict[str, Any], count: int, size: int) -> None:
    address, run_id = plan["address"], plan["run_id"]
    try:
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(address)
        with _quiet_ray_logging():
            client.submit_job(
                entrypoint=plan["entrypoint"],
                submission_id=run_id,
                runtime_env=runtime_env,
                metadata=plan["metadata"],
                entrypoint_num_cpus=plan["num_cpus"],
                entrypoint_num_gpus=plan["num_gpus"],
                entrypoint_memory=plan["memory"],
                entrypoint_resources=plan["resources"],
            )
    except ImportError as error:
        raise ResourceError(f"the ray resource cannot import Ray's job SDK ({error}): {INSTALL_HINT}") from None
    except Exception as error:  # noqa: BLE001 - Ray raises plain RuntimeError/ValueError/ConnectionError
        raise _submit_error(address, run_id, error, count, size) from None


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
