"""The environment variables a run gets so that the tracking libraries write where the launcher reads.

A pure function: it decides, it creates nothing (the MLflow run is created by mlflow_run.ensure_mlflow_run,
whose id is passed in). A variable the user set (in `user_env`) is never overridden:

- `LAUNCHER_OUTPUT_DIR`: the run's outputs folder (the launcher's own variable, always set);
- `WANDB_DIR`: the outputs folder, so `run-<id>.wandb` lands where the launcher reads it;
- `WANDB_RUN_ID`: the launcher's run id (kept, so an offline run can later be `wandb sync`ed under it);
- `WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL`: wandb's flush interval of the transaction log, which bounds
  how live its metrics are (wandb's default is 15 s); a private (`x_`) wandb setting, harmless if ignored;
- `MLFLOW_TRACKING_URI`: the workspace's one store (targets.MlflowStore);
- `MLFLOW_EXPERIMENT_NAME`: the run's project (unless the user named an experiment by name or id);
- `MLFLOW_RUN_ID`: the MLflow run tied to the launcher run, so an unmodified `mlflow.start_run()` logs into
  it, as MLflow Projects do; only for a run tied to the workspace store (`tied_experiment`): a user's own
  tracking URI is a store that run does not exist in."""

from __future__ import annotations

from collections.abc import Mapping

from launcher.tracking.targets import MlflowStore, TrackedRun

#: Seconds between wandb's flushes of its transaction log for launcher runs.
WANDB_FLUSH_SECONDS = 2
#: wandb reads its private settings from WANDB_X_NAME or WANDB__NAME.
_WANDB_FLUSH_NAMES = ("WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL", "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL")


def uses_workspace_store(user_env: Mapping[str, str]) -> bool:
    """Whether the run logs MLflow data to the workspace store (the user set no tracking URI)."""
    return not user_env.get("MLFLOW_TRACKING_URI")


def tied_experiment(run: TrackedRun, user_env: Mapping[str, str]) -> str | None:
    """The experiment of the workspace store in which the run's MLflow run is created (the user's
    MLFLOW_EXPERIMENT_NAME, else the project), or None when the run is not tied to one: the user chose
    their own tracking URI or an experiment by id."""
    if not uses_workspace_store(user_env) or user_env.get("MLFLOW_EXPERIMENT_ID"):
        return None
    return user_env.get("MLFLOW_EXPERIMENT_NAME") or run.project


def tracking_environment(run: TrackedRun, store: MlflowStore | None, user_env: Mapping[str, str],
                         mlflow_run_id: str | None = None) -> dict[str, str]:
    """The variables to add to the run's environment (the user's own variables are not repeated). Without
    a workspace store (a workspace path MLflow cannot use), MLflow keeps its own default store."""
    values: dict[str, str] = {"LAUNCHER_OUTPUT_DIR": str(run.outputs_dir)}

    def default(name: str, value: str) -> None:
        if name not in user_env:
            values[name] = value

    default("WANDB_DIR", str(run.outputs_dir))
    default("WANDB_RUN_ID", run.run_id)
    if not any(name in user_env for name in _WANDB_FLUSH_NAMES):
        values[_WANDB_FLUSH_NAMES[0]] = str(WANDB_FLUSH_SECONDS)
    if uses_workspace_store(user_env) and store is not None:
        values["MLFLOW_TRACKING_URI"] = store.tracking_uri
        if mlflow_run_id and tied_experiment(run, user_env) is not None:
            default("MLFLOW_RUN_ID", mlflow_run_id)
    if "MLFLOW_EXPERIMENT_NAME" not in user_env and "MLFLOW_EXPERIMENT_ID" not in user_env:
        values["MLFLOW_EXPERIMENT_NAME"] = run.project
    return values
