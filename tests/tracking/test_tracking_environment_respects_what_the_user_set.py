"""The variables a run gets for the tracking libraries: the launcher's defaults, never over the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import TrackingError
from launcher.tracking.environment import tied_experiment, tracking_environment
from launcher.tracking.targets import MlflowStore, TrackedRun

RUN = TrackedRun(run_id="r1", name="swift-1", project="vision", job="trainer", outputs_dir=Path("/ws/runs/r1/out"))
STORE = MlflowStore(Path("/ws/mlflow"))


def test_defaults_point_every_library_at_the_run_and_the_workspace_store() -> None:
    assert tracking_environment(RUN, STORE, {}, mlflow_run_id="abc123") == {
        "LAUNCHER_OUTPUT_DIR": "/ws/runs/r1/out",
        "WANDB_DIR": "/ws/runs/r1/out",
        "WANDB_RUN_ID": "r1",
        "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL": "2",
        "MLFLOW_TRACKING_URI": "sqlite:////ws/mlflow/mlflow.db",
        "MLFLOW_EXPERIMENT_NAME": "vision",
        "MLFLOW_RUN_ID": "abc123",
    }
    assert tied_experiment(RUN, {}) == "vision"


def test_variables_the_user_set_are_left_alone() -> None:
    user = {"WANDB_DIR": "/mine", "WANDB_RUN_ID": "x", "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL": "30",
            "MLFLOW_EXPERIMENT_NAME": "theirs", "MLFLOW_RUN_ID": "their-run"}
    assert tracking_environment(RUN, STORE, user, mlflow_run_id="abc123") == {
        "LAUNCHER_OUTPUT_DIR": "/ws/runs/r1/out",
        "MLFLOW_TRACKING_URI": "sqlite:////ws/mlflow/mlflow.db",
    }
    assert tied_experiment(RUN, user) == "theirs"  # the tied run goes in the experiment they named


@pytest.mark.parametrize("user", [{"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"},
                                  {"MLFLOW_EXPERIMENT_ID": "7"}])
def test_a_run_on_the_users_own_store_or_experiment_is_not_tied(user) -> None:
    values = tracking_environment(RUN, STORE, user, mlflow_run_id="abc123")
    assert "MLFLOW_RUN_ID" not in values and tied_experiment(RUN, user) is None
    assert values.get("MLFLOW_TRACKING_URI") == (None if "MLFLOW_TRACKING_URI" in user else STORE.tracking_uri)


def test_the_store_lives_in_the_workspace_and_a_path_mlflow_cannot_use_is_refused(tmp_path) -> None:
    store = MlflowStore.in_workspace(tmp_path / "ws")
    assert store.database == tmp_path / "ws" / "mlflow" / "mlflow.db"
    assert store.tracking_uri == f"sqlite:///{tmp_path}/ws/mlflow/mlflow.db"
    with pytest.raises(TrackingError, match=r"workspace path '.*/a\?b' contains one of '\?', '#', '%'"):
        MlflowStore.in_workspace(tmp_path / "a?b")
