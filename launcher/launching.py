"""launch(): the public entry point, W&B Launch's signature with every parameter doing what it says; and
submit(), which makes a run and hands it to its owner."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher import lifecycle
from launcher.errors import ExecutionError, LaunchError, RunError
from launcher.resolve import resolve
from launcher.run import Run
from launcher.runners.owner_source import OWNER_SOURCE_FILE
from launcher.runners.ownership import CONFIG_FILE, OUTPUTS_DIR, SOURCE_DIR, SPEC_FILE, RunFolder
from launcher.spec import LaunchRequest, merge_request
from launcher.states import RunState
from launcher.workspace import workspace_of

if TYPE_CHECKING:
    from launcher.workspace import HasWorkspace, Workspace


def launch(
    api: HasWorkspace,
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
    refresh: bool | None = None,
) -> Run:
    """Launch a run and return it. `api` is an `Api` (launcher.api), as in W&B Launch.

    synchronous=True waits and raises ExecutionError unless the run finishes successfully (Ctrl-C stops
    the run). synchronous=False returns at once; this process then waits for its unfinished runs when it
    exits, and stops them if it is interrupted by SIGINT or SIGTERM.

    A code job launched at its latest version (by name alone or `:latest`) runs its folder as it is now: an
    edited folder is snapshotted as a new version first (refresh=False skips that; refresh=True makes a
    folder that is gone an error instead of running the recorded snapshot)."""
    request = merge_request(config=config, parameters=parameters, job=job, entry_point=entry_point,
                            version=version, name=name, resource=resource, resource_args=resource_args,
                            project=project, entity=entity, docker_image=docker_image, run_id=run_id,
                            repository=repository, refresh=refresh)
    run = submit(workspace_of(api), request)
    if not synchronous:
        lifecycle.track(run)
        return run
    with lifecycle.stop_on_termination(run):
        succeeded = run.wait()
    if not succeeded:
        raise execution_error(run)
    return run


def submit(workspace: Workspace, request: LaunchRequest, *, sweep_id: str | None = None) -> Run:
    """Validate, make the run folder, record the run and hand it to its owner; returns without waiting.

    Nothing is written to the workspace until the request has been fully validated. The owner lock is
    taken in the new folder before the run is recorded and handed to the owner, so whoever looks at the
    run finds it owned, or its owner gone, never in between."""
    from launcher.diskspace import check_free_space
    from launcher.runners import get_runner

    resolved = resolve(workspace, request)
    spec = resolved.spec
    check_free_space(workspace.home)
    staging = workspace.staging_dir()
    lock: int | None = None
    run_dir = workspace.run_dir(spec.run_id)
    try:
        lock = RunFolder(staging).claim()
        assert lock is not None  # a new folder: nobody else knows it
        if resolved.materialize is not None:
            resolved.materialize(staging / SOURCE_DIR)
        else:
            (staging / SOURCE_DIR).mkdir()
        if resolved.owner_source is not None:
            (staging / OWNER_SOURCE_FILE).write_text(json.dumps(resolved.owner_source))
        for note in resolved.notes:
            RunFolder(staging).note(note)
        (staging / OUTPUTS_DIR).mkdir()
        spec_dict = spec.to_dict()
        (staging / CONFIG_FILE).write_text(json.dumps(spec_dict["run_config"], indent=2))
        (staging / SPEC_FILE).write_text(json.dumps(spec_dict, indent=2))
        workspace.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, run_dir)
        except OSError:  # a folder of that name exists: the id is taken
            raise RunError(f"run_id {spec.run_id!r} is already used by another run; choose another or leave it "
                           "out") from None
        if not workspace.store.insert_run(run_id=spec.run_id, name=spec.name, project=spec.project,
                                          entity=spec.entity, job=spec.job_label, resource=spec.resource,
                                          spec=spec_dict, sweep_id=sweep_id):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise RunError(f"run_id {spec.run_id!r} is already used by another run; choose another or leave it out")
    except BaseException:
        if lock is not None:
            os.close(lock)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    folder = RunFolder(run_dir)
    try:
        owner = get_runner(spec.resource).start(workspace, spec, folder, lock)
    except LaunchError as error:
        _fail_start(workspace, folder, str(error))
        error.run_id = spec.run_id
        raise
    except Exception as error:
        _fail_start(workspace, folder, f"{type(error).__name__}: {error}")
        error.run_id = spec.run_id  # type: ignore[attr-defined]  # as for a LaunchError: the run was recorded
        raise
    finally:
        os.close(lock)  # the owner holds its own copy from here on
    run = Run(workspace, spec.run_id, owner)
    run.launch_notes = resolved.notes
    return run


def _fail_start(workspace: Workspace, folder: RunFolder, message: str) -> None:
    folder.note(message)
    workspace.store.transition(folder.run_id, RunState.START_FAILED, message=message)


def execution_error(run: Run) -> ExecutionError:
    status = run.get_status()
    tail = run.tail(10)
    detail = f" ({status.message})" if status.message else ""
    message = f"run {run.id} {status.state}{detail}"
    if tail:
        message += "; last output: " + " | ".join(line[:200] for line in tail[-3:])
    return ExecutionError(message, run_id=run.id, exit_code=status.exit_code, state=status.state, tail=tail)
