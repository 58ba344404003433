"""A sweep's definition: the sweep file (TOML) or mapping, its parameters, and the trials drawn from them.

The file names a job, a method (grid or random), parameters (lists of values, or distributions uniform /
log_uniform / int_uniform with min and max), a run cap, an optional metric {name, goal}, and a queue:

    job = "me/demo/train:latest"
    method = "random"
    run_cap = 20
    seed = 7
    queue = "default"
    [metric]
    name = "loss"
    goal = "minimize"
    [parameters]
    lr = { distribution = "log_uniform", min = 1e-4, max = 1e-1 }
    batch = [32, 64]

Trials are generated lazily: a grid's size is the product of its value counts, computed without building
the grid, and only the first run_cap combinations are ever made. A sweep of more than MAX_TRIALS trials
is refused (each trial becomes a queue item), with its size named. Every number from the file is checked
where it enters (finite, in range, of the right type), one error line per bad value. Nothing here touches
the workspace (operations.py does)."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import secrets
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError
from launcher.queue import DEFAULT_QUEUE, priority_rank
from launcher.spec import NAME_PATTERN

METHODS = ("grid", "random")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
GOALS = ("minimize", "maximize")
SWEEP_KEYS = ("job", "method", "parameters", "run_cap", "metric", "queue", "name", "seed", "priority",
              "entry_point", "resource", "resource_args", "project", "entity", "version")
#: The most trials one sweep may queue (each is a queue item, stored in one transaction).
MAX_TRIALS = 100_000
#: Seeds are stored with the sweep and given to random.Random, which treats -n as n: 0 .. 2**63 - 1.
MAX_SEED = 2**63 - 1


class SweepError(ConfigError):
    """A sweep file or sweep operation is not valid."""


@dataclass(frozen=True)
class Parameter:
    name: str
    values: tuple[Any, ...] | None = None
    distribution: str | None = None
    low: float | None = None
    high: float | None = None

    def sample(self, rng: random.Random) -> Any:
        if self.values is not None:
            return rng.choice(self.values)
        assert self.low is not None and self.high is not None  # a distribution has both bounds
        if self.distribution == "uniform":
            return rng.uniform(self.low, self.high)
        if self.distribution == "log_uniform":
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.randint(int(self.low), int(self.high))


@dataclass(frozen=True)
class SweepConfig:
    job: str
    method: str
    parameters: tuple[Parameter, ...]
    run_cap: int | None
    metric: dict[str, str] | None
    queue: str
    name: str | None
    seed: int | None
    priority: str | None
    launch: dict[str, Any]
    raw: dict[str, Any]

    @property
    def trial_count(self) -> int:
        """How many trials the sweep has, without generating them."""
        if self.method == "grid":
            size = grid_size(self.parameters)
            return size if self.run_cap is None else min(size, self.run_cap)
        return self.run_cap or 0

    def iter_trials(self) -> Iterator[dict[str, Any]]:
        """Each trial's run_config, in launch order, made one at a time (a grid is never built whole)."""
        names = [p.name for p in self.parameters]
        if self.method == "grid":
            combos = itertools.product(*(p.values or () for p in self.parameters))
            for combo in itertools.islice(combos, self.trial_count):
                yield dict(zip(names, combo, strict=True))
            return
        rng = random.Random(self.seed)
        for _ in range(self.trial_count):
            yield {p.name: p.sample(rng) for p in self.parameters}

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's run_config, in launch order (at most MAX_TRIALS, checked by parse_sweep)."""
        return list(self.iter_trials())


def grid_size(parameters: tuple[Parameter, ...]) -> int:
    return math.prod(len(p.values or ()) for p in parameters)


