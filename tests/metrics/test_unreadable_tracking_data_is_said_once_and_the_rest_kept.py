"""What a tracking source cannot give is said once, and the rest is kept: a damaged wandb transaction log
and a half-written TensorBoard event file keep the points read before the damage, with one line in the
run's log; a tracking URI that points nowhere leaves the run going, and its details say why it has no
MLflow metrics."""

from __future__ import annotations

import socket

import pytest

from launcher import Api
from launcher.logfile import LAUNCHER
from launcher.metrics import index_run, indexer
from launcher.spec import merge_request
from launcher.states import RunState
from launcher.tracking.model import MetricSource
from tests.metrics.conftest import cli
from tests.waiting import wait_for

WANDB_DAMAGED = """
import pathlib, wandb
run = wandb.init(project="p")
for step in range(20):
    wandb.log({"loss": 1.0 / (step + 1)})
run.finish()
wandb.teardown()  # finish() can return before wandb's service has written the records: wait for it
[log] = pathlib.Path(run.dir).parent.glob("run-*.wandb")
data = bytearray(log.read_bytes())
middle = len(data) // 2
data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])  # a damaged stretch
log.write_bytes(bytes(data))
print("damaged", log.name, "at", middle)
"""

TENSORBOARD_CUT = """
import os, pathlib
from tensorboardX import SummaryWriter
writer = SummaryWriter(os.path.join(os.environ["LAUNCHER_OUTPUT_DIR"], "tb"), flush_secs=1)
for step in range(5):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
writer.close()
[events] = pathlib.Path(os.environ["LAUNCHER_OUTPUT_DIR"], "tb").glob("events.out.tfevents.*")
os.truncate(events, events.stat().st_size - 5)  # the last event written halfway
"""

NO_MLFLOW = """
import json, os, time
print('@metrics {"loss": 0.5}', flush=True)
go = json.loads(os.environ["LAUNCHER_CONFIG"])["go"]
deadline = time.time() + 120
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
"""


@pytest.fixture(autouse=True)
def settle_at_once(monkeypatch) -> None:
    """An ended run's sources are read a last time at once (not SETTLE_SECONDS later)."""
    monkeypatch.setattr(indexer, "SETTLE_SECONDS", 0.0)


def start_script(api, make_code_dir, source: str, env: dict[str, str] | None = None, **config):
    folder = make_code_dir({"main.py": source})
    name = f"job{len(api.list_jobs())}"
    api.create_job("code", str(folder), name=name, entry_point=["python", "main.py"])
    return api.runs.submit(merge_request(job=name, config={"overrides": {"run_config": config}},
                                         resource_args={"local-process": {
                                             "env": {"WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}}}))


def run_script(api, make_code_dir, source: str, env: dict[str, str] | None = None, **config):
    run = start_script(api, make_code_dir, source, env, **config)
    assert run.wait(timeout=180), run.get_logs()
    assert run.get_status().state is RunState.FINISHED, run.get_logs()
    return run


def launcher_notes(run, about: str) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == LAUNCHER and about in line.text]


def index_from_elsewhere(home, run_id: str) -> None:
    """Index as another process would: its own connection, no reader kept from this one."""
    other = Api(home, reattach=False)
    try:
        indexer._state.forget(str(other.home), run_id)
        index_run(other.workspace, run_id)
    finally:
        other.close()


def test_a_damaged_wandb_log_keeps_the_points_before_the_damage(api, home, make_code_dir) -> None:
    pytest.importorskip("wandb")
    run = run_script(api, make_code_dir, WANDB_DAMAGED)
    series = api.metrics(run.id)
    assert "loss" in series, (series, api.runs.metric_problems(run.id), run.get_logs())
    losses = [point.value for point in series["loss"]]
    assert 0 < len(losses) < 20
    assert losses == [1.0 / (step + 1) for step in range(len(losses))]  # the points before the damage
    for _ in range(3):
        index_from_elsewhere(home, run.id)
    [problem] = api.runs.metric_problems(run.id)
    assert problem.source is MetricSource.WANDB
    assert f"run-{run.id}.wandb" in problem.text and "metrics read so far are kept" in problem.text
    notes = launcher_notes(run, "wandb metrics:")
    assert notes == [f"wandb metrics: {problem.text}"]  # said once, however often the run is indexed


def test_a_half_written_event_file_keeps_the_scalars_before_the_cut(api, home, make_code_dir) -> None:
    pytest.importorskip("tensorboardX")
    run = run_script(api, make_code_dir, TENSORBOARD_CUT)
    assert [(p.step, p.value) for p in api.metrics(run.id)["tb/loss"]] == [
        (step, pytest.approx(1.0 / (step + 1))) for step in range(4)]
    index_from_elsewhere(home, run.id)
    [problem] = api.runs.metric_problems(run.id)
    assert problem.source is MetricSource.TENSORBOARD
    assert "unreadable event at byte" in problem.text and "scalars read so far are kept" in problem.text
    assert launcher_notes(run, "tensorboard metrics:") == [f"tensorboard metrics: {problem.text}"]
    status = cli(home, "status", run.id)
    assert f"metrics    tensorboard: {problem.text}" in status.stdout.splitlines()


def test_a_tracking_uri_pointing_nowhere_leaves_the_run_going_and_says_why(api, home, make_code_dir,
                                                                            tmp_path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once the socket is closed
    uri = f"http://127.0.0.1:{port}"
    go = tmp_path / "go"
    run = start_script(api, make_code_dir, NO_MLFLOW, {"MLFLOW_TRACKING_URI": uri, "LAUNCHER_MLFLOW": "1"},
                       go=str(go))
    index_run(api.workspace, run.id)  # most likely before the owner tried the store: the channel is known
    wait_for(lambda: run.get_status().state is RunState.RUNNING, timeout=60, what="the run going on untied")
    wait_for(lambda: api.metrics(run.id), timeout=30, what="its @metrics line")
    [problem] = api.runs.metric_problems(run.id)  # said while the run still runs
    go.touch()
    assert run.wait(timeout=60) and run.get_status().state is RunState.FINISHED
    assert [p.value for p in api.metrics(run.id)["loss"]] == [0.5]  # the run's other metrics are read
    assert api.runs.metric_problems(run.id) == [problem]
    assert problem.source is MetricSource.MLFLOW
    assert problem.text.startswith(f"no MLflow run tied (MLflow store {uri}: cannot connect to 127.0.0.1:{port}")
    assert launcher_notes(run, "no MLflow run tied") == [problem.text]  # the owner's note, once
    index_from_elsewhere(home, run.id)
    assert len(api.runs.metric_problems(run.id)) == 1
    status = cli(home, "status", run.id)
    assert status.returncode == 0
    assert f"metrics    mlflow: {problem.text}" in status.stdout.splitlines()
    followed = cli(home, "metrics", run.id)
    assert f"mlflow metrics: {problem.text}" in followed.stderr
