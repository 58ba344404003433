"""The public façade: `Api` over one workspace, with a sub-façade per area (`api.jobs`, `api.runs`,
`api.queues`, `api.sweeps`, `api.settings`) and W&B-style calls (`create_job`, `job`, `run`, `runs()`).

Every method is a thin call into the engine module that does the work; engine modules take the
`Workspace` (launcher/workspace.py), never this class, so nothing below imports it."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.errors import LaunchError
from launcher.reconcile import reconcile
from launcher.run import Run, find_run
from launcher.storecheck import check_if_due
from launcher.workspace import Workspace, default_home

if TYPE_CHECKING:
    from launcher.agent import Agent
    from launcher.cleanup import CleanupReport
    from launcher.compare import Comparison, Goal
    from launcher.metrics import MetricPoint, MetricProblem, MetricSummary
    from launcher.options import Option
    from launcher.queue import QueuedItem
    from launcher.records import (
        AgentRecord,
        ItemRecord,
        JobVersion,
        QueueRecord,
        RunRecord,
        SweepRecord,
        TrialRecord,
    )
    from launcher.resources import ResourceStatus
    from launcher.runtable import RunRow
    from launcher.spec import LaunchRequest

__all__ = ["Api", "default_home"]


class Jobs:
    """Jobs: named entity/project/name, with versions v0, v1, ... and aliases."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def create(self, kind: str, source: str, *, entity: str | None = None, project: str | None = None,
               name: str | None = None, entry_point: Any = None, ref: str | None = None) -> JobVersion:
        """A job (or a new version of it when its source changed) from a code directory, a git repository
        or a docker image."""
        from launcher.jobs.create import create_job

        return create_job(self._workspace, kind, source, entity=entity, project=project, name=name,
                          entry_point=entry_point, ref=ref)

    def get(self, ref: str) -> JobVersion:
        return self._workspace.jobs.resolve(ref)

    def list(self) -> builtins.list[JobVersion]:
        """The latest version of every job."""
        return self._workspace.jobs.list()

    def versions(self, ref: str) -> builtins.list[JobVersion]:
        return self._workspace.jobs.versions(ref)

    def alias(self, ref: str, alias: str) -> JobVersion:
        return self._workspace.jobs.add_alias(ref, alias)

    def unalias(self, ref: str, alias: str) -> JobVersion:
        return self._workspace.jobs.remove_alias(ref, alias)

    def refresh(self, ref: str) -> tuple[JobVersion, str | None]:
        """A new version of a job whose source changed since its latest version (a code job's folder
        edited), and a line saying what happened; the latest version and None when nothing changed."""
        from launcher.jobs import sources

        job = self._workspace.jobs.resolve(ref)
        refreshed = sources.get_source(job.kind).refresh(self._workspace, job, strict=True)
        return refreshed.version or job, refreshed.note

    def kinds(self) -> builtins.list[str]:
        """The kinds of source a job can have (code, git, image, ...)."""
        from launcher.jobs.sources import source_kinds

        return source_kinds()

    def source_summary(self, job: JobVersion) -> str:
        """One line on where a job version's source comes from (a folder and snapshot, a repository at a
        commit, an image)."""
        from launcher.jobs.sources import get_source

        return get_source(job.kind).describe(job.source)


