"""The MLflow run tied to a launcher run, in the workspace's store (created once, ended with the run).

Created with MLflow's own client before the program starts; its id goes to the program as MLFLOW_RUN_ID
(environment.py), so an unmodified `mlflow.start_run()` logs into it, as under MLflow Projects. It is named
after the launcher run and tagged with the launcher's run id, job and project. Importing mlflow and
opening the store takes seconds the first time (the store's schema is created then): call this off any
path that must be fast, e.g. in the run's owner before it starts the program."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from launcher.errors import TrackingError
from launcher.tracking.extras import require
from launcher.tracking.targets import MlflowStore, TrackedRun

RUN_ID_TAG = "launcher.run_id"
JOB_TAG = "launcher.job"
PROJECT_TAG = "launcher.project"


class MlflowRunEnd(StrEnum):
    """MLflow's end states (mlflow.entities.RunStatus names) for a launcher run's end."""

    FINISHED = "FINISHED"  # launcher: finished
    FAILED = "FAILED"  # failed, start_failed
    KILLED = "KILLED"  # stopped


def ensure_mlflow_run(store: MlflowStore, run: TrackedRun, experiment: str) -> str:
    """The id of the MLflow run tied to `run` in `experiment` of `store`, creating the store, experiment
    and run if they do not exist yet; calling it again returns the same id."""
    require("mlflow", "mlflow")
    store.folder.mkdir(parents=True, exist_ok=True)
    store.artifact_root.mkdir(exist_ok=True)
    with _store_lock(store), _as_tracking_error(store.tracking_uri):
        # The artifact root is shared by the experiments: each run's artifacts go to ROOT/<run id>/.
        return _ensure(store.tracking_uri, run, experiment, store.artifact_root.as_uri())


def ensure_mlflow_run_at(tracking_uri: str, run: TrackedRun, experiment: str) -> str:
    """The same in a store of the user's (a tracking server, their own database): the store decides where
    artifacts go."""
    require("mlflow", "mlflow")
    with _as_tracking_error(tracking_uri):
        return _ensure(tracking_uri, run, experiment, None)


def _ensure(tracking_uri: str, run: TrackedRun, experiment: str, artifact_location: str | None) -> str:
    mlflow = require("mlflow", "mlflow")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        experiment_id = client.create_experiment(experiment, artifact_location=artifact_location)
    else:
        experiment_id = found.experiment_id
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    quoted = run.run_id.replace("\\", "\\\\").replace("'", "\\'")
    existing = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}'",
                                  max_results=1)
    if existing:
        return existing[0].info.run_id
    created = client.create_run(experiment_id, run_name=run.name,
                                tags={RUN_ID_TAG: run.run_id, JOB_TAG: run.job, PROJECT_TAG: run.project})
    return created.info.run_id


def finish_mlflow_run(store: MlflowStore, mlflow_run_id: str, end: MlflowRunEnd) -> None:
    """Mark the tied MLflow run ended, if the program left it running (it never called mlflow, or died)."""
    finish_mlflow_run_at(store.tracking_uri, mlflow_run_id, end)


def finish_mlflow_run_at(tracking_uri: str, mlflow_run_id: str, end: MlflowRunEnd) -> None:
    mlflow = require("mlflow", "mlflow")
    with _as_tracking_error(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if client.get_run(mlflow_run_id).info.status == "RUNNING":
            client.set_terminated(mlflow_run_id, status=end.value)


@contextmanager
def _store_lock(store: MlflowStore) -> Iterator[None]:
    """Runs launched at the same moment would race to create the store's schema and the experiment."""
    with open(store.folder / "mlflow.db.launcher-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _as_tracking_error(tracking_uri: str) -> Iterator[None]:
    exceptions = require("mlflow.exceptions", "mlflow")
    try:
        yield
    except exceptions.MlflowException as error:
        first_line = (str(error).strip().splitlines() or ["unknown error"])[0]
        raise TrackingError(f"MLflow store {tracking_uri}: {first_line}") from None
