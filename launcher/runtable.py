"""The run table's data: each run with its config (flattened to dotted keys) and its metrics' latest values,
columns of run fields, config keys and metrics, and sorting on any column. `launcher runs --columns lr,loss
--sort loss` and the TUI's run table use it; filtering is launcher/runfilter.py.

Everything here works on rows already in memory, so that sorting, filtering and changing columns of
thousands of runs stay fast (bench/bench_run_table.py); `load_rows` reads them in two queries."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from launcher.errors import SpecError

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.workspace import Workspace


class ColumnKind(StrEnum):
    FIELD = "field"  # a field of the run record (state, job, ...)
    CONFIG = "config"  # a key of the run's config, nested keys joined with "."
    METRIC = "metric"  # the latest value of a metric


class RunField(StrEnum):
    """Fields of a run that are columns (and filter fields, see runfilter)."""

    ID = "id"
    NAME = "name"
    JOB = "job"
    RESOURCE = "resource"
    STATE = "state"
    PROJECT = "project"
    ENTITY = "entity"
    SWEEP = "sweep"
    TAGS = "tags"
    CREATED = "created"
    STARTED = "started"
    ENDED = "ended"
    DURATION = "duration"
    EXIT = "exit"


#: Prefixes that choose a column's kind when a config key and a metric share a name.
CONFIG_PREFIX, METRIC_PREFIXES = "config.", ("metric.", "metrics.")


@dataclass(frozen=True, slots=True)
class Column:
    kind: ColumnKind
    key: str

    @property
    def label(self) -> str:
        return self.key.upper() if self.kind is ColumnKind.FIELD else self.key


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the table sees it."""

    record: RunRecord
    #: The run's config with nested keys joined by "." ({"opt": {"lr": 0.1}} -> {"opt.lr": 0.1}).
    config: Mapping[str, Any]
    #: The latest value of each metric.
    metrics: Mapping[str, float]

    def field(self, field: RunField) -> Any:
        record = self.record
        if field is RunField.SWEEP:
            return record.sweep_id
        if field is RunField.TAGS:
            return " ".join(record.tags) or None
        if field is RunField.CREATED:
            return record.created_at
        if field is RunField.STARTED:
            return record.started_at
        if field is RunField.ENDED:
            return record.ended_at
        if field is RunField.DURATION:
            return record.duration
        if field is RunField.EXIT:
            return record.exit_code
        return str(getattr(record, field.value))

    def value(self, column: Column) -> Any:
        """The column's value for this run, or None when the run has none."""
        return getter(column)(self)


def getter(column: Column) -> Callable[[RunRow], Any]:
    """A function giving the column's value of a row: resolved once per column, not once per cell."""
    key = column.key
    if column.kind is ColumnKind.METRIC:
        return lambda row: row.metrics.get(key)
    if column.kind is ColumnKind.CONFIG:
        return lambda row: row.config.get(key)
    field = RunField(key)
    if field in _RECORD_TEXT:
        return lambda row: str(getattr(row.record, key))
    return lambda row: row.field(field)


#: Fields that are the record's attribute of the same name, as text.
_RECORD_TEXT = (RunField.ID, RunField.NAME, RunField.JOB, RunField.RESOURCE, RunField.STATE, RunField.PROJECT,
                RunField.ENTITY)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted keys; other values (lists included) stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def make_rows(records: Iterable[RunRecord], latest: Mapping[str, Mapping[str, float]]) -> list[RunRow]:
    empty: dict[str, float] = {}
    return [RunRow(record, flatten(record.run_config), latest.get(record.id, empty)) for record in records]


def load_rows(workspace: Workspace, records: Sequence[RunRecord], refresh: bool = True) -> list[RunRow]:
    """Rows of these runs with their latest metrics (indexing the active runs first when `refresh`)."""
    from launcher.metrics import index_runs, latest_values

    if refresh:
        index_runs(workspace, [record.id for record in records])
    latest = latest_values(workspace, None if len(records) > 2000 else [record.id for record in records])
    return make_rows(records, latest)


def config_keys(rows: Iterable[RunRow]) -> list[str]:
    """Every config key of these runs, sorted."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row.config)
    return sorted(keys)


def metric_names(rows: Iterable[RunRow]) -> list[str]:
    """Every metric these runs reported, sorted."""
    names: set[str] = set()
    for row in rows:
        names.update(row.metrics)
    return sorted(names)


def resolve_column(text: str, rows: Sequence[RunRow]) -> Column:
    """A column named by the user: a run field (`state`), `config.KEY`, `metric.NAME`, or a bare name,
    which is a metric when some run reported it and a config key otherwise (unknown names are refused)."""
    name = text.strip()
    if not name:
        raise SpecError("column name is empty; expected a run field, a config key or a metric name")
    if name in RunField.__members__.values():
        return Column(ColumnKind.FIELD, name)
    if name.startswith(CONFIG_PREFIX):
        return Column(ColumnKind.CONFIG, name[len(CONFIG_PREFIX):])
    for prefix in METRIC_PREFIXES:
        if name.startswith(prefix):
            return Column(ColumnKind.METRIC, name[len(prefix):])
    if any(name in row.metrics for row in rows):
        return Column(ColumnKind.METRIC, name)
    if any(name in row.config for row in rows):
        return Column(ColumnKind.CONFIG, name)
    fields = ", ".join(field.value for field in RunField)
    raise SpecError(f"column {name!r} is not a run field, config key or metric of these runs; expected one of "
                    f"{fields}, a config key (config.KEY) or a metric name")


def sort_key(value: Any) -> tuple:
    """Numbers in order, then text, runs without a value last (in either direction, see sort_rows)."""
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return (0, value)
    if value is None:
        return (2, "")
    if isinstance(value, str):
        return (1, value.lower())
    return (1, json.dumps(value, sort_keys=True))


def sort_rows(rows: Iterable[RunRow], column: Column, descending: bool = False) -> list[RunRow]:
    """Rows sorted on a column (stable); runs without a value stay last whichever the direction."""
    value_of = getter(column)
    present: list[tuple[tuple, RunRow]] = []
    missing: list[RunRow] = []
    for row in rows:
        value = value_of(row)
        if value is None:
            missing.append(row)
        else:
            present.append((sort_key(value), row))
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [row for _, row in present] + missing


def cell_text(value: Any) -> str:
    """A value as a table cell shows it."""
    kind = type(value)
    if kind is float:
        return f"{value:.6g}"
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def cells(rows: Iterable[RunRow], columns: Sequence[Column]) -> list[list[str]]:
    """The rows' cell texts for these columns (times and durations are left to the caller's format)."""
    getters = [getter(column) for column in columns]
    return [[cell_text(value_of(row)) for value_of in getters] for row in rows]