class Runs:
    """Runs. Calling it lists run records (W&B's `api.runs()`), newest first."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def __call__(self, *, limit: int | None = None, active_only: bool = False, updated_since: float | None = None,
                 include_archived: bool = False) -> builtins.list[RunRecord]:
        return self.list(limit=limit, active_only=active_only, updated_since=updated_since,
                         include_archived=include_archived)

    def list(self, *, limit: int | None = None, active_only: bool = False, updated_since: float | None = None,
             include_archived: bool = False) -> builtins.list[RunRecord]:
        """Run records, newest first; archived runs only when asked."""
        return self._workspace.store.list_runs(limit=limit, active_only=active_only, updated_since=updated_since,
                                               include_archived=include_archived)

    def delete(self, run_ids: Iterable[str], *, dry_run: bool = False) -> CleanupReport:
        """Delete ended runs with everything kept for them (an active run is refused, never deleted)."""
        from launcher.cleanup import delete_runs

        return delete_runs(self._workspace, run_ids, dry_run=dry_run)

    def archive(self, run_ids: Iterable[str], *, archived: bool = True) -> CleanupReport:
        """Hide ended runs from listings (archived=False shows them again)."""
        from launcher.cleanup import archive_runs

        return archive_runs(self._workspace, run_ids, archived=archived)

    def collect_garbage(self, *, older_than: float, keep_failed: bool = False,
                        dry_run: bool = False) -> CleanupReport:
        from launcher.cleanup import collect_garbage

        return collect_garbage(self._workspace, older_than=older_than, keep_failed=keep_failed, dry_run=dry_run)

    def disk_usage(self, run_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Bytes each run's folder takes."""
        from launcher.cleanup import disk_usage

        return disk_usage(self._workspace, run_ids)

    def tag(self, run_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> RunRecord:
        from launcher.cleanup import tag_run

        return tag_run(self._workspace, run_id, add, remove)

    def note(self, run_id: str, note: str | None) -> RunRecord:
        from launcher.cleanup import note_run

        return note_run(self._workspace, run_id, note)

    def get(self, run_id: str) -> Run:
        return Run(self._workspace, run_id)

    def find(self, prefix: str) -> Run:
        """A run by its id or an unambiguous prefix of it."""
        return find_run(self._workspace, prefix)

    def submit(self, request: LaunchRequest) -> Run:
        """Launch without waiting and without tying the run to this process (the CLI's and the TUI's way:
        runs outlive them)."""
        from launcher.launching import submit

        return submit(self._workspace, request)

    def image(self, record: RunRecord) -> str | None:
        """The image the run runs in: the one it was given, else the one its owner built or found (its
        runner reads it from its typed handle); None when it has none (yet)."""
        from launcher.runners import get_runner

        given = record.spec.get("docker_image")
        if given:
            return given
        try:
            return get_runner(record.resource).image_of(record)
        except (LaunchError, ImportError):
            return None

    def metrics(self, run_id: str) -> dict[str, builtins.list[MetricPoint]]:
        """The run's metrics: {name: [MetricPoint(step, value, time), ...]}, indexed from its log first."""
        from launcher.metrics import run_metrics

        return run_metrics(self._workspace, run_id)

    def latest_metrics(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricPoint]]:
        """{run_id: {name: MetricPoint}} with each metric's last value; cheap enough for a run table."""
        from launcher.metrics import latest_metrics

        return latest_metrics(self._workspace, run_ids)

    def new_metric_points(self, run_id: str, after: int = 0) -> tuple[builtins.list[tuple[str, MetricPoint]], int]:
        """Points reported since `after` (a position this returned before; 0 for all), in order, and the
        position to ask from next time (for following a run's metrics as they come)."""
        from launcher.metrics import points_since

        return points_since(self._workspace, run_id, after)

    def metric_problems(self, run_id: str) -> builtins.list[MetricProblem]:
        """Why some of the run's metrics could not be read (a damaged file, a tracking store that cannot be
        reached), one entry per problem with its source (wandb, mlflow, tensorboard)."""
        from launcher.metrics import index_run, problems

        index_run(self._workspace, run_id)
        return problems(self._workspace, run_id)

    def metric_summaries(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricSummary]]:
        """{run_id: {name: MetricSummary(last, low, high, count)}}: each metric's final and extreme values."""
        from launcher.metrics import summaries

        return summaries(self._workspace, run_ids)

    def table_rows(self, records: Iterable[RunRecord], *, refresh: bool = True) -> builtins.list[RunRow]:
        """Rows for a run table: each run with its flattened config and latest metric values (sort and
        filter them with launcher.runtable and launcher.runfilter)."""
        from launcher.runtable import load_rows

        return load_rows(self._workspace, list(records), refresh=refresh)

    def compare(self, run_ids: Iterable[str], goals: Mapping[str, Goal] | None = None) -> Comparison:
        """Runs side by side: configs (differing keys first) and each metric's final and best values."""
        from launcher.compare import compare_runs

        return compare_runs(self._workspace, run_ids, goals)


