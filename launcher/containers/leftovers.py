"""Containers that outlived their run: removed the next time the workspace meets an engine that answers.

A run can end while its container cannot be removed: cancelled while the engine was away, or its
owner failed. Whoever ends such a run leaves a marker file named after the run in the workspace's
`tidy/local-container/` folder (see Runner.tidy), so checking for work is one directory listing; only when markers exist is the
engine asked for the workspace's containers (by label), and those whose run is terminal are removed,
unless the run asked to keep its container. Standard library and the store only: run owners use it."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.containers.engine import Engine
from launcher.containers.settings import LABEL_RUN, LABEL_WORKSPACE
from launcher.errors import LaunchError
from launcher.store import Store

#: Under the workspace's tidy folder (Workspace.tidy_dir), one folder per resource.
MARKER_DIR = os.path.join("tidy", "local-container")


def mark(workspace: str | Path, run_id: str) -> None:
    """Record that the run ended with its container perhaps still on the engine."""
    folder = Path(workspace) / MARKER_DIR
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / run_id).touch()
            return
        except FileNotFoundError:
            continue  # removed as empty by a tidy in between


def pending(workspace: str | Path) -> list[str]:
    """Run ids whose containers may still need removing (cheap: one directory listing)."""
    try:
        return os.listdir(Path(workspace) / MARKER_DIR)
    except FileNotFoundError:
        return []


def remove(engine: Engine, store: Store, workspace: str | Path) -> list[str]:
    """Remove the workspace's containers whose run is terminal and not kept; return their run ids.

    Raises a LaunchError when the engine does not answer (the markers stay for the next time)."""
    markers = pending(workspace)
    if not markers:
        return []
    # Runs already terminal before the containers are listed: every container of theirs is in the list.
    settled = [run_id for run_id in markers if _terminal(store, run_id)]
    removed = []
    for container in engine.containers({LABEL_WORKSPACE: str(workspace)}):
        run_id = (container.get("Labels") or {}).get(LABEL_RUN)
        record = store.get_run(run_id) if run_id else None
        if record is None or record.active:
            continue  # not this workspace's to judge, or its owner has it
        if record.resource_args.get("keep"):
            continue
        engine.remove_container(container["Id"])
        removed.append(run_id)
    for run_id in settled:
        (Path(workspace) / MARKER_DIR / run_id).unlink(missing_ok=True)
    try:
        (Path(workspace) / MARKER_DIR).rmdir()  # gone when empty: opening the workspace checks for it
    except OSError:
        pass
    return removed


def _terminal(store: Store, run_id: str) -> bool:
    state = store.run_state(run_id)
    return state is None or state.is_terminal()


def remove_quietly(engine: Engine, store: Store, workspace: str | Path) -> None:
    try:
        remove(engine, store, workspace)
    except LaunchError:
        pass  # the engine is away: the markers stay
