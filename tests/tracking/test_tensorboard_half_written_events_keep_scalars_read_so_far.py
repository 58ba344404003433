"""A half-written event file: while it is written the cut event is retried on the next read; once the
writer has ended, what could not be read is one line and the scalars read before it are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import TrackingError
from launcher.tracking.tensorboard_reader import EventFileReader, TensorboardPosition, TensorboardReader

pytest.importorskip("tensorboard")
tensorboardX = pytest.importorskip("tensorboardX")


@pytest.fixture
def event_bytes(tmp_path) -> bytes:
    """A complete event file of 50 scalars, written by tensorboardX."""
    writer = tensorboardX.SummaryWriter(str(tmp_path / "written"))
    for step in range(50):
        writer.add_scalar("loss", step / 100, step)
    writer.close()
    [path] = (tmp_path / "written").glob("events.out.tfevents.*")
    return path.read_bytes()


def steps(points) -> list[int]:
    return [point.step for point in points]


def test_a_cut_event_is_read_once_the_rest_is_written(event_bytes, tmp_path) -> None:
    path = tmp_path / "logs" / "events.out.tfevents.1.host"
    path.parent.mkdir()
    cut = len(event_bytes) // 2 + 7  # inside an event
    path.write_bytes(event_bytes[:cut])
    reader = TensorboardReader(tmp_path / "logs")
    first = reader.read()
    assert first.problem is None and 0 < len(first.points) < 50
    with open(path, "ab") as events:
        events.write(event_bytes[cut:])
    second = reader.read()
    assert second.problem is None
    assert steps(first.points + second.points) == list(range(50))
    assert [point.value for point in first.points + second.points] == [
        pytest.approx(step / 100) for step in range(50)]


def test_a_cut_event_after_the_writer_ended_is_one_line_and_the_rest_is_kept(event_bytes, tmp_path) -> None:
    path = tmp_path / "events.out.tfevents.2.host"
    path.write_bytes(event_bytes[:len(event_bytes) - 5])
    reader = EventFileReader(path)
    result = reader.read(final=True)
    assert steps(result.points) == list(range(49))
    assert result.problem == (f"events.out.tfevents.2.host: unreadable event at byte {reader.position.offset} "
                              f"(cut short or damaged); scalars read so far are kept")
    assert reader.read(final=True).problem is None  # said once


def test_a_damaged_event_stops_the_file_there_with_one_line(event_bytes, tmp_path) -> None:
    damaged = bytearray(event_bytes)
    damaged[len(damaged) // 2] ^= 0xFF
    path = tmp_path / "events.out.tfevents.3.host"
    path.write_bytes(bytes(damaged))
    result = EventFileReader(path).read(final=True)
    assert 0 < len(result.points) < 50 and steps(result.points) == list(range(len(result.points)))
    assert result.problem is not None and "unreadable event at byte" in result.problem


def test_tensorboards_own_writer_scalars_are_read_too(tmp_path) -> None:
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path / "tf2"))
    for step in range(3):
        writer.add_scalar("accuracy", step / 4, step=step)
    writer.close()
    result = TensorboardReader(tmp_path).read(final=True)
    assert [(p.name, p.step, p.value) for p in result.points] == [
        ("tf2/accuracy", 0, 0.0), ("tf2/accuracy", 1, 0.25), ("tf2/accuracy", 2, 0.5)]


def test_a_reader_resumed_elsewhere_goes_on_where_the_first_stopped(event_bytes, tmp_path) -> None:
    path = tmp_path / "logs" / "events.out.tfevents.4.host"
    path.parent.mkdir()
    cut = len(event_bytes) // 3
    path.write_bytes(event_bytes[:cut])
    first = TensorboardReader(path.parent)
    before = first.read().points
    saved = TensorboardPosition.from_json(first.position.to_json())
    with open(path, "ab") as events:
        events.write(event_bytes[cut:])
    after = TensorboardReader(path.parent, saved).read(final=True)
    assert after.problem is None
    assert steps(before + after.points) == list(range(50))


def test_a_saved_position_that_is_not_one_is_a_clear_error() -> None:
    with pytest.raises(TrackingError, match="saved TensorBoard reading position .* is not valid"):
        TensorboardPosition.from_json('{"a": 3}')


def test_without_tensorboard_the_reader_says_which_extra_to_install(tmp_path) -> None:
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "from launcher.tracking.tensorboard_reader import TensorboardReader\n"
            "from launcher.errors import MissingExtraError\n"
            "try:\n    TensorboardReader('.')\n"
            "except MissingExtraError as error:\n    print(error)\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(Path.cwd()))).stdout
    assert output.strip().splitlines() == [
        "reading tensorboard metrics needs the tensorboard package (tensorboard.backend is missing): "
        "install launcher[tensorboard]"]
