"""Scalars from TensorBoard event files (`events.out.tfevents.*`) under a folder, read as they grow.

Each file is read with tensorboard's own record reader (`event_file_loader.RawEventFileLoader`, which
checks each record's CRC) and its own `Event` protobuf class. That reader keeps its place between calls,
and a half-written last event is retried on the next call rather than reported. Only when the writer has
ended (`final`) are bytes it could not read reported, once, in one line.

Scalars are values written with `add_scalar` (a `simple_value`, as tensorboardX and
torch.utils.tensorboard write them) or TensorFlow 2's scalar summaries (a one-value tensor of the
"scalars" plugin, whose metadata comes with a tag's first value). A file in a subfolder (one
SummaryWriter per subfolder, e.g. `train/`, `eval/`) names its scalars `subfolder/tag`.

TensorBoard writers flush their events every `flush_secs` (120 s by default in tensorboardX and torch) or
when their buffer fills, so a running program's scalars appear at that pace.

Resuming from a saved position in another process reads the file's records up to it again (the reader
cannot start at an offset), without making points of them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.errors import TrackingError
from launcher.tracking.extras import require
from launcher.tracking.model import MetricPoint, MetricSource, ReadResult, merge_results

EVENT_FILE_PATTERN = "events.out.tfevents.*"
#: Bytes around each record: length (8), its CRC (4), the data's CRC (4).
_RECORD_FRAMING_BYTES = 16
_SCALARS_PLUGIN = "scalars"


@dataclass(frozen=True, slots=True)
class EventFilePosition:
    """How far one event file was read: its byte offset and the number of records (events) before it."""

    offset: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class TensorboardPosition:
    """Positions of every event file under a folder, by path relative to it (to_json / from_json)."""

    files: Mapping[str, EventFilePosition] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({path: [position.offset, position.events] for path, position in self.files.items()})

    @classmethod
    def from_json(cls, text: str) -> TensorboardPosition:
        try:
            files = {str(path): EventFilePosition(int(offset), int(events))
                     for path, (offset, events) in json.loads(text).items()}
        except (ValueError, TypeError, AttributeError) as error:
            raise TrackingError(f"saved TensorBoard reading position {text[:80]!r} is not valid ({error}); "
                                f"expected the text TensorboardPosition.to_json() gave") from None
        if any(position.offset < 0 or position.events < 0 for position in files.values()):
            raise TrackingError(f"saved TensorBoard reading position {text[:80]!r} has a negative number")
        return cls(files)


class EventFileReader:
    """One event file, read incrementally with tensorboard's loader."""

    def __init__(self, path: Path, prefix: str = "", position: EventFilePosition | None = None) -> None:
        loaders = require("tensorboard.backend.event_processing.event_file_loader", "tensorboard")
        self._event_class = require("tensorboard.compat.proto.event_pb2", "tensorboard").Event
        self._decode_error = require("google.protobuf.message", "tensorboard").DecodeError
        self.path = Path(path)
        self._prefix = prefix
        self._loader = loaders.RawEventFileLoader(str(self.path))
        self._offset = 0
        self._events = 0
        self._scalar_tags: set[str] = set()
        self._problem_told = False
        if position is not None and position.events:
            self._skip(position.events)

    @property
    def position(self) -> EventFilePosition:
        return EventFilePosition(self._offset, self._events)

    def read(self, final: bool = False) -> ReadResult:
        points: list[MetricPoint] = []
        append, from_string, prefix, isfinite = points.append, self._event_class.FromString, self._prefix, math.isfinite
        try:
            for record in self._loader.Load():
                self._offset += len(record) + _RECORD_FRAMING_BYTES
                self._events += 1
                event = from_string(record)
                if not event.HasField("summary") or event.step < 0:
                    continue
                step, at = event.step, event.wall_time
                for value in event.summary.value:
                    if value.WhichOneof("value") == "simple_value":  # add_scalar's own form, by far the most
                        number = value.simple_value
                    else:
                        number = self._scalar(value)
                        if number is None:
                            continue
                    if isfinite(number):
                        append(MetricPoint(prefix + value.tag, step, number, at))
        except self._decode_error:
            # A record whose checksums hold but which is no event: reported once, what was read is kept.
            return ReadResult(tuple(points), self._damage_problem())
        return ReadResult(tuple(points), self._unread_problem() if final else None)

    def _damage_problem(self) -> str | None:
        if self._problem_told:
            return None
        self._problem_told = True
        return (f"{self.path.name}: event {self._events} at byte {self._offset} is not a TensorBoard event; "
                f"scalars read so far are kept")

    def _scalar(self, value: Any) -> float | None:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            return value.simple_value
        if kind != "tensor":
            return None
        if value.HasField("metadata") and value.metadata.plugin_data.plugin_name == _SCALARS_PLUGIN:
            self._scalar_tags.add(value.tag)
        if value.tag not in self._scalar_tags:
            return None
        array = require("tensorboard.util.tensor_util", "tensorboard").make_ndarray(value.tensor)
        return float(array.item()) if array.size == 1 else None

    def _unread_problem(self) -> str | None:
        try:
            size = self.path.stat().st_size
        except OSError:
            return None
        if size <= self._offset or self._problem_told:
            return None
        self._problem_told = True
        return (f"{self.path.name}: unreadable event at byte {self._offset} (cut short or damaged); "
                f"scalars read so far are kept")

    def _skip(self, events: int) -> None:
        for record in self._loader.Load():
            self._offset += len(record) + _RECORD_FRAMING_BYTES
            self._events += 1
            event = self._event_class.FromString(record)
            for value in event.summary.value:  # scalar tags are known from their first value only
                self._scalar(value)
            if self._events == events:
                return


def find_event_files(directory: Path, exclude: str | None = None) -> list[Path]:
    """Event files under `directory`, at any depth, in path order; `exclude` names a subfolder left out."""
    root = Path(directory)
    skipped = root / exclude if exclude else None
    return sorted(path for path in root.rglob(EVENT_FILE_PATTERN)
                  if path.is_file() and (skipped is None or not path.is_relative_to(skipped)))


class TensorboardReader:
    """Follows every event file that appears under a folder (a run's outputs or working directory)."""

    source = MetricSource.TENSORBOARD

    def __init__(self, directory: Path, position: TensorboardPosition | None = None,
                 exclude: str | None = None) -> None:
        require("tensorboard.backend.event_processing.event_file_loader", "tensorboard")
        self.directory = Path(directory)
        #: A subfolder of `directory` whose files another reader follows.
        self.exclude = exclude
        self._saved = dict((position or TensorboardPosition()).files)
        self._files: dict[str, EventFileReader] = {}

    @property
    def position(self) -> TensorboardPosition:
        files = dict(self._saved)
        files.update({path: reader.position for path, reader in self._files.items()})
        return TensorboardPosition(files)

    def read(self, final: bool = False) -> ReadResult:
        for path in find_event_files(self.directory, self.exclude):
            relative = path.relative_to(self.directory)
            key = str(relative)
            if key not in self._files:
                folder = relative.parent.as_posix()
                prefix = "" if folder == "." else folder + "/"
                self._files[key] = EventFileReader(path, prefix, self._saved.pop(key, None))
        return merge_results([reader.read(final) for reader in self._files.values()])
