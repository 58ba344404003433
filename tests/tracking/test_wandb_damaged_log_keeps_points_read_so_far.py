"""A damaged or cut wandb transaction log: the points read before the damage are kept and the problem is
one line; a log cut because it is still being written is read on when it grows, never reported."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from launcher.errors import MissingExtraError, TrackingError
from launcher.tracking import wandb_records
from launcher.tracking.wandb_reader import WandbLogReader, WandbPosition

pytest.importorskip("wandb")

ROWS = 1500
SCRIPT = f"""
import wandb
run = wandb.init(project="p", config={{"lr": 0.1}})
for step in range({ROWS}):
    wandb.log({{"loss": 1.0 / (step + 1), "acc": step / {ROWS}}})
run.finish()
"""


@pytest.fixture(scope="module")
def log_bytes(tmp_path_factory) -> bytes:
    """A real transaction log of 1,500 history rows (several 32 KiB blocks), written by wandb."""
    folder = tmp_path_factory.mktemp("wandb-log")
    (folder / "train.py").write_text(SCRIPT)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(folder), WANDB_RUN_ID="dmg")
    subprocess.run([sys.executable, "train.py"], cwd=folder, env=env, check=True, timeout=120)
    [log] = folder.glob("wandb/offline-run-*/run-dmg.wandb")
    data = log.read_bytes()
    assert len(data) > 3 * wandb_records.BLOCK_BYTES
    return data


def loss_steps(points) -> list[int]:
    return [point.step for point in points if point.name == "loss"]


def test_a_log_read_piece_by_piece_as_it_is_written_gives_every_point_once(log_bytes, tmp_path) -> None:
    path = tmp_path / "run-dmg.wandb"
    path.write_bytes(b"")
    reader = WandbLogReader(path)
    whole = WandbLogReader(tmp_path / "whole.wandb")
    (tmp_path / "whole.wandb").write_bytes(log_bytes)
    expected = whole.read(final=True).points
    assert loss_steps(expected) == list(range(ROWS))
    cuts = sorted(random.Random(7).sample(range(1, len(log_bytes)), 60)) + [len(log_bytes)]
    points = []
    written = 0
    for cut in cuts:
        with open(path, "ab") as log:
            log.write(log_bytes[written:cut])
        written = cut
        result = reader.read()  # not final: a cut record is waited for, not reported
        assert result.problem is None
        points.extend(result.points)
    assert tuple(points) == expected
    assert reader.config == whole.config == {"lr": 0.1}


def test_truncated_log_reports_the_cut_once_the_writer_ended(log_bytes, tmp_path) -> None:
    path = tmp_path / "run-cut.wandb"
    cut = 2 * wandb_records.BLOCK_BYTES + 1000
    path.write_bytes(log_bytes[:cut])
    live = WandbLogReader(path).read()
    assert live.problem is None and len(loss_steps(live.points)) > 100

    reader = WandbLogReader(path)
    result = reader.read(final=True)
    assert result.points == live.points  # kept
    assert result.problem is not None and "\n" not in result.problem
    assert result.problem.startswith("run-cut.wandb: truncated record at byte ")
    assert result.problem.endswith("metrics read so far are kept")
    cut_at = int(result.problem.split("at byte ")[1].split(";")[0])
    assert cut_at < cut and reader.position.offset == cut
    assert reader.read(final=True) == type(result)()  # told once


def test_damaged_chunk_is_reported_and_later_blocks_are_still_read(log_bytes, tmp_path) -> None:
    damaged = bytearray(log_bytes)
    at = wandb_records.BLOCK_BYTES + 5000  # inside the second block
    damaged[at] ^= 0xFF
    path = tmp_path / "run-bad.wandb"
    path.write_bytes(bytes(damaged))
    result = WandbLogReader(path).read(final=True)
    assert result.problem is not None and "\n" not in result.problem
    assert "bad checksum at byte" in result.problem and "metrics read so far are kept" in result.problem
    steps = loss_steps(result.points)
    assert steps[0] == 0 and steps[-1] == ROWS - 1  # before the damage and after its block
    assert 0 < ROWS - len(steps) < 400  # only records of the damaged block are lost


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 a zip file, not a log", "run-x.wandb: not a wandb transaction log"),
    (b":W&", "run-x.wandb: too short to be a wandb transaction log (3 bytes)"),
])
def test_a_file_that_is_not_a_transaction_log_is_one_line(tmp_path, content, message) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(content)
    reader = WandbLogReader(path)
    result = reader.read(final=True)
    assert result.points == () and result.problem is not None and result.problem.startswith(message)
    assert reader.read(final=True).problem is None  # said once


def test_a_header_still_being_written_is_waited_for(tmp_path) -> None:
    path = tmp_path / "run-new.wandb"
    path.write_bytes(b":W&")
    assert WandbLogReader(path).read().problem is None


def test_a_saved_position_that_is_not_one_is_a_clear_error() -> None:
    with pytest.raises(TrackingError, match=r"saved wandb reading position '\{\"offset\": -3.*negative"):
        WandbPosition.from_json('{"offset": -3, "step": 0, "time": null, "history_names": [], '
                                '"summary": {}, "config": {}}')
    with pytest.raises(TrackingError, match="is not valid"):
        WandbPosition.from_json("not json")


def test_without_the_wandb_package_the_reader_says_which_extra_to_install(tmp_path) -> None:
    # The package made unimportable in a child interpreter, as on a machine without launcher[wandb].
    code = ("import sys; sys.modules['wandb'] = None\n"
            "from pathlib import Path\n"
            "from launcher.errors import MissingExtraError\n"
            "from launcher.tracking.wandb_reader import WandbLogReader\n"
            "try:\n    WandbLogReader(Path('run-x.wandb'))\n"
            "except MissingExtraError as error:\n    print(error)\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=os.getcwd())).stdout
    assert output.strip().splitlines() == [
        "reading wandb metrics needs the wandb package (wandb.proto is missing): install launcher[wandb]"]
    assert issubclass(MissingExtraError, TrackingError)
