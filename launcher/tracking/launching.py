"""What a runner does about tracking when it starts a run: the program's tracking variables, and the MLflow
tie planned for its owner (tie.py). One call per runner, with the outputs folder as the program sees it and
the variables the user gives the program (they are never overridden).

Cheap: nothing here imports a tracking library or touches a store; the owner makes the tie during set-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.errors import TrackingError
from launcher.tracking import tie
from launcher.tracking.environment import tracking_environment
from launcher.tracking.targets import MlflowStore, TrackedRun

if TYPE_CHECKING:
    from launcher.spec import LaunchSpec
    from launcher.workspace import Workspace

@dataclass(frozen=True, slots=True)
class RunTracking:
    """A run's tracking set-up as its runner applies it."""

    #: Variables for the program's environment.
    variables: dict[str, str]
    #: The workspace's MLflow store when the program logs to it (containers bind-mount its folder).
    store: MlflowStore | None
    #: The MLflow tie the owner makes during set-up, or None.
    tie: tie.MlflowTie | None


def workspace_store(workspace: Workspace) -> MlflowStore | None:
    """The workspace's MLflow store, or None for a workspace path MLflow cannot use."""
    try:
        return MlflowStore.in_workspace(workspace.home)
    except TrackingError:
        return None


def run_tracking(workspace: Workspace, spec: LaunchSpec, run_folder: str | os.PathLike[str],
                 outputs_dir: str, user_env: Mapping[str, str]) -> RunTracking:
    """The run's tracking variables; writes the tie file into the run folder when the run gets a tie."""
    run = TrackedRun(run_id=spec.run_id, name=spec.name, project=spec.project, job=spec.job_label,
                     outputs_dir=Path(outputs_dir))
    store = workspace_store(workspace)
    variables = tracking_environment(run, store, user_env)
    requirements = [*spec.requirements, *((spec.dependencies or {}).get("requirements") or [])]
    planned = None
    if tie.wants_tie(requirements=requirements, mlproject_entry=spec.entry_point_name is not None,
                     user_env=user_env):
        planned = tie.plan(run, store, user_env)
        if planned is not None:
            tie.write(Path(run_folder) / tie.TIE_FILE, planned)
    uses_store = store is not None and variables.get("MLFLOW_TRACKING_URI") == store.tracking_uri
    return RunTracking(variables, store if uses_store else None, planned)