class Queues:
    """Queues, their items and the agents that take them. Calling it lists the queues."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def __call__(self) -> builtins.list[QueueRecord]:
        from launcher.queue import queues

        return queues(self._workspace)

    def names(self) -> builtins.list[str]:
        from launcher.queue import queue_names

        return queue_names(self._workspace)

    def create(self, name: str) -> str:
        from launcher.queue import create_queue

        return create_queue(self._workspace, name)

    def delete(self, name: str) -> None:
        from launcher.queue import delete_queue

        delete_queue(self._workspace, name)

    def add(self, settings: Mapping[str, Any], *, queue_name: str | None = None,
            priority: str | None = None) -> QueuedItem:
        from launcher.queue import DEFAULT_QUEUE, add_item

        return add_item(self._workspace, settings, queue_name=queue_name or DEFAULT_QUEUE, priority=priority)

    def items(self, queue_name: str | None = None, *, states: Iterable[str] | None = None,
              sweep_id: str | None = None, limit: int | None = None) -> builtins.list[ItemRecord]:
        """Queue items, active ones first in the order agents take them."""
        from launcher.queue import list_items

        return list_items(self._workspace, queue_name=queue_name, item_states=states, sweep_id=sweep_id,
                          limit=limit)

    def item(self, item_id: int | str) -> QueuedItem:
        from launcher.queue import get_item

        return get_item(self._workspace, item_id)

    def cancel_item(self, item_id: int) -> str:
        from launcher.queue import cancel_item

        return cancel_item(self._workspace, item_id)

    def remove_item(self, item_id: int) -> None:
        from launcher.queue import remove_item

        remove_item(self._workspace, item_id)

    def agents(self) -> builtins.list[AgentRecord]:
        from launcher.agent import list_agents

        return list_agents(self._workspace)

    def agent(self, queues: Iterable[str], max_jobs: int = 1, **options: Any) -> Agent:
        """An agent over this workspace (start it with .start() in a thread, or .run() here)."""
        from launcher.agent import Agent

        return Agent(self._workspace, list(queues), max_jobs, **options)


class Sweeps:
    """Sweeps: a job tried with many configs through a queue. Calling it lists the sweeps."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def __call__(self) -> builtins.list[SweepRecord]:
        from launcher.sweeps import sweeps

        return sweeps(self._workspace)

    def create(self, definition: Mapping[str, Any] | str | os.PathLike[str], *,
               seed: int | None = None) -> SweepRecord:
        from launcher.sweeps import create_sweep

        return create_sweep(self._workspace, definition, seed=seed)

    def get(self, sweep_id: str) -> SweepRecord:
        from launcher.sweeps import get_sweep

        return get_sweep(self._workspace, sweep_id)

    def paused_ids(self) -> set[str]:
        """The ids of paused sweeps (agents skip their items)."""
        from launcher.sweeps import paused_sweep_ids

        return paused_sweep_ids(self._workspace)

    def trials(self, sweep_id: str) -> builtins.list[TrialRecord]:
        from launcher.sweeps import sweep_trials

        return sweep_trials(self._workspace, sweep_id)

    def pause(self, sweep_id: str) -> SweepRecord:
        from launcher.sweeps import pause_sweep

        return pause_sweep(self._workspace, sweep_id)

    def resume(self, sweep_id: str) -> SweepRecord:
        from launcher.sweeps import resume_sweep

        return resume_sweep(self._workspace, sweep_id)

    def cancel(self, sweep_id: str) -> SweepRecord:
        from launcher.sweeps import cancel_sweep

        return cancel_sweep(self._workspace, sweep_id)


