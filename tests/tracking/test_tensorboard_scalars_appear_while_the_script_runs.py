"""An unmodified tensorboardX script run for real: its event files are read as the writer flushes them,
so scalars are there while it runs, and all of them, with steps, once it ends."""

from __future__ import annotations

import pytest

from launcher.tracking.tensorboard_reader import TensorboardPosition, TensorboardReader
from tests.tracking.conftest import run_environment
from tests.waiting import wait_for

pytest.importorskip("tensorboard")
pytest.importorskip("tensorboardX")

# 400 scalars fill the writer's file buffer, so part of them reach the file before the script waits
# (the writer itself flushes only every 120 s), the last one typically cut in the middle.
SCRIPT = """
import os, time
from tensorboardX import SummaryWriter

train = SummaryWriter("runs/train")
evaluation = SummaryWriter("runs/eval")
for step in range(400):
    train.add_scalar("loss", 1.0 / (step + 1), step)
deadline = time.time() + 120
while not os.path.exists(os.environ["GO_FILE"]) and time.time() < deadline:
    time.sleep(0.05)
for step in range(400, 800):
    train.add_scalar("loss", 1.0 / (step + 1), step)
    if step % 100 == 0:
        evaluation.add_scalar("accuracy", step / 1000, step)
train.add_text("note", "not a scalar", 800)
train.add_scalar("loss", float("nan"), 801)
train.close()
evaluation.close()
"""


def test_scalars_arrive_live_then_all_with_steps(target, start_script, tmp_path) -> None:
    process = start_script(SCRIPT, run_environment(target))
    work = tmp_path / "work"
    reader = TensorboardReader(work)
    points = []

    def some_scalars_read() -> bool:
        result = reader.read()
        assert result.problem is None
        points.extend(result.points)
        return len(points) > 0

    wait_for(some_scalars_read, timeout=60, interval=0.1, what="the first scalars")
    assert process.poll() is None, "the scalars must be read while the script still runs"
    live = len(points)
    assert 0 < live < 800

    target.go_file.touch()
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    result = reader.read(final=True)
    assert result.problem is None
    points.extend(result.points)
    assert [(p.step, p.value) for p in points if p.name == "runs/train/loss"] == [
        (step, pytest.approx(1.0 / (step + 1), rel=1e-6)) for step in range(800)]  # float32 in the file
    assert [(p.step, p.value) for p in points if p.name == "runs/eval/accuracy"] == [
        (step, pytest.approx(step / 1000, rel=1e-6)) for step in range(400, 800, 100)]
    assert {p.name for p in points} == {"runs/train/loss", "runs/eval/accuracy"}  # no text, no NaN
    assert all(p.time > 1e9 for p in points)
    assert reader.read(final=True).points == ()

    resumed = TensorboardReader(work, TensorboardPosition.from_json(reader.position.to_json()))
    assert resumed.read(final=True).points == ()
    assert resumed.position == reader.position
