"""Sweeps: a job tried with many run configs. The sweep file (TOML) names a job, a method (grid or
random), parameters (lists of values, or distributions uniform / log_uniform / int_uniform with min and
max), a run cap, an optional metric {name, goal}, and a queue. Creating a sweep puts one queue item per
trial on that queue (all in one transaction) with the trial's values as overrides.run_config; agents
launch them and each run carries the sweep id. Paused sweeps' items are skipped by agents.

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
"""

from __future__ import annotations

import itertools
import json
import math
import random
import secrets
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import queue
from launcher.errors import ConfigError, LaunchError
from launcher.records import SweepRecord, TrialRecord
from launcher.schema import validate_config
from launcher.spec import NAME_PATTERN
from launcher.states import ItemState, RunState, SweepState

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

METHODS = ("grid", "random")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
GOALS = ("minimize", "maximize")
SWEEP_KEYS = ("job", "method", "parameters", "run_cap", "metric", "queue", "name", "seed", "priority",
              "entry_point", "resource", "resource_args", "project", "entity", "version")
RUNNING, PAUSED, CANCELLED, FINISHED = SweepState.RUNNING, SweepState.PAUSED, SweepState.CANCELLED, SweepState.FINISHED
#: Shown (never stored) for a sweep whose trials have all ended and none finished successfully.
FAILED = SweepState.FAILED


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

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's run_config, in launch order."""
        if self.method == "grid":
            names = [p.name for p in self.parameters]
            combos = itertools.product(*(p.values for p in self.parameters))
            grid = [dict(zip(names, combo, strict=True)) for combo in combos]
            return grid[:self.run_cap] if self.run_cap is not None else grid
        rng = random.Random(self.seed)
        return [{p.name: p.sample(rng) for p in self.parameters} for _ in range(self.run_cap or 0)]


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    from launcher.textfiles import read_text_file

    path = Path(path).expanduser()
    text = read_text_file(path, f"sweep file {str(path)!r}", "a TOML file", SweepError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep file {str(path)!r} is not valid TOML: {error}") from None


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
    if run_cap is not None and (isinstance(run_cap, bool) or not isinstance(run_cap, int) or run_cap < 1):
        raise SweepError(f"sweep run_cap {run_cap!r} is not valid; expected a whole number >= 1")
    if method == "grid":
        ranged = [p.name for p in parameters if p.values is None]
        if ranged:
            raise SweepError(f"grid sweeps need lists of values; parameter {ranged[0]!r} is a distribution "
                             "(use method = 'random')")
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
    if chosen_seed is not None and (isinstance(chosen_seed, bool) or not isinstance(chosen_seed, int)):
        raise SweepError(f"sweep seed {chosen_seed!r} is not valid; expected a whole number")
    if method == "random" and chosen_seed is None:
        chosen_seed = secrets.randbelow(2**31)  # recorded with the sweep, so its trials can be drawn again
    queue_name = data.get("queue", queue.DEFAULT_QUEUE)
    priority = data.get("priority")
    queue.priority_rank(priority)
    launch = {key: data[key] for key in ("entry_point", "resource", "resource_args", "project", "entity", "version")
              if data.get(key) is not None}
    raw = {**dict(data), "method": method, "queue": queue_name}
    if chosen_seed is not None:
        raw["seed"] = chosen_seed
    return SweepConfig(job=job, method=method, parameters=parameters, run_cap=run_cap, metric=metric,
                       queue=queue_name, name=name, seed=chosen_seed, priority=priority, launch=launch, raw=raw)


def _parameter(name: Any, spec: Any) -> Parameter:
    if not isinstance(name, str) or not name:
        raise SweepError(f"parameter name {name!r} is not valid")
    if isinstance(spec, list):
        return _values(name, spec)
    if not isinstance(spec, Mapping):
        return Parameter(name, values=(spec,))  # a constant
    if "values" in spec or "value" in spec:
        extra = sorted(set(spec) - {"values", "value"})
        if extra or ("values" in spec and "value" in spec):
            raise SweepError(f"parameter {name!r}: give either values = [...] or value = ..., "
                             f"not {', '.join(sorted(spec))}")
        if "value" in spec:
            return Parameter(name, values=(spec["value"],))
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
    bounds = []
    for key in ("min", "max"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SweepError(f"parameter {name!r}: {key} must be a number, got {value!r}")
        if distribution == "int_uniform" and not isinstance(value, int):
            raise SweepError(f"parameter {name!r}: int_uniform {key} must be a whole number, got {value!r}")
        bounds.append(value)
    low, high = bounds
    if low > high:
        raise SweepError(f"parameter {name!r}: min {low!r} is greater than max {high!r}")
    if distribution == "log_uniform" and low <= 0:
        raise SweepError(f"parameter {name!r}: log_uniform needs min > 0, got min {low!r}")
    return Parameter(name, distribution=distribution, low=low, high=high)


def _values(name: str, values: list) -> Parameter:
    if not values:
        raise SweepError(f"parameter {name!r} has an empty list of values; give at least one")
    try:
        json.dumps(values)
    except (TypeError, ValueError):
        raise SweepError(f"parameter {name!r}: values must be JSON values, got {values!r}") from None
    return Parameter(name, values=tuple(values))


# -- sweeps in the workspace --------------------------------------------------------------------------
def create_sweep(workspace: Workspace, definition: Mapping[str, Any] | str | Path, *,
                 seed: int | None = None) -> SweepRecord:
    """Create a sweep from a definition (a mapping, or the path of a TOML file) and queue its trials.
    Returns the sweep's record (see get_sweep)."""
    data = definition if isinstance(definition, Mapping) else load_sweep_file(definition)
    config = parse_sweep(data, seed=seed)
    trials = config.trials()
    check_trials(workspace, config, trials)
    sweep_id = _new_id(workspace)
    name = config.name or f"sweep-{sweep_id}"
    settings = [{"job": config.job, **config.launch, "name": trial_name(trial),
                 "config": {"overrides": {"run_config": trial}}} for trial in trials]
    prepared = queue.prepare_items(workspace, settings, queue_name=config.queue, priority=config.priority)
    now = time.time()
    with workspace.store.transaction() as conn:
        conn.execute("INSERT INTO sweeps (id, name, state, queue, config, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (sweep_id, name, RUNNING, config.queue,
                                                      json.dumps(config.raw), now, now))
        queue.insert_items(conn, prepared, sweep_id=sweep_id)
    return get_sweep(workspace, sweep_id)


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


def check_trials(workspace: Workspace, config: SweepConfig, trials: list[dict[str, Any]]) -> None:
    """Check every trial's run_config against the job's config schema now, so that a sweep whose values
    cannot fit the job is refused instead of queueing trials that all fail."""
    job = workspace.jobs.resolve(config.job)
    schema = trial_schema(workspace, job, config.launch.get("entry_point"), config.launch.get("version"))
    if schema is None:
        return  # the entry point takes any config
    for parameter in config.parameters:
        kind = schema.get(parameter.name, {}).get("type")
        if parameter.distribution is None or kind is None:
            continue  # unknown names are reported with the trials below
        if kind == "int" and parameter.distribution != "int_uniform":
            raise SweepError(f"parameter {parameter.name!r}: distribution {parameter.distribution!r} draws "
                             f"fractional numbers, but job {job.ref} takes an integer; expected int_uniform "
                             "(or values = [...])")
        if kind not in ("int", "float"):
            raise SweepError(f"parameter {parameter.name!r}: distribution {parameter.distribution!r} draws numbers, "
                             f"but job {job.ref} takes a {kind}; expected values = [...]")
    for number, trial in enumerate(trials, start=1):
        try:
            validate_config(schema, trial)
        except ConfigError as error:
            raise SweepError(f"trial {number} ({json.dumps(trial)}) does not fit job {job.ref}: {error}") from None


def trial_schema(workspace: Workspace, job: JobVersion, entry_point: Any, version: Any) -> dict[str, Any] | None:
    """The schema a launch of `job` at `version` with this entry point checks its config against, found
    as resolve finds it; None for a command of its own (any config)."""
    from launcher.resolve import git_version, mlproject_entry
    from launcher.spec import normalize_entry_point

    entry_points = job.entry_points
    if job.kind == "git" and isinstance(version, str) and version.strip():
        entry_points = git_version(workspace, job, version)[1]  # a version named at launch: resolved anew
    requested = normalize_entry_point(entry_point)
    name = mlproject_entry(requested, job, entry_points)
    if name is not None:
        return entry_points[name]["parameters"]
    return job.schema if requested is None else None


def _new_id(workspace: Workspace) -> str:
    from launcher.resolve import new_run_id

    while True:
        candidate = new_run_id()
        if not workspace.store.query("SELECT 1 FROM sweeps WHERE id=?", (candidate,)):
            return candidate


def find_sweep_id(workspace: Workspace, prefix: str) -> str:
    rows = workspace.store.query("SELECT id FROM sweeps WHERE id=? OR name=?", (prefix, prefix))
    if len(rows) == 1:
        return rows[0]["id"]
    matches = [r["id"] for r in workspace.store.query("SELECT id FROM sweeps WHERE id LIKE ? LIMIT 3",
                                                (prefix.replace("%", "").replace("_", "") + "%",))]
    if len(matches) == 1:
        return matches[0]
    if matches or rows:
        raise SweepError(f"sweep {prefix!r} is ambiguous: {', '.join(matches or [r['id'] for r in rows])}")
    raise SweepError(f"sweep {prefix!r} does not exist (see 'launcher sweep list')")


def get_sweep(workspace: Workspace, sweep_id: str) -> SweepRecord:
    """A sweep by its id or an unambiguous prefix. A running sweep whose items have all ended shows as
    finished, or as failed when none of them finished successfully."""
    sweep_id = find_sweep_id(workspace, sweep_id)
    queue.sync_items(workspace)
    return _describe(workspace, workspace.store.query("SELECT * FROM sweeps WHERE id=?", (sweep_id,))[0])


def sweeps(workspace: Workspace) -> list[SweepRecord]:
    """Every sweep, newest first (see get_sweep)."""
    queue.sync_items(workspace)
    return [_describe(workspace, row)
            for row in workspace.store.query("SELECT * FROM sweeps ORDER BY created_at DESC")]


def paused_sweep_ids(workspace: Workspace) -> set[str]:
    """The ids of the paused sweeps: agents skip their items."""
    return {r["id"] for r in workspace.store.query("SELECT id FROM sweeps WHERE state=?", (PAUSED,))}


def _item_counts(rows) -> dict[ItemState, int]:
    counts = {state: 0 for state in ItemState}
    for r in rows:
        counts[ItemState(r["state"])] = r["n"]
    return counts


def _describe(workspace: Workspace, row) -> SweepRecord:
    config = json.loads(row["config"])
    counts = _item_counts(workspace.store.query(
        "SELECT state, COUNT(*) AS n FROM queue_items WHERE sweep_id=? GROUP BY state", (row["id"],)))
    return SweepRecord(id=row["id"], name=row["name"], state=shown_state(SweepState(row["state"]), counts),
                       queue=row["queue"], method=config.get("method") or "grid", metric=config.get("metric"),
                       config=config, counts=counts, created_at=row["created_at"])


def shown_state(stored: SweepState, counts: Mapping[ItemState, int]) -> SweepState:
    """The state a sweep shows: a running sweep whose items have all ended reads finished, or failed when
    none of them finished successfully."""
    if stored is RUNNING and not any(counts.get(s, 0) for s in ItemState.active()):
        return FAILED if counts.get(ItemState.FAILED) and not counts.get(ItemState.FINISHED) else FINISHED
    return stored


def sweep_trials(workspace: Workspace, sweep_id: str) -> list[TrialRecord]:
    """The sweep's trials: item, state, run, parameters and the metric's latest value, best first when
    the sweep has a metric (trials without a value last), else in launch order."""
    from launcher.metrics import latest_metrics

    sweep = get_sweep(workspace, sweep_id)
    items = workspace.store.query(
        "SELECT q.id, q.state, q.run_id, q.settings, q.message, r.state AS run_state FROM queue_items q "
        "LEFT JOIN runs r ON r.id = q.run_id AND q.state NOT IN ('queued', 'claimed') "
        "WHERE q.sweep_id=? ORDER BY q.id", (sweep.id,))
    metric = sweep.metric
    run_ids = [r["run_id"] for r in items if r["run_state"] is not None]
    latest = latest_metrics(workspace, run_ids) if run_ids else {}
    trials = []
    for row in items:
        has_run = row["run_state"] is not None
        values = latest.get(row["run_id"], {}) if has_run else {}
        point = values.get(metric["name"]) if metric else None
        trials.append(TrialRecord(
            item_id=row["id"], state=ItemState(row["state"]), run_id=row["run_id"] if has_run else None,
            run_state=RunState(row["run_state"]) if has_run else None, message=row["message"],
            parameters=json.loads(row["settings"])["config"]["overrides"]["run_config"],
            metric=None if point is None else point.value, metrics={name: p.value for name, p in values.items()}))
    if metric:
        sign = -1.0 if metric["goal"] == "maximize" else 1.0
        trials.sort(key=lambda t: (t.metric is None, sign * t.metric if t.metric is not None else 0.0))
    return trials


def pause_sweep(workspace: Workspace, sweep_id: str) -> SweepRecord:
    """Agents stop taking the sweep's items (runs already started go on)."""
    return _move(workspace, sweep_id, PAUSED, {RUNNING, PAUSED})


def resume_sweep(workspace: Workspace, sweep_id: str) -> SweepRecord:
    return _move(workspace, sweep_id, RUNNING, {PAUSED, RUNNING})


def cancel_sweep(workspace: Workspace, sweep_id: str) -> SweepRecord:
    """Cancel the sweep's waiting items and stop its running runs."""
    sweep = _move(workspace, sweep_id, CANCELLED, {RUNNING, PAUSED, CANCELLED})
    for row in workspace.store.query("SELECT id FROM queue_items WHERE sweep_id=? AND state IN (?, ?, ?)",
                               (sweep.id, *ItemState.active())):
        try:
            queue.cancel_item(workspace, row["id"])
        except LaunchError:
            continue  # removed meanwhile
    return get_sweep(workspace, sweep.id)


def _move(workspace: Workspace, sweep_id: str, target: SweepState, allowed: set[SweepState]) -> SweepRecord:
    sweep_id = find_sweep_id(workspace, sweep_id)
    queue.sync_items(workspace)  # items whose runs ended are marked so, for the state the sweep shows
    with workspace.store.transaction() as conn:
        stored = SweepState(conn.execute("SELECT state FROM sweeps WHERE id=?", (sweep_id,)).fetchone()["state"])
        counts = _item_counts(conn.execute(
            "SELECT state, COUNT(*) AS n FROM queue_items WHERE sweep_id=? GROUP BY state", (sweep_id,)))
        # An ended sweep (shown finished or failed, never stored so) keeps its end: it is not rewritten.
        current = shown_state(stored, counts)
        if current not in allowed:
            raise SweepError(f"sweep {sweep_id} is {current}; it cannot be moved to {target}")
        conn.execute("UPDATE sweeps SET state=?, updated_at=? WHERE id=?", (target, time.time(), sweep_id))
    return get_sweep(workspace, sweep_id)
