"""Metrics and config from wandb's transaction logs (`run-<id>.wandb`), read as they grow.

wandb writes every record of a run (config, history rows, summary updates, ...) to this log in online and
offline mode alike, under `WANDB_DIR/wandb/<run folder>/`. It flushes the log every
`x_transaction_log_flush_interval` seconds (15 by default; the launcher's environment sets it lower, see
environment.py), so a running run's points appear at that pace.

Mapping into the one model:
- a history row (`wandb.log`) gives a point per numeric value at the row's `_step`, timed by `_timestamp`;
  nested dicts are flattened with "." (`{"train": {"loss": 1}}` -> `train.loss`), media and other typed
  values (dicts with a `_type`) and names starting with "_" are left out;
- a summary update made by the program (`run.summary["best"] = 0.5`) gives a point at the latest step,
  for names that never appear in the history (wandb mirrors each history row into the summary: those
  mirror updates carry `_step` and are skipped, the history row already gave the points);
- the config is not made into points: `config` is the run's config as a mapping.

Records are parsed with the protobuf classes the wandb package ships (`wandb.proto.wandb_internal_pb2`);
the file's framing is read by wandb_records.py."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from launcher.errors import TrackingError
from launcher.tracking import wandb_records
from launcher.tracking.extras import require
from launcher.tracking.model import JsonValue, MetricPoint, MetricSource, ReadResult, merge_results

#: Bytes read from the log per step; a record longer than this is read with a larger piece.
PIECE_BYTES = 4 << 20
#: Folders under WANDB_DIR (or the outputs folder) where wandb puts its run folders.
WANDB_FOLDERS = ("wandb", ".wandb")


@dataclass(frozen=True, slots=True)
class WandbPosition:
    """Where a reader of one transaction log stopped, with what it needs to go on: resumable in another
    process (to_json / from_json)."""

    #: File offset of the next record to read (0: the file header is not read yet).
    offset: int = 0
    #: The latest history step and time (summary values are put at them).
    step: int = 0
    time: float | None = None
    #: Names the history has given values for (summary updates of these are not points).
    history_names: frozenset[str] = frozenset()
    #: Latest summary-only values made into points, to make a point only when one changes.
    summary: Mapping[str, float] = field(default_factory=dict)
    #: The run's config so far.
    config: Mapping[str, JsonValue] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"offset": self.offset, "step": self.step, "time": self.time,
                           "history_names": sorted(self.history_names), "summary": dict(self.summary),
                           "config": dict(self.config)})

    @classmethod
    def from_json(cls, text: str) -> WandbPosition:
        try:
            data = json.loads(text)
            position = cls(int(data["offset"]), int(data["step"]),
                           None if data["time"] is None else float(data["time"]),
                           frozenset(str(name) for name in data["history_names"]),
                           {str(name): float(value) for name, value in data["summary"].items()},
                           dict(data["config"]))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise TrackingError(f"saved wandb reading position {text[:80]!r} is not valid ({error}); "
                                f"expected the text WandbPosition.to_json() gave") from None
        if position.offset < 0 or position.step < 0:
            raise TrackingError(f"saved wandb reading position {text[:80]!r} has a negative offset or step")
        return position


class WandbLogReader:
    """Reads one transaction log incrementally: each read() returns the points written since the last."""

    source = MetricSource.WANDB

    def __init__(self, path: Path, position: WandbPosition | None = None) -> None:
        self.path = Path(path)
        self._records = require("wandb.proto.wandb_internal_pb2", "wandb")
        self._decode_error = require("google.protobuf.message", "wandb").DecodeError
        start = position or WandbPosition()
        self._offset = start.offset
        self._step = start.step
        self._time = start.time
        self._history_names = set(start.history_names)
        self._summary = dict(start.summary)
        self._config: dict[str, JsonValue] = _copy_json(dict(start.config))
        self._header_problem_told = False

    @property
    def position(self) -> WandbPosition:
        return WandbPosition(self._offset, self._step, self._time, frozenset(self._history_names),
                             dict(self._summary), _copy_json(self._config))

    @property
    def config(self) -> Mapping[str, JsonValue]:
        """The run's config as read so far (wandb's internal `_wandb` entry left out)."""
        return MappingProxyType({key: value for key, value in self._config.items() if key != "_wandb"})

    def read(self, final: bool = False) -> ReadResult:
        """New points since the previous read. `final`: the writer has ended, so a record cut at the end
        of the file will never be completed and is reported as a problem."""
        name = self.path.name
        try:
            log = open(self.path, "rb")
        except FileNotFoundError:
            return ReadResult(problem=f"{name}: the file is gone; metrics read so far are kept" if final else None)
        except OSError as error:
            return ReadResult(problem=f"{name}: cannot be read ({error.strerror}); metrics read so far are kept")
        points: list[MetricPoint] = []
        problems: list[str] = []
        with log:
            if self._offset == 0:
                head = log.read(len(wandb_records.FILE_HEADER))
                problem = wandb_records.check_file_header(head, name, final)
                if problem is not None:
                    told, self._header_problem_told = self._header_problem_told, True
                    return ReadResult(problem=None if told else problem)
                if len(head) < len(wandb_records.FILE_HEADER):
                    return ReadResult()
                self._offset = len(head)
            piece = PIECE_BYTES
            while True:
                log.seek(self._offset)
                data = log.read(piece)
                at_end = len(data) < piece
                found = wandb_records.scan(data, self._offset, final and at_end, name)
                for record_at, payload in found.records:
                    problem = self._take(record_at, payload, points)
                    if problem:
                        problems.append(problem)
                if found.problem:
                    problems.append(found.problem)
                progressed = found.offset != self._offset
                self._offset = found.offset
                if at_end:
                    break
                if not progressed:
                    piece *= 2  # one record longer than a piece
        return ReadResult(tuple(points), "; ".join(problems[:1]) or None)

    def _take(self, record_at: int, payload: bytes, points: list[MetricPoint]) -> str | None:
        try:
            record = self._records.Record.FromString(payload)
        except self._decode_error:
            return f"{self.path.name}: unreadable record at byte {record_at}; metrics read so far are kept"
        kind = record.WhichOneof("record_type")
        if kind == "history":
            self._take_history(record.history, points)
        elif kind == "summary":
            self._take_summary(record.summary, points)
        elif kind == "config":
            self._take_config(record.config)
        elif kind == "run":
            self._take_config(record.run.config)
            if self._time is None and record.run.HasField("start_time"):
                self._time = record.run.start_time.seconds + record.run.start_time.nanos / 1e9
        return None

    def _take_history(self, history: Any, points: list[MetricPoint]) -> None:
        values: list[tuple[str, float]] = []
        step: int | None = None
        at: float | None = None
        isfinite = math.isfinite
        for item in history.item:
            name = _item_name(item)
            if name[:1] == "_":
                if name == "_step":
                    step = _step_value(item.value_json)
                elif name == "_timestamp":
                    at = _number(item.value_json)
                continue
            text = item.value_json
            try:
                value = float(text)  # fast path: most logged values are plain numbers
            except ValueError:
                _add_numbers(name, text, values)
                continue
            if isfinite(value):
                values.append((name, value))
        if step is None:
            step = history.step.num if history.step.num >= 0 else self._step
        if at is None or not math.isfinite(at):
            at = self._time if self._time is not None else self._file_time()
        for name, value in values:
            points.append(MetricPoint(name, step, value, at))
            self._history_names.add(name)
        self._step, self._time = step, at

    def _take_summary(self, summary: Any, points: list[MetricPoint]) -> None:
        values: list[tuple[str, float]] = []
        for item in summary.update:
            name = _item_name(item)
            if name[:1] == "_":
                if name == "_step":
                    return  # wandb's mirror of a history row: the row itself gives the points
                continue
            _add_numbers(name, item.value_json, values)
        for item in summary.remove:
            self._summary.pop(_item_name(item), None)
        if not values:
            return
        at = self._time if self._time is not None else self._file_time()
        for name, value in values:
            if name not in self._history_names and self._summary.get(name) != value:
                self._summary[name] = value
                points.append(MetricPoint(name, self._step, value, at))

    def _take_config(self, config: Any) -> None:
        for item in config.update:
            path = [item.key] if item.key else list(item.nested_key)
            try:
                value = json.loads(item.value_json)
            except ValueError:
                continue
            if path:
                _set_path(self._config, path, value)
        for item in config.remove:
            path = [item.key] if item.key else list(item.nested_key)
            _remove_path(self._config, path)

    def _file_time(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0


@dataclass(frozen=True, slots=True)
class WandbDirectoryPosition:
    """Positions of every transaction log under a folder, by path relative to it."""

    files: Mapping[str, WandbPosition] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({path: json.loads(position.to_json()) for path, position in self.files.items()})

    @classmethod
    def from_json(cls, text: str) -> WandbDirectoryPosition:
        try:
            data = json.loads(text)
            items = data.items()
        except (ValueError, AttributeError):
            raise TrackingError(f"saved wandb reading position {text[:80]!r} is not valid; expected the "
                                f"text WandbDirectoryPosition.to_json() gave") from None
        return cls({str(path): WandbPosition.from_json(json.dumps(value)) for path, value in items})


def find_wandb_logs(directory: Path) -> list[Path]:
    """Transaction logs under `directory` (a WANDB_DIR, such as a run's outputs folder), oldest run folder
    first (wandb names them `run-DATE_TIME-ID` / `offline-run-DATE_TIME-ID`); `latest-run` links skipped."""
    found: list[Path] = []
    for folder_name in WANDB_FOLDERS:
        folder = Path(directory) / folder_name
        if not folder.is_dir():
            continue
        for run_folder in folder.iterdir():
            if run_folder.is_symlink() or not run_folder.is_dir():
                continue
            found.extend(path for path in run_folder.glob("run-*.wandb") if path.is_file())
    return sorted(found, key=lambda path: (path.parent.name.split("-", 1)[-1], str(path)))


class WandbDirectoryReader:
    """Follows every transaction log that appears under a folder (a run's outputs, its WANDB_DIR)."""

    source = MetricSource.WANDB

    def __init__(self, directory: Path, position: WandbDirectoryPosition | None = None) -> None:
        self.directory = Path(directory)
        require("wandb.proto.wandb_internal_pb2", "wandb")
        self._saved = dict((position or WandbDirectoryPosition()).files)
        self._readers: dict[str, WandbLogReader] = {}

    @property
    def position(self) -> WandbDirectoryPosition:
        files = dict(self._saved)
        files.update({path: reader.position for path, reader in self._readers.items()})
        return WandbDirectoryPosition(files)

    @property
    def config(self) -> Mapping[str, JsonValue]:
        """The config of the runs found, merged (a later run's keys win)."""
        merged: dict[str, JsonValue] = {}
        for reader in self._readers.values():
            merged.update(reader.config)
        return MappingProxyType(merged)

    def read(self, final: bool = False) -> ReadResult:
        for path in find_wandb_logs(self.directory):
            key = str(path.relative_to(self.directory))
            if key not in self._readers:
                self._readers[key] = WandbLogReader(path, self._saved.pop(key, None))
        return merge_results([reader.read(final) for reader in self._readers.values()])


def _item_name(item: Any) -> str:
    """A history, summary or config item's name: its key, or its nested key path joined with "."."""
    if item.key:
        return item.key
    nested = item.nested_key
    return nested[0] if len(nested) == 1 else ".".join(nested)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _step_value(text: str) -> int | None:
    value = _number(text)
    if value is None or not math.isfinite(value) or value < 0 or not value.is_integer():
        return None
    return int(value)


def _add_numbers(name: str, text: str, out: list[tuple[str, float]]) -> None:
    """Append (name, value) for each finite number in a JSON value: a number, or a plain dict of them."""
    try:
        value = float(text)  # fast path: most logged values are plain numbers
    except ValueError:
        try:
            _flatten(name, json.loads(text), out)
        except (ValueError, RecursionError):
            pass
        return
    if math.isfinite(value):
        out.append((name, value))


def _flatten(name: str, value: object, out: list[tuple[str, float]]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            out.append((name, float(value)))
    elif isinstance(value, dict) and "_type" not in value:
        for key, inner in value.items():
            _flatten(f"{name}.{key}", inner, out)


def _set_path(config: dict[str, JsonValue], path: list[str], value: JsonValue) -> None:
    target = config
    for key in path[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target[path[-1]] = value


def _remove_path(config: dict[str, JsonValue], path: list[str]) -> None:
    target: JsonValue = config
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict) and path:
        target.pop(path[-1], None)


def _copy_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    return json.loads(json.dumps(value))
