"""The one metrics model: whatever wrote it, a metric is a series of points (name, step, value, time)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol, TypeAlias

#: A value as JSON holds it (configs are exposed this way, never as points).
JsonValue: TypeAlias = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


class MetricSource(StrEnum):
    """Where a run's metrics come from."""

    MARKER = "marker"  # `@metrics {...}` lines on stdout (launcher/metrics.py)
    WANDB = "wandb"
    MLFLOW = "mlflow"
    TENSORBOARD = "tensorboard"


class MetricPoint(NamedTuple):
    """One reported value. A NamedTuple: immutable, typed, and cheap to make by the hundred thousand."""

    name: str
    step: int
    value: float
    #: Seconds since the epoch, when the value was logged.
    time: float


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What one read of a source found since the previous read."""

    points: tuple[MetricPoint, ...] = ()
    #: One line saying what could not be read, e.g. "run-x.wandb: truncated record at byte 81920; metrics
    #: read so far are kept". Points read before the problem are in `points` all the same.
    problem: str | None = None


class ReaderPosition(Protocol):
    """Where a reader is in its source, as text another process can resume from."""

    def to_json(self) -> str: ...


class MetricReader(Protocol):
    """What every source's reader offers (WandbDirectoryReader, WandbLogReader, MlflowReader,
    TensorboardReader): read() returns what is new since the previous call; `final=True` once the writer
    has ended, so that what is still incomplete is reported instead of waited for. Each also has a
    `position` with to_json()/from_json() to resume in another process."""

    source: MetricSource

    @property
    def position(self) -> ReaderPosition: ...

    def read(self, final: bool = False) -> ReadResult: ...


def usable_value(value: float) -> bool:
    """Only finite numbers become points (as for `@metrics` lines): NaN and infinities are left out."""
    return math.isfinite(value)


def merge_results(results: list[ReadResult]) -> ReadResult:
    """One result from several files' results: their points in order, their problems on one line."""
    points: list[MetricPoint] = []
    problems: list[str] = []
    for result in results:
        points.extend(result.points)
        if result.problem:
            problems.append(result.problem)
    return ReadResult(tuple(points), "; ".join(problems) or None)
