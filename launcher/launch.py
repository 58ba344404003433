"""launch(): the public entry point, W&B Launch's signature with every parameter doing what it says."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher import lifecycle, states
from launcher.api import discard, write_run_files
from launcher.errors import ExecutionError, LaunchError, RunError
from launcher.logfile import LogWriter
from launcher.resolve import resolve
from launcher.run import Run
from launcher.spec import LaunchRequest, merge_request

if TYPE_CHECKING:
    from launcher.api import Api


def launch(
    api: Api,
    job: str | None = None,
    entry_point: list[str] | str | None = None,
    version: str | None = None,
    name: str | None = None,
    resource: str | None = None,
    resource_args: Mapping[str, Mapping[str, Any]] | None = None,
    project: str | None = None,
    entity: str | None = None,
    docker_image: str | None = None,
    config: Mapping[str, Any] | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    repository: str | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
) -> Run:
    """Launch a run and return it.

    synchronous=True waits and raises ExecutionError unless the run finishes successfully (Ctrl-C stops
    the run). synchronous=False returns at once; this process then waits for its unfinished runs when it
    exits, and stops them if it is interrupted by SIGINT or SIGTERM."""
    request = merge_request(config=config, parameters=parameters, job=job, entry_point=entry_point,
                            version=version, name=name, resource=resource, resource_args=resource_args,
                            project=project, entity=entity, docker_image=docker_image, run_id=run_id,
                            repository=repository)
    run = submit(api, request)
    if not synchronous:
        lifecycle.track(run)
        return run
    with lifecycle.stop_on_termination(run):
        succeeded = run.wait()
    if not succeeded:
        raise execution_error(run)
    return run


def submit(api: Api, request: LaunchRequest, *, sweep_id: str | None = None) -> Run:
    """Validate, prepare the run folder, record the run and start it; returns without waiting.

    Nothing is written to the workspace until the request has been fully validated."""
    resolved = resolve(api, request)
    spec = resolved.spec
    staging = api.staging_dir()
    try:
        if resolved.materialize is not None:
            resolved.materialize(staging / "src")
        else:
            (staging / "src").mkdir()
        spec_dict = spec.to_dict()
        write_run_files(staging, spec_dict)
        row = {"id": spec.run_id, "name": spec.name, "project": spec.project, "entity": spec.entity,
               "job": spec.job_label, "resource": spec.resource, "spec": spec_dict, "sweep_id": sweep_id}
        if not api.store.insert_run(row):
            raise RunError(f"run_id {spec.run_id!r} is already used by another run; choose another or leave it out")
        api.runs_dir.mkdir(parents=True, exist_ok=True)
        os.rename(staging, api.run_dir(spec.run_id))
    except BaseException:
        discard(staging)
        raise
    run_dir = api.run_dir(spec.run_id)
    from launcher.runners import get_runner

    try:
        handle = get_runner(spec.resource).start(api, spec, run_dir)
    except LaunchError as error:
        _fail_start(api, spec.run_id, str(error))
        error.run_id = spec.run_id
        raise
    except Exception as error:
        _fail_start(api, spec.run_id, f"{type(error).__name__}: {error}")
        error.run_id = spec.run_id  # as for a LaunchError: the run was recorded (start_failed)
        raise
    return Run(api, spec.run_id, handle)


def _fail_start(api: Api, run_id: str, message: str) -> None:
    log = LogWriter(api.run_dir(run_id) / "output.log")
    try:
        log.note(message)
    finally:
        log.close()
    api.store.transition(run_id, states.START_FAILED, message=message)


def execution_error(run: Run) -> ExecutionError:
    status = run.get_status()
    tail = run.tail(10)
    detail = f" ({status.message})" if status.message else ""
    message = f"run {run.id} {status.state}{detail}"
    if tail:
        message += "; last output: " + " | ".join(line[:200] for line in tail[-3:])
    return ExecutionError(message, run_id=run.id, exit_code=status.exit_code, state=status.state, tail=tail)