class Settings:
    """The workspace's settings, each declared with what it does (launcher/settings.py)."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def get(self, key: str, default: Any = None) -> Any:
        return self._workspace.setting(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store a known setting (None clears it) after the check a launch makes on that value."""
        from launcher.settings import set_setting

        set_setting(self._workspace, key, value)

    def declared(self) -> dict[str, Option]:
        from launcher.settings import declared

        return declared()


class Api:
    """A workspace (default: $LAUNCHER_HOME or the user data directory). Safe to open from several
    processes at once (CLI, TUI, agents, run owners). Opening it settles runs whose owner is gone
    (reattach=False skips that)."""

    def __init__(self, home: str | os.PathLike[str] | None = None, *, reattach: bool = True) -> None:
        self.workspace = Workspace(home)
        try:
            check_if_due(self.workspace.store)
        except BaseException:
            self.workspace.close()
            raise
        self.jobs = Jobs(self.workspace)
        self.runs = Runs(self.workspace)
        self.queues = Queues(self.workspace)
        self.sweeps = Sweeps(self.workspace)
        self.settings = Settings(self.workspace)
        if reattach:
            self.reconcile()

    @property
    def home(self) -> Path:
        return self.workspace.home

    @property
    def default_entity(self) -> str:
        return self.workspace.default_entity

    @property
    def default_project(self) -> str:
        return self.workspace.default_project

    def close(self) -> None:
        self.workspace.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- W&B-style calls ------------------------------------------------------------------------------
    def create_job(self, kind: str, source: str, *, entity: str | None = None, project: str | None = None,
                   name: str | None = None, entry_point: Any = None, ref: str | None = None) -> JobVersion:
        return self.jobs.create(kind, source, entity=entity, project=project, name=name, entry_point=entry_point,
                                ref=ref)

    def job(self, ref: str) -> JobVersion:
        return self.jobs.get(ref)

    def list_jobs(self) -> builtins.list[JobVersion]:
        return self.jobs.list()

    def alias_job(self, ref: str, alias: str) -> JobVersion:
        return self.jobs.alias(ref, alias)

    def run(self, run_id: str) -> Run:
        return self.runs.get(run_id)

    def find_run(self, prefix: str) -> Run:
        return self.runs.find(prefix)

    def resources(self) -> builtins.list[ResourceStatus]:
        """Every resource with whether it can be used here and, if not, why."""
        from launcher.resources import resource_statuses

        return resource_statuses(self.workspace)

    def resource_options(self, name: str) -> tuple[Option, ...]:
        """resource_args[name], declared: what a launch form shows for that resource."""
        from launcher.runners import get_runner

        return get_runner(name).options

    def reconcile(self, run_ids: list[str] | None = None) -> None:
        """Settle active runs (or those named) whose owner is gone; with no run named, also bring queue
        items in line (gone agents' items handed back, ended runs' items ended): reads never write them."""
        reconcile(self.workspace, run_ids)
        if run_ids is None:
            from launcher.queue import reconcile_items

            reconcile_items(self.workspace)

    def get_setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def set_setting(self, key: str, value: Any) -> None:
        self.settings.set(key, value)

    def queue_items(self, queue_name: str | None = None, *, states: list[str] | None = None,
                    sweep_id: str | None = None, limit: int | None = None) -> builtins.list[ItemRecord]:
        return self.queues.items(queue_name, states=states, sweep_id=sweep_id, limit=limit)

    def metrics(self, run_id: str) -> dict[str, list[MetricPoint]]:
        return self.runs.metrics(run_id)

    def latest_metrics(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricPoint]]:
        return self.runs.latest_metrics(run_ids)
