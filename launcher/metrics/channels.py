"""Where a run's tracking libraries leave their metrics, and the reader of each place (launcher/tracking).

A channel is one place read with one reading position kept in the store (table metric_sources):

- WANDB: wandb's transaction logs under the run's outputs folder (its WANDB_DIR);
- MLFLOW: the MLflow run tied to the run (the tie file in its run folder names store and run);
- TENSORBOARD: event files under the outputs folder, except those collected from the working directory;
- TENSORBOARD_WORKDIR: event files under the program's working directory on this machine (local-process:
  the run folder's src/); its owner moves them into outputs/tensorboard-workdir/ when the run ends, and the
  same reading position goes on there (positions are keyed by the path relative to the folder read).

Finding which channels a run has is a few directory listings; a reader is made (and its tracking library
imported) only for a channel whose files exist."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from launcher.runners.owner_tracking import COLLECTED_DIR, EVENT_FILE_PREFIX, SKIPPED_FOLDERS, TIE_FILE
from launcher.runners.ownership import OUTPUTS_DIR, SOURCE_DIR
from launcher.tracking import tie
from launcher.tracking.model import MetricReader, MetricSource
from launcher.tracking.wandb_reader import WANDB_FOLDERS

#: Resources whose program runs in the run folder's src/ on this machine.
WORKDIR_RESOURCES = ("local-process",)


class Channel(StrEnum):
    WANDB = "wandb"
    MLFLOW = "mlflow"
    TENSORBOARD = "tensorboard"
    TENSORBOARD_WORKDIR = "tensorboard-workdir"

    @property
    def source(self) -> MetricSource:
        return _SOURCES[self]


_SOURCES = {Channel.WANDB: MetricSource.WANDB, Channel.MLFLOW: MetricSource.MLFLOW,
            Channel.TENSORBOARD: MetricSource.TENSORBOARD, Channel.TENSORBOARD_WORKDIR: MetricSource.TENSORBOARD}


@dataclass(frozen=True, slots=True)
class RunPlaces:
    """The folders of one run that its channels read."""

    run_dir: Path
    #: The program's working directory on this machine, when it has one here.
    workdir: Path | None

    @classmethod
    def of(cls, run_dir: Path, resource: str) -> RunPlaces:
        return cls(run_dir, run_dir / SOURCE_DIR if resource in WORKDIR_RESOURCES else None)

    @property
    def outputs(self) -> Path:
        return self.run_dir / OUTPUTS_DIR

    @property
    def collected(self) -> Path:
        return self.outputs / COLLECTED_DIR

    @property
    def tie_file(self) -> Path:
        return self.run_dir / TIE_FILE

    def event_folder(self) -> Path | None:
        """Where TENSORBOARD_WORKDIR reads: the collected folder once the owner has made it, else the
        working directory."""
        if self.collected.is_dir():
            return self.collected
        return self.workdir


def present(places: RunPlaces) -> set[Channel]:
    """The channels whose files exist now."""
    found: set[Channel] = set()
    outputs = places.outputs
    if any(any(folder.glob("*/run-*.wandb")) for folder in (outputs / name for name in WANDB_FOLDERS)
           if folder.is_dir()):
        found.add(Channel.WANDB)
    if places.tie_file.is_file():
        found.add(Channel.MLFLOW)
    if outputs.is_dir() and _has_event_files(outputs, skip=COLLECTED_DIR):
        found.add(Channel.TENSORBOARD)
    folder = places.event_folder()
    if folder is not None and folder.is_dir() and _has_event_files(folder):
        found.add(Channel.TENSORBOARD_WORKDIR)
    return found


def _has_event_files(root: Path, skip: str | None = None) -> bool:
    import os

    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders
                         if name not in SKIPPED_FOLDERS and not (skip and folder == str(root) and name == skip)]
        if any(name.startswith(EVENT_FILE_PREFIX) for name in files):
            return True
    return False


def tie_problem(places: RunPlaces) -> str | None:
    """Why the run has no tied MLflow run to read, as its owner found (and noted in the log)."""
    found = tie.read(places.tie_file)
    return found.problem if found is not None and not found.mlflow_run_id else None


def open_reader(channel: Channel, places: RunPlaces, position: str) -> tuple[MetricReader | None, str]:
    """A reader of the channel resumed at `position` (text its position's to_json() gave; "" for the
    start), and a key that changes when the reader must be made anew (the folder it reads moved).
    None when there is nothing to read (an MLflow tie not made)."""
    if channel is Channel.WANDB:
        from launcher.tracking.wandb_reader import WandbDirectoryPosition, WandbDirectoryReader

        wandb_at = WandbDirectoryPosition.from_json(position) if position else None
        return WandbDirectoryReader(places.outputs, wandb_at), str(places.outputs)
    if channel is Channel.MLFLOW:
        from launcher.tracking.mlflow_reader import MlflowPosition, MlflowReader

        found = tie.read(places.tie_file)
        if found is None or not found.mlflow_run_id:
            return None, ""
        mlflow_at = MlflowPosition.from_json(position) if position else None
        return (MlflowReader(found.tracking_uri, found.mlflow_run_id, mlflow_at, base_dir=places.workdir),
                found.tracking_uri)
    from launcher.tracking.tensorboard_reader import TensorboardPosition, TensorboardReader

    saved = TensorboardPosition.from_json(position) if position else None
    if channel is Channel.TENSORBOARD:
        return TensorboardReader(places.outputs, saved, exclude=COLLECTED_DIR), str(places.outputs)
    folder = places.event_folder()
    if folder is None:
        return None, ""
    return TensorboardReader(folder, saved), str(folder)