def load_sweep_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    from launcher.textfiles import read_text_file

    file = Path(path).expanduser()
    text = read_text_file(file, f"sweep file {str(file)!r}", "a TOML file", SweepError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep file {str(file)!r} is not valid TOML: {error}") from None


def parse_sweep(data: Mapping[str, Any], *, seed: int | None = None) -> SweepConfig:
    """Check a sweep definition (from TOML or Python); every problem is one SweepError naming the value."""
    if not isinstance(data, Mapping):
        raise SweepError(f"a sweep must be a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"unknown sweep setting {unknown[0]!r}; expected one of: {', '.join(SWEEP_KEYS)}")
    job = data.get("job")
    if not isinstance(job, str) or not job.strip():
        raise SweepError(f"sweep 'job' must name a job (entity/project/name:alias), got {job!r}")
    method = data.get("method", "grid")
    if method not in METHODS:
        raise SweepError(f"unknown sweep method {method!r}; expected one of: {', '.join(METHODS)}")
    raw_parameters = data.get("parameters")
    if not isinstance(raw_parameters, Mapping) or not raw_parameters:
        raise SweepError("sweep 'parameters' must be a table with at least one parameter, "
                         "e.g. [parameters] lr = [0.1, 0.01]")
    parameters = tuple(_parameter(name, spec) for name, spec in raw_parameters.items())

    run_cap = data.get("run_cap")
    if run_cap is not None and not _whole_number_in(run_cap, 1, MAX_TRIALS):
        raise SweepError(f"sweep run_cap {run_cap!r} is not valid; expected a whole number from 1 to {MAX_TRIALS}")
    if method == "grid":
        ranged = [p.name for p in parameters if p.values is None]
        if ranged:
            raise SweepError(f"grid sweeps need lists of values; parameter {ranged[0]!r} is a distribution "
                             "(use method = 'random')")
        size = grid_size(parameters)
        if run_cap is None and size > MAX_TRIALS:
            counts = " x ".join(str(len(p.values or ())) for p in parameters)
            raise SweepError(f"grid sweep has {size:,} trials ({counts} values), more than the {MAX_TRIALS:,} a "
                             "sweep may queue; set run_cap or give fewer values")
    elif run_cap is None:
        raise SweepError("random sweeps need a run_cap (the number of trials)")

    metric = data.get("metric")
    if metric is not None:
        if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str) or not metric["name"]:
            raise SweepError(f"sweep metric must be a table with a name, e.g. {{ name = 'loss', goal = 'minimize' }}, "
                             f"got {metric!r}")
        extra = sorted(set(metric) - {"name", "goal"})
        if extra:
            raise SweepError(f"unknown metric setting {extra[0]!r}; expected name and goal")
        goal = metric.get("goal", "minimize")
        if goal not in GOALS:
            raise SweepError(f"metric goal {goal!r} is not valid; expected one of: {', '.join(GOALS)}")
        metric = {"name": metric["name"], "goal": goal}

    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        raise SweepError(f"sweep name {name!r} is not valid; expected letters, digits, '_', '.' or '-'")
    chosen_seed = seed if seed is not None else data.get("seed")
    if chosen_seed is not None and not _whole_number_in(chosen_seed, 0, MAX_SEED):
        raise SweepError(f"sweep seed {chosen_seed!r} is not valid; expected a whole number from 0 to {MAX_SEED}")
    if method == "random" and chosen_seed is None:
        chosen_seed = secrets.randbelow(2**31)  # recorded with the sweep, so its trials can be drawn again
    queue_name = data.get("queue", DEFAULT_QUEUE)
    priority = data.get("priority")
    priority_rank(priority)
    launch = {key: data[key] for key in ("entry_point", "resource", "resource_args", "project", "entity", "version")
              if data.get(key) is not None}
    raw = {**dict(data), "method": method, "queue": queue_name}
    if chosen_seed is not None:
        raw["seed"] = chosen_seed
    return SweepConfig(job=job, method=method, parameters=parameters, run_cap=run_cap, metric=metric,
                       queue=queue_name, name=name, seed=chosen_seed, priority=priority, launch=launch, raw=raw)


def _whole_number_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _parameter(name: Any, spec: Any) -> Parameter:
    if not isinstance(name, str) or not name:
        raise SweepError(f"parameter name {name!r} is not valid")
    if isinstance(spec, list):
        return _values(name, spec)
    if not isinstance(spec, Mapping):
        return _values(name, [spec])  # a constant
    if "values" in spec or "value" in spec:
        extra = sorted(set(spec) - {"values", "value"})
        if extra or ("values" in spec and "value" in spec):
            raise SweepError(f"parameter {name!r}: give either values = [...] or value = ..., "
                             f"not {', '.join(sorted(spec))}")
        if "value" in spec:
            return _values(name, [spec["value"]])
        if not isinstance(spec["values"], list):
            raise SweepError(f"parameter {name!r}: values must be a list, got {spec['values']!r}")
        return _values(name, spec["values"])
    distribution = spec.get("distribution")
    if distribution not in DISTRIBUTIONS:
        raise SweepError(f"parameter {name!r}: unknown distribution {distribution!r}; expected one of: "
                         f"{', '.join(DISTRIBUTIONS)} (or values = [...])")
    extra = sorted(set(spec) - {"distribution", "min", "max"})
    if extra:
        raise SweepError(f"parameter {name!r}: unknown setting {extra[0]!r}; expected distribution, min and max")
    bounds: list[int | float] = []
    for key in ("min", "max"):
        value: Any = spec.get(key)
        if not _finite_number(value):
            raise SweepError(f"parameter {name!r}: {key} must be a finite number, got {value!r}")
        if distribution == "int_uniform" and not isinstance(value, int):
            raise SweepError(f"parameter {name!r}: int_uniform {key} must be a whole number, got {value!r}")
        bounds.append(value)
    low, high = bounds
    if low > high:
        raise SweepError(f"parameter {name!r}: min {low!r} is greater than max {high!r}")
    if distribution == "log_uniform" and low <= 0:
        raise SweepError(f"parameter {name!r}: log_uniform needs min > 0, got min {low!r}")
    if distribution == "uniform" and not math.isfinite(float(high) - float(low)):
        # uniform draws min + (max - min) * u: a range wider than any float gives inf or nan
        raise SweepError(f"parameter {name!r}: the range from min {low!r} to max {high!r} is too wide; "
                         "expected max - min to be a finite number")
    return Parameter(name, distribution=distribution, low=low, high=high)


def _values(name: str, values: list) -> Parameter:
    if not values:
        raise SweepError(f"parameter {name!r} has an empty list of values; give at least one")
    try:
        json.dumps(values)
    except (TypeError, ValueError):
        raise SweepError(f"parameter {name!r}: values must be JSON values, got {values!r}") from None
    for value in values:  # JSON data, so no cycles: each value is walked once
        bad = _non_finite(value)
        if bad is not None:
            raise SweepError(f"parameter {name!r}: value {bad!r} is not a finite number")
    return Parameter(name, values=tuple(values))


def _non_finite(value: Any) -> Any:
    """The first number inside a value (a list or table of them too) that is not finite, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    children = value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
    for child in children:
        bad = _non_finite(child)
        if bad is not None:
            return bad
    return None


def trial_name(parameters: Mapping[str, Any]) -> str:
    """A trial's run name from its parameters, as tables show it: `lr=0.1 bs=64` (numbers to 4 significant
    digits, control characters as spaces, cut to the longest run name)."""
    from launcher.spec import MAX_NAME_LENGTH

    def shown(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return json.dumps(value)
        if isinstance(value, float):
            return f"{value:.4g}"
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)

    name = " ".join(f"{key}={shown(value)}" for key, value in parameters.items()).strip()
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH - 1] + "…"
