"""Typed records of what the workspace stores: runs, queue items, sweeps, agents and job versions.

Records are immutable snapshots read from the store; changing one means asking the store (or an engine
module) to move it. Runner-specific facts about a run (container id, cluster address, ...) are kept as
the run's `handle`, which each runner reads into a typed handle of its own (see launcher/runners)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from launcher.states import AgentState, ItemState, RunState, SweepState


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    name: str
    project: str
    entity: str
    #: The job reference with its concrete version, "image:<name>" for an image launch, or "-".
    job: str
    resource: str
    state: RunState
    message: str | None
    exit_code: int | None
    #: The LaunchSpec as stored (see `launch_spec`).
    spec: Mapping[str, Any]
    #: Runner-specific facts; read through the runner's typed handle, never directly.
    handle: Mapping[str, Any]
    created_at: float
    started_at: float | None
    ended_at: float | None
    updated_at: float
    sweep_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    archived: bool = False

    @property
    def done(self) -> bool:
        return self.state.is_terminal()

    @property
    def active(self) -> bool:
        return not self.state.is_terminal()

    def launch_spec(self):  # -> LaunchSpec (imported here: spec pulls in json and re)
        from launcher.spec import LaunchSpec

        return LaunchSpec.from_dict(self.spec)

    @property
    def run_config(self) -> Mapping[str, Any]:
        return self.spec.get("run_config") or {}

    @property
    def resource_args(self) -> Mapping[str, Any]:
        return self.spec.get("resource_args") or {}

    def public(self) -> dict[str, Any]:
        """The record as JSON data for people and scripts (`launcher runs --json`): no runner handle."""
        return {"id": self.id, "name": self.name, "project": self.project, "entity": self.entity,
                "job": self.job, "resource": self.resource, "state": str(self.state), "message": self.message,
                "exit_code": self.exit_code, "spec": dict(self.spec), "created_at": self.created_at,
                "started_at": self.started_at, "ended_at": self.ended_at, "updated_at": self.updated_at,
                "sweep_id": self.sweep_id, "tags": list(self.tags), "note": self.note, "archived": self.archived}

    @property
    def duration(self) -> float | None:
        """Seconds from the program's start to its end (or to `updated_at` while it runs)."""
        if self.started_at is None:
            return None
        return (self.ended_at or self.updated_at) - self.started_at


@dataclass(frozen=True, slots=True)
class RunEvent:
    state: RunState
    at: float
    message: str | None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    id: int
    queue: str
    priority: str
    state: ItemState
    settings: Mapping[str, Any]
    #: The item's run, once it has one (None while queued or claimed).
    run_id: str | None
    sweep_id: str | None
    message: str | None
    agent_id: str | None
    created_at: float
    claimed_at: float | None
    launched_at: float | None
    ended_at: float | None
    #: The id its run gets or got (fixed when the item is claimed, or given by the caller).
    reserved_run_id: str | None = None

    @property
    def done(self) -> bool:
        return self.state.is_terminal()

    def describe(self) -> str:
        """A short label for tables: the job, or the entry point."""
        settings = self.settings
        config = settings.get("config") or {}
        label = settings.get("job") or config.get("job") or settings.get("docker_image")
        if not label:
            entry = settings.get("entry_point") or (config.get("overrides") or {}).get("entry_point")
            label = " ".join(entry) if isinstance(entry, list) else str(entry or "-")
        return str(label)


@dataclass(frozen=True, slots=True)
class SweepRecord:
    id: str
    name: str
    #: As shown: a running sweep whose trials have all ended reads finished (or failed).
    state: SweepState
    queue: str
    method: str
    metric: Mapping[str, Any] | None
    config: Mapping[str, Any]
    #: Item counts by state.
    counts: Mapping[ItemState, int]
    created_at: float

    @property
    def trials(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial of a sweep: its item, its run (once launched), its parameters and metric values."""

    item_id: int
    state: ItemState
    run_id: str | None
    run_state: RunState | None
    message: str | None
    parameters: Mapping[str, Any]
    #: The sweep metric's latest value, when the sweep has a metric and the run reported it.
    metric: float | None
    metrics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class QueueRecord:
    name: str
    created_at: float
    counts: Mapping[ItemState, int]


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    pid: int
    queues: tuple[str, ...]
    max_jobs: int
    state: AgentState
    started_at: float
    updated_at: float
    #: Items it holds (claimed or running).
    active: int = 0


@dataclass(frozen=True)
class JobVersion:
    entity: str
    project: str
    name: str
    version: int
    kind: str
    data: dict[str, Any]
    created_at: float
    aliases: tuple[str, ...] = field(default=())

    @property
    def base(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.base}:v{self.version}"

    @property
    def entry_point(self) -> list[str] | None:
        return self.data.get("entry_point")

    @property
    def entry_points(self) -> dict[str, dict[str, Any]]:
        return self.data.get("entry_points") or {}

    @property
    def schema(self) -> dict[str, Any] | None:
        """The config schema of the default entry point, when one is known."""
        return self.data.get("schema")

    @property
    def source(self) -> dict[str, Any]:
        return self.data.get("source") or {}

    @property
    def notes(self) -> tuple[str, ...]:
        """What the source policy skipped when the version was made (special files), one line each."""
        return tuple(self.data.get("notes") or ())

    def describe(self) -> dict[str, Any]:
        return {"ref": self.ref, "kind": self.kind, "aliases": list(self.aliases),
                "created_at": self.created_at, **self.data}


def public(record: Any) -> dict[str, Any]:
    """A record as JSON data (states are strings already: StrEnum)."""
    if isinstance(record, RunRecord):
        return record.public()
    data = asdict(record)
    if isinstance(record, SweepRecord):
        data["trials"] = record.trials
    return data
