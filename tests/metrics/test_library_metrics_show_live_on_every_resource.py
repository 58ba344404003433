"""Unmodified wandb (offline), MLflow and TensorBoard scripts, run on local-process and local-container:
their metrics show in `launcher metrics RUN --follow` while the script still runs (it waits at a gate
after its first three points), then all of them, each once. The container gets the libraries the way a
user's job would: its requirements.txt, installed into the generated image."""

from __future__ import annotations

import json

import pytest

from launcher.states import RunState
from tests.metrics.conftest import cli, launch_trainer, wait_for_points
from tests.waiting import wait_for

LOSSES = [(step, 1.0 / (step + 1)) for step in range(6)]


def close_to(expected: list[tuple[int, float]]):
    """Steps exactly, values as printed (6 digits) and as TensorBoard keeps them (32-bit floats)."""
    return [(step, pytest.approx(value, rel=1e-5)) for step, value in expected]
RESOURCES = ["local-process", pytest.param("local-container", marks=pytest.mark.docker)]


def tensorboard_logdir(resource: str) -> str:
    # On this machine a script's working directory is the run's src/ (collected into outputs at the end);
    # in a container it goes with the container, so the script writes under LAUNCHER_OUTPUT_DIR.
    return "runs/exp" if resource == "local-process" else "/launcher/outputs/tb"


CASES = {
    "wandb": ("wandb_train.py", "loss"),
    "mlflow": ("mlflow_train.py", "loss"),
    "tensorboard": ("tensorboard_train.py", None),  # named after the logdir's folder
}


@pytest.fixture
def needs_engine(request, resource):
    if resource == "local-container":
        request.getfixturevalue("docker_engine")


@pytest.mark.timeout(1200)  # the first container run builds the image (pip installs the libraries)
@pytest.mark.parametrize("library", list(CASES))
@pytest.mark.parametrize("resource", RESOURCES)
def test_metrics_arrive_live_then_all_once(api, home, trainers, tmp_path, follow, resource, library,
                                           needs_engine) -> None:
    script, name = CASES[library]
    logdir = tensorboard_logdir(resource)
    if name is None:
        name = ("runs/exp" if resource == "local-process" else "tb") + "/loss"
    launched = launch_trainer(api, tmp_path, resource, script, {"logdir": logdir})
    follower = follow(launched.run_id)

    wait_for_points(follower, name, 3, timeout=900)
    assert api.run(launched.run_id).get_status().state is RunState.RUNNING  # the script waits at its gate
    assert follower.series(name) == close_to(LOSSES[:3])

    launched.go.touch()
    assert follower.process.wait(timeout=300) == 0
    assert api.run(launched.run_id).get_status().state is RunState.FINISHED
    wait_for(lambda: len(follower.series(name)) == 6, timeout=10, what="the follower's last lines")
    assert follower.series(name) == close_to(LOSSES)

    stored = json.loads(cli(home, "metrics", launched.run_id, "--json").stdout)
    assert [(step, value) for step, value, _ in stored[name]] == close_to(LOSSES)  # each point once
    if library == "wandb":
        assert [value for _, value, _ in stored["acc"]] == pytest.approx([step / 10 for step in range(6)])
    if library == "tensorboard" and resource == "local-process":
        run_dir = api.workspace.run_dir(launched.run_id)
        assert not list((run_dir / "src").rglob("events.out.tfevents.*"))
        assert len(list((run_dir / "outputs" / "tensorboard-workdir" / "runs" / "exp").glob("events.*"))) == 1
    assert api.runs.metric_problems(launched.run_id) == []


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("resource", RESOURCES)
def test_mlflow_ui_store_shows_each_launcher_run_named_and_tagged(api, trainers, tmp_path, resource,
                                                                  needs_engine) -> None:
    mlflow = pytest.importorskip("mlflow")
    launched = [launch_trainer(api, tmp_path, resource, "mlflow_train.py") for _ in range(2)]
    for one in launched:
        one.go.touch()
    for one in launched:
        assert api.run(one.run_id).wait(timeout=900), api.run(one.run_id).get_logs()
        assert api.run(one.run_id).get_status().state is RunState.FINISHED

    # What `mlflow ui --backend-store-uri sqlite:///WORKSPACE/mlflow/mlflow.db` shows.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{api.home.absolute() / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(api.default_project)
    found = {run.data.tags["launcher.run_id"]: run for run in client.search_runs([experiment.experiment_id])}
    assert set(found) == {one.run_id for one in launched}
    for one in launched:
        mlflow_run = found[one.run_id]
        record = api.run(one.run_id).record
        assert mlflow_run.info.run_name == record.name
        assert mlflow_run.data.tags["launcher.job"] == record.job
        assert mlflow_run.data.tags["launcher.project"] == record.project
        assert mlflow_run.data.params == {"lr": "0.1"}
        assert mlflow_run.info.status == "FINISHED"
        history = client.get_metric_history(mlflow_run.info.run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == LOSSES
