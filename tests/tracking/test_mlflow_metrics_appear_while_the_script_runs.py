"""An unmodified MLflow script run for real against the workspace's one SQLite store: it logs into the
MLflow run the launcher created for it (named and tagged), and its values are read while it runs."""

from __future__ import annotations

import pytest

from launcher.tracking.environment import tied_experiment
from launcher.tracking.mlflow_reader import MlflowPosition, MlflowReader
from launcher.tracking.mlflow_run import MlflowRunEnd, ensure_mlflow_run, finish_mlflow_run
from tests.tracking.conftest import run_environment
from tests.waiting import wait_for

mlflow = pytest.importorskip("mlflow")

SCRIPT = """
import os, time
import mlflow

with mlflow.start_run() as run:
    print("mlflow run", run.info.run_id, flush=True)
    mlflow.log_param("lr", 0.1)
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    deadline = time.time() + 120
    while not os.path.exists(os.environ["GO_FILE"]) and time.time() < deadline:
        time.sleep(0.05)
    for step in range(3, 6):
        mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
    mlflow.log_metric("nan_metric", float("nan"), step=6)
"""


def test_script_logs_into_the_tied_run_and_values_arrive_live(target, start_script) -> None:
    experiment = tied_experiment(target.run, {})
    assert experiment == "vision"
    mlflow_run_id = ensure_mlflow_run(target.store, target.run, experiment)
    assert ensure_mlflow_run(target.store, target.run, experiment) == mlflow_run_id  # created once
    env = run_environment(target, mlflow_run_id)
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{target.store.database}"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "vision" and env["MLFLOW_RUN_ID"] == mlflow_run_id

    process = start_script(SCRIPT, env)
    reader = MlflowReader(env["MLFLOW_TRACKING_URI"], mlflow_run_id)
    points = []

    def first_values_read() -> bool:
        result = reader.read()
        assert result.problem is None
        points.extend(result.points)
        return len(points) == 3

    wait_for(first_values_read, timeout=90, interval=0.1, what="the first three loss values")
    assert process.poll() is None, "the values must be read while the script still runs"
    assert [(p.name, p.step, p.value) for p in points] == [("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 1 / 3)]

    target.go_file.touch()
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"mlflow run {mlflow_run_id}" in output
    points.extend(reader.read(final=True).points)
    assert [(p.step, p.value) for p in points if p.name == "loss"] == [(s, 1.0 / (s + 1)) for s in range(6)]
    assert [(p.step, p.value) for p in points if p.name == "acc"] == [(s, s / 10) for s in range(3, 6)]
    assert not any(p.name == "nan_metric" for p in points)  # NaN is not a point
    assert all(p.time > 1e9 for p in points)
    assert reader.read(final=True).points == ()
    resumed = MlflowReader(env["MLFLOW_TRACKING_URI"], mlflow_run_id,
                           MlflowPosition.from_json(reader.position.to_json()))
    assert resumed.read().points == ()

    # What `mlflow ui --backend-store-uri <store>` shows: the run, named and tagged, with its param.
    client = mlflow.MlflowClient(tracking_uri=target.store.tracking_uri)
    [found] = client.search_runs([client.get_experiment_by_name("vision").experiment_id],
                                 filter_string="tags.`launcher.run_id` = 'run7abc'")
    assert found.info.run_id == mlflow_run_id and found.info.run_name == "bright-run-7"
    assert found.data.tags["launcher.job"] == "trainer" and found.data.tags["launcher.project"] == "vision"
    assert found.data.params == {"lr": "0.1"} and found.info.status == "FINISHED"
    assert found.info.artifact_uri.startswith(target.store.artifact_root.as_uri())
    finish_mlflow_run(target.store, mlflow_run_id, MlflowRunEnd.FAILED)  # the script ended it already
    assert client.get_run(mlflow_run_id).info.status == "FINISHED"


def test_the_launcher_ends_a_tied_run_the_program_never_used(target) -> None:
    mlflow_run_id = ensure_mlflow_run(target.store, target.run, "vision")
    finish_mlflow_run(target.store, mlflow_run_id, MlflowRunEnd.KILLED)
    client = mlflow.MlflowClient(tracking_uri=target.store.tracking_uri)
    assert client.get_run(mlflow_run_id).info.status == "KILLED"
