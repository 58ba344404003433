"""MLflow stores that cannot be read: the reader says why in one line and the run goes on; other stores
than SQLite files (a tracking server) are read with MLflow's own client."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request

import pytest

from launcher.errors import TrackingError
from launcher.tracking.mlflow_reader import MlflowPosition, MlflowReader
from launcher.tracking.mlflow_run import ensure_mlflow_run
from tests.waiting import wait_for

mlflow = pytest.importorskip("mlflow")


def test_a_store_file_that_does_not_exist_is_said_once_the_run_ended(tmp_path) -> None:
    reader = MlflowReader(f"sqlite:///{tmp_path}/nowhere/mlflow.db", "0123abcd")
    assert reader.read().problem is None  # the program may create it yet
    problem = reader.read(final=True).problem
    assert problem == f"MLflow store sqlite:///{tmp_path}/nowhere/mlflow.db: no such file; no MLflow metrics"


def test_a_database_that_is_not_an_mlflow_store_is_one_line(tmp_path) -> None:
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    result = MlflowReader(f"sqlite:///{database}", "0123abcd").read()
    assert result.points == ()
    assert result.problem == (f"MLflow store sqlite:///{database}: cannot be read as an MLflow store "
                              f"(no such table: metrics); no new MLflow metrics read")


def test_a_relative_sqlite_uri_is_read_from_the_given_folder(target) -> None:
    mlflow_run_id = ensure_mlflow_run(target.store, target.run, "vision")
    client = mlflow.MlflowClient(tracking_uri=target.store.tracking_uri)
    client.log_metric(mlflow_run_id, "loss", 0.5, step=3)
    reader = MlflowReader("sqlite:///mlflow.db", mlflow_run_id, base_dir=target.store.folder)
    assert [(p.name, p.step, p.value) for p in reader.read().points] == [("loss", 3, 0.5)]


def test_a_tracking_server_is_read_with_mlflows_client_and_an_unreachable_one_is_one_line(target) -> None:
    mlflow_run_id = ensure_mlflow_run(target.store, target.run, "vision")
    client = mlflow.MlflowClient(tracking_uri=target.store.tracking_uri)
    for step in range(3):
        client.log_metric(mlflow_run_id, "loss", 1.0 / (step + 1), step=step)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", target.store.tracking_uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=120, interval=0.2,
                 what="the MLflow server")
        reader = MlflowReader(f"http://127.0.0.1:{port}", mlflow_run_id)
        assert [(p.step, p.value) for p in reader.read().points] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        client.log_metric(mlflow_run_id, "loss", 0.2, step=3)
        assert [(p.step, p.value) for p in reader.read().points] == [(3, 0.2)]  # only the new one
        assert reader.position.counts == {"loss": 4}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    # The server is gone: said at once in one line (MLflow's client would retry it for minutes).
    result = reader.read()
    assert result.points == ()
    assert result.problem == (f"MLflow store http://127.0.0.1:{port}: cannot connect to 127.0.0.1:{port} "
                              f"(Connection refused); no new MLflow metrics read")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("uri, run_id, message", [
    ("", "0123abcd", "MLflow tracking URI is empty"),
    ("sqlite:////tmp/x.db", "../etc", "MLflow run id '../etc' is not valid"),
])
def test_bad_reader_arguments_are_one_line_errors(uri, run_id, message) -> None:
    with pytest.raises(TrackingError, match=message):
        MlflowReader(uri, run_id)


def test_a_saved_position_that_is_not_one_is_a_clear_error() -> None:
    with pytest.raises(TrackingError, match="saved MLflow reading position .* has a negative number"):
        MlflowPosition.from_json('{"last_rowid": -1, "counts": {}}')
