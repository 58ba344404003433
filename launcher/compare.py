"""Comparing runs: their configs side by side (keys whose values differ first), and each metric's final
and best value per run. Runs that share no metric still compare their configs.

Which value is best depends on the metric: lower for names that read as a cost (loss, error, ...), higher
otherwise, unless the caller says (`goals`); the goal is part of the result, so it is always shown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from launcher.errors import SpecError
from launcher.runtable import flatten

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.workspace import Workspace

#: Parts of a metric name that mean lower is better.
COST_WORDS = ("loss", "err", "mse", "mae", "rmse", "perplexity", "ppl", "wer", "cer", "latency", "time",
              "regret", "cost", "distance", "nll")
MAX_RUNS = 50


class Goal(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def guess_goal(name: str) -> Goal:
    lowered = name.lower()
    return Goal.MINIMIZE if any(word in lowered for word in COST_WORDS) else Goal.MAXIMIZE


class _Missing:
    """A config key a run does not have (shown as '-'), distinct from a null value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class ConfigComparison:
    key: str
    #: One value per run, in the runs' order; MISSING where a run has no such key.
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True, slots=True)
class MetricComparison:
    name: str
    goal: Goal
    #: Per run, in the runs' order: the last value and the best one (None where the run has no such metric).
    finals: tuple[float | None, ...]
    bests: tuple[float | None, ...]
    steps: tuple[int | None, ...]

    @property
    def best_run(self) -> int | None:
        """The index of the run with the best value, or None."""
        candidates = [(value, index) for index, value in enumerate(self.bests) if value is not None]
        if not candidates:
            return None
        pick = min if self.goal is Goal.MINIMIZE else max
        return pick(candidates, key=lambda pair: pair[0])[1]


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: tuple[RunRecord, ...]
    config: tuple[ConfigComparison, ...]
    metrics: tuple[MetricComparison, ...]

    @property
    def shared_metrics(self) -> tuple[MetricComparison, ...]:
        return tuple(metric for metric in self.metrics if all(value is not None for value in metric.finals))

    def to_json(self) -> dict[str, Any]:
        def shown(value: Any) -> Any:
            return None if value is MISSING else value

        return {
            "runs": [{"id": run.id, "name": run.name, "state": str(run.state), "job": run.job} for run in self.runs],
            "config": [{"key": row.key, "differs": row.differs,
                        "values": {run.id: shown(value) for run, value in zip(self.runs, row.values, strict=True)},
                        "missing": [run.id for run, value in zip(self.runs, row.values, strict=True)
                                    if value is MISSING]}
                       for row in self.config],
            "metrics": [{"name": metric.name, "goal": str(metric.goal),
                         "final": dict(zip((run.id for run in self.runs), metric.finals, strict=True)),
                         "best": dict(zip((run.id for run in self.runs), metric.bests, strict=True)),
                         "best_run": None if metric.best_run is None else self.runs[metric.best_run].id}
                        for metric in self.metrics],
        }


def compare_configs(records: Iterable[RunRecord]) -> tuple[ConfigComparison, ...]:
    """Every config key of the runs, keys whose values differ first, each group in key order."""
    flat = [flatten(record.run_config) for record in records]
    keys = sorted({key for config in flat for key in config})
    rows = []
    for key in keys:
        values = tuple(config.get(key, MISSING) for config in flat)
        first = values[0]
        differs = any(not _same(first, value) for value in values[1:])
        rows.append(ConfigComparison(key, values, differs))
    rows.sort(key=lambda row: not row.differs)  # stable: key order within each group
    return tuple(rows)


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def compare_runs(workspace: Workspace, run_ids: Iterable[str],
                 goals: Mapping[str, Goal] | None = None) -> Comparison:
    """Compare runs given by id or unambiguous prefix (2 to MAX_RUNS of them, each once)."""
    from launcher.metrics import summaries
    from launcher.run import find_run

    ids = list(run_ids)
    if not 2 <= len(ids) <= MAX_RUNS:
        raise SpecError(f"compare needs 2 to {MAX_RUNS} runs, got {len(ids)}")
    records = [find_run(workspace, prefix).record for prefix in ids]
    seen: set[str] = set()
    for prefix, record in zip(ids, records, strict=True):
        if record.id in seen:
            raise SpecError(f"run {prefix!r} is given twice (run {record.id}); expected each run once")
        seen.add(record.id)
    found = summaries(workspace, [record.id for record in records])
    names = sorted({name for values in found.values() for name in values})
    metrics = []
    for name in names:
        goal = (goals or {}).get(name) or guess_goal(name)
        per_run = [found.get(record.id, {}).get(name) for record in records]
        metrics.append(MetricComparison(
            name, goal,
            finals=tuple(None if summary is None else summary.last.value for summary in per_run),
            bests=tuple(None if summary is None else (summary.low if goal is Goal.MINIMIZE else summary.high)
                        for summary in per_run),
            steps=tuple(None if summary is None else summary.last.step for summary in per_run)))
    return Comparison(tuple(records), compare_configs(records), tuple(metrics))
