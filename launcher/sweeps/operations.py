"""Sweeps in the workspace: create one (its trials queued as items, all in one transaction), read them,
and pause, resume or cancel them. Creating a sweep puts one queue item per trial on its queue with the
trial's values as overrides.run_config; agents launch them and each run carries the sweep id. Paused
sweeps' items are skipped by agents.

Reads (get_sweep, sweeps, sweep_trials) never write: a sweep's counts and its trials' states are the items
as shown (launcher.queue.rows: an item whose run has ended shows that end), and a running sweep whose
trials have all ended shows as finished or failed without being rewritten."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher.errors import ConfigError, LaunchError
from launcher.queue import cancel_item, insert_items, prepare_items
from launcher.queue.rows import SHOWN_ITEMS, SHOWN_ITEMS_PARAMS, WITHOUT_RUN, item_record, marks, shown_counts
from launcher.records import SweepRecord, TrialRecord
from launcher.schema import validate_config
from launcher.states import ItemState, RunState, SweepState
from launcher.sweeps.definition import SweepConfig, SweepError, load_sweep_file, parse_sweep, trial_name

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

RUNNING, PAUSED, CANCELLED, FINISHED = SweepState.RUNNING, SweepState.PAUSED, SweepState.CANCELLED, SweepState.FINISHED
#: Shown (never stored) for a sweep whose trials have all ended and none finished successfully.
FAILED = SweepState.FAILED


def create_sweep(workspace: Workspace, definition: Mapping[str, Any] | str | os.PathLike[str], *,
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
    prepared = prepare_items(workspace, settings, queue_name=config.queue, priority=config.priority)
    now = time.time()
    with workspace.store.transaction() as conn:
        conn.execute("INSERT INTO sweeps (id, name, state, queue, config, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (sweep_id, name, RUNNING, config.queue,
                                                      json.dumps(config.raw), now, now))
        insert_items(conn, prepared, sweep_id=sweep_id)
    return get_sweep(workspace, sweep_id)


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
    from launcher.jobs import sources
    from launcher.resolve import mlproject_entry
    from launcher.spec import normalize_entry_point

    entry_points = job.entry_points
    job_source = sources.get_source(job.kind)
    if job_source.takes_version and isinstance(version, str) and version.strip():
        # a version named at launch is resolved anew, and may declare other entry points
        entry_points = job_source.for_run(workspace, job, version).entry_points or {}
    requested = normalize_entry_point(entry_point)
    name = mlproject_entry(None if requested is None else list(requested), job, entry_points)
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
    return _describe(workspace, workspace.store.query("SELECT * FROM sweeps WHERE id=?", (sweep_id,))[0])


def sweeps(workspace: Workspace) -> list[SweepRecord]:
    """Every sweep, newest first (see get_sweep)."""
    return [_describe(workspace, row)
            for row in workspace.store.query("SELECT * FROM sweeps ORDER BY created_at DESC")]


def paused_sweep_ids(workspace: Workspace) -> set[str]:
    """The ids of the paused sweeps: agents skip their items."""
    return {r["id"] for r in workspace.store.query("SELECT id FROM sweeps WHERE state=?", (PAUSED,))}


def _describe(workspace: Workspace, row) -> SweepRecord:
    config = json.loads(row["config"])
    counts = shown_counts(workspace.store.query, "sweep_id=?", (row["id"],))
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
    the sweep has a metric (trials without a value last), else in launch order. Nothing of the items or
    the sweep is written; the metric values come through launcher.metrics, which indexes a run's log into
    its own tables first (a cache of the log, as for any reader of metrics)."""
    from launcher.metrics import latest_metrics

    sweep = get_sweep(workspace, sweep_id)
    # The items as shown, each with its run's state once it has a run (ended items too).
    rows = workspace.store.query(
        f"SELECT s.*, t.state AS trial_run_state FROM ({SHOWN_ITEMS}) s "
        f"LEFT JOIN runs t ON t.id = s.run_id AND s.state NOT IN ({marks(WITHOUT_RUN)}) "
        "WHERE s.sweep_id=? ORDER BY s.id", (*SHOWN_ITEMS_PARAMS, *WITHOUT_RUN, sweep.id))
    metric = sweep.metric
    run_ids = [r["run_id"] for r in rows if r["trial_run_state"] is not None]
    latest = latest_metrics(workspace, run_ids) if run_ids else {}
    trials = []
    for row in rows:
        item = item_record(row)
        has_run = row["trial_run_state"] is not None
        values = latest.get(row["run_id"], {}) if has_run else {}
        point = values.get(metric["name"]) if metric else None
        trials.append(TrialRecord(
            item_id=item.id, state=item.state, run_id=row["run_id"] if has_run else None,
            run_state=RunState(row["trial_run_state"]) if has_run else None, message=item.message,
            parameters=item.settings["config"]["overrides"]["run_config"],
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
    active = ItemState.active()
    for row in workspace.store.query(
            f"SELECT id FROM ({SHOWN_ITEMS}) WHERE sweep_id=? AND shown_state IN ({marks(active)})",
            (*SHOWN_ITEMS_PARAMS, sweep.id, *active)):
        try:
            cancel_item(workspace, row["id"])
        except LaunchError:
            continue  # removed meanwhile
    return get_sweep(workspace, sweep.id)


def _move(workspace: Workspace, sweep_id: str, target: SweepState, allowed: set[SweepState]) -> SweepRecord:
    sweep_id = find_sweep_id(workspace, sweep_id)
    with workspace.store.transaction() as conn:
        stored = SweepState(conn.execute("SELECT state FROM sweeps WHERE id=?", (sweep_id,)).fetchone()["state"])
        counts = shown_counts(conn.execute, "sweep_id=?", (sweep_id,))
        # An ended sweep (shown finished or failed, never stored so) keeps its end: it is not rewritten.
        current = shown_state(stored, counts)
        if current not in allowed:
            raise SweepError(f"sweep {sweep_id} is {current}; it cannot be moved to {target}")
        conn.execute("UPDATE sweeps SET state=?, updated_at=? WHERE id=?", (target, time.time(), sweep_id))
    return get_sweep(workspace, sweep_id)
