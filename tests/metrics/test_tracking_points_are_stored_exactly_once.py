"""A tracking source's points are stored exactly once, whoever indexes and however often: several
processes' indexers (each with its own connection and readers) race over a run whose TensorBoard file
grows while they read; the reading position is claimed in the same transaction as the points."""

from __future__ import annotations

import threading

import pytest

from launcher import Api
from launcher.metrics import index_run, indexer
from launcher.spec import merge_request
from launcher.states import RunState

WRITER = """
import os, time
from tensorboardX import SummaryWriter
writer = SummaryWriter(os.environ["LAUNCHER_OUTPUT_DIR"], flush_secs=1)
for step in range(400):
    writer.add_scalar("loss", float(step), step)
    if step % 20 == 0:
        time.sleep(0.1)
writer.close()
"""


def test_concurrent_indexers_store_each_tensorboard_point_once(api, home, make_code_dir, monkeypatch) -> None:
    pytest.importorskip("tensorboardX")
    monkeypatch.setattr(indexer, "SETTLE_SECONDS", 0.5)
    monkeypatch.setattr(indexer, "DISCOVERY_SECONDS", 0.0)
    api.create_job("code", str(make_code_dir({"write.py": WRITER})), name="writer", entry_point=["python", "write.py"])
    run = api.runs.submit(merge_request(job="writer"))
    errors: list[Exception] = []

    def index_until_done() -> None:
        other = Api(home, reattach=False)  # another process's view: its own connection
        try:
            while True:
                done = other.run(run.id).get_status().done
                index_run(other.workspace, run.id)
                finished = other.workspace.store.query("SELECT 1 FROM metric_index WHERE run_id=? AND done=1 "
                                                       "AND sources_done=1", (run.id,))
                if done and finished:
                    return
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            other.close()

    threads = [threading.Thread(target=index_until_done) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert run.get_status().state is RunState.FINISHED
    points = api.metrics(run.id)["loss"]
    assert [point.step for point in points] == list(range(400))
    assert [point.value for point in points] == [float(step) for step in range(400)]
    [(version,)] = api.workspace.store.query("SELECT version FROM metric_sources WHERE run_id=?", (run.id,))
    assert version > 2  # read in several claims while it grew, not once at the end
