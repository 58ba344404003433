"""Bringing runs whose owner is gone to a true state. Any process that looks at a run may do it (opening a
workspace, waiting on a run, cancelling one): whoever takes the run's owner lock first does it, once.

An active run whose owner lock nobody holds has lost its owner. Then, in order:
1. the owner recorded its ending in the run folder but not in the store (the store was locked or the disk
   full): that ending is recorded;
2. the runner can pick the program up (a container or a cluster job goes on without its owner): a new
   owner is started for it;
3. otherwise what is left of the run is stopped and the run ends: `start_failed` when no owner ever ran,
   `failed` with a message saying in which phase its owner ended, `stopped` when a cancel was asked."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from launcher.errors import LaunchError
from launcher.runners.ownership import RunFolder
from launcher.states import RunState

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.workspace import Workspace

_PHASE = {
    RunState.PREPARING: "during set-up",
    RunState.RUNNING: "while its program ran",
}


def reconcile(workspace: Workspace, run_ids: Iterable[str] | None = None) -> None:
    """Settle every active run (or those named) whose owner is gone, then finish pending clean-up."""
    if run_ids is None:
        records = workspace.store.list_runs(active_only=True)
    else:
        records = [r for r in (workspace.store.get_run(i) for i in run_ids) if r is not None and r.active]
    for record in records:
        try:
            settle(workspace, record)
        except (LaunchError, ImportError):
            continue  # the resource cannot be reached now; its runs stay as they are
    if run_ids is None:
        tidy(workspace)


def settle(workspace: Workspace, record: RunRecord) -> None:
    """Bring one active run to a true state if its owner is gone (nothing happens while it lives)."""
    folder = RunFolder(workspace.run_dir(record.id))
    try:
        lock = folder.claim()
    except FileNotFoundError:
        _end_without_folder(workspace, record)
        return
    if lock is None:
        return  # its owner (or the process launching it) is alive
    try:
        latest = workspace.store.get_run(record.id)
        if latest is None or latest.done:
            return
        ending = folder.read_ending()
        if ending is not None:
            workspace.store.transition(latest.id, ending.state, message=ending.message, exit_code=ending.exit_code)
            return
        from launcher.runners import get_runner

        runner = get_runner(latest.resource)
        if runner.resume(workspace, latest, folder, lock):
            return
        extra = runner.stop_orphan(workspace, latest, folder)
        folder.remove_scratch()
        state, message = _orphan_ending(latest, folder)
        if extra:
            message = f"{message}; {extra}"
        _note(folder, message)
        workspace.store.transition(latest.id, state, message=message)
    finally:
        os.close(lock)


def _orphan_ending(record: RunRecord, folder: RunFolder) -> tuple[RunState, str]:
    if folder.cancel_request() is not None:
        return RunState.STOPPED, "stopped by request (its owner had ended)"
    crash = folder.owner_errors()
    detail = f" ({crash})" if crash else ""
    if record.state is RunState.STARTING:
        if folder.owner_recorded():
            return RunState.START_FAILED, f"the run's owner ended before the program started{detail}"
        return RunState.START_FAILED, "the launching process ended before the run's owner started"
    return RunState.FAILED, f"the run's owner ended unexpectedly {_PHASE[record.state]}; exit code unknown{detail}"


def _end_without_folder(workspace: Workspace, record: RunRecord) -> None:
    # A run folder is in place before its run is recorded: a run without one had it deleted.
    workspace.store.transition(record.id, RunState.FAILED,
                               message=f"the run's folder {workspace.run_dir(record.id)} is missing")


def _note(folder: RunFolder, text: str) -> None:
    try:
        folder.note(text)
    except OSError:
        pass  # the store still says it


def tidy(workspace: Workspace) -> None:
    """Let runners finish clean-up left pending (one directory listing when there is none)."""
    from launcher import runners

    try:
        pending = [name for name in os.listdir(workspace.tidy_dir) if name in runners.RESOURCES]
    except FileNotFoundError:
        return
    for name in pending:
        try:
            runners.get_runner(name).tidy(workspace)
        except (LaunchError, ImportError):
            continue
