"""An unmodified wandb script (offline mode) run for real: its transaction log is read as it grows, so
the first points are there while the script still runs, and all of them, with steps, once it ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.tracking.model import MetricPoint
from launcher.tracking.wandb_reader import WandbDirectoryPosition, WandbDirectoryReader, find_wandb_logs
from tests.tracking.conftest import run_environment
from tests.waiting import wait_for

pytest.importorskip("wandb")

SCRIPT = """
import os, time
import wandb

run = wandb.init(project="vision", config={"lr": 0.1, "optimizer": {"name": "adam", "beta": 0.9}})
for step in range(3):
    wandb.log({"loss": 1.0 / (step + 1), "eval": {"acc": step / 10}})
deadline = time.time() + 120
while not os.path.exists(os.environ["GO_FILE"]) and time.time() < deadline:
    time.sleep(0.05)
for step in range(3, 6):
    wandb.log({"loss": 1.0 / (step + 1), "eval": {"acc": step / 10}, "hist": wandb.Histogram([1, 2, 3])})
run.summary["best_loss"] = 0.125
run.finish()
print("run id", run.id)
"""


def series(points: list[MetricPoint], name: str) -> list[tuple[int, float]]:
    return [(point.step, point.value) for point in points if point.name == name]


def test_points_arrive_live_then_all_with_steps_and_config(target, start_script) -> None:
    env = run_environment(target, WANDB_MODE="offline", WANDB_SILENT="true")
    process = start_script(SCRIPT, env)
    reader = WandbDirectoryReader(Path(env["WANDB_DIR"]))
    points: list[MetricPoint] = []

    def first_points_read() -> bool:
        points.extend(reader.read().points)
        return len(series(points, "loss")) == 3

    wait_for(first_points_read, timeout=60, interval=0.1, what="the first three loss values")
    assert process.poll() is None, "the points must be read while the script still runs"
    assert series(points, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert series(points, "eval.acc") == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert dict(reader.config) == {"lr": 0.1, "optimizer": {"name": "adam", "beta": 0.9}}

    target.go_file.touch()
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "run id run7abc" in output  # WANDB_RUN_ID kept: the run can be synced under the launcher's id
    result = reader.read(final=True)
    assert result.problem is None
    points.extend(result.points)
    assert series(points, "loss") == [(step, 1.0 / (step + 1)) for step in range(6)]
    assert series(points, "eval.acc") == [(step, step / 10) for step in range(6)]
    assert series(points, "best_loss") == [(5, 0.125)]  # a summary value, at the latest step
    assert not any(point.name.startswith("hist") or point.name.startswith("_") for point in points)
    assert all(point.time > 1e9 for point in points)
    assert reader.read(final=True).points == ()  # nothing is read twice

    logs = find_wandb_logs(Path(env["WANDB_DIR"]))
    assert [path.name for path in logs] == ["run-run7abc.wandb"]
    # A reader resumed from the saved position (another process) finds nothing new; a fresh one, all.
    saved = WandbDirectoryPosition.from_json(reader.position.to_json())
    resumed = WandbDirectoryReader(Path(env["WANDB_DIR"]), saved)
    assert resumed.read(final=True).points == ()
    assert resumed.config == reader.config
    assert list(WandbDirectoryReader(Path(env["WANDB_DIR"])).read(final=True).points) == points
