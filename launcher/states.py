"""The state vocabularies: one StrEnum each for runs, queue items, sweeps and agents.

A run's state only moves forward (RunState.PREDECESSORS says from where); a terminal state never changes.
Members are strings, so they are stored and compared as the words users see."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    STARTING = "starting"
    #: The run's owner is setting it up: checkout, environment install, image build, upload.
    PREPARING = "preparing"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    #: The run failed before its program started (bad checkout, failed build, image not found).
    START_FAILED = "start_failed"

    def is_terminal(self) -> bool:
        return self in _RUN_TERMINAL

    def is_failure(self) -> bool:
        return self in (RunState.FAILED, RunState.START_FAILED)

    @classmethod
    def active(cls) -> tuple[RunState, ...]:
        return _RUN_ACTIVE

    @classmethod
    def terminal(cls) -> tuple[RunState, ...]:
        return _RUN_TERMINAL

    def predecessors(self) -> tuple[RunState, ...]:
        """The states a run may be in just before this one (none for the first)."""
        return _RUN_PREDECESSORS[self]


_RUN_ACTIVE = (RunState.STARTING, RunState.PREPARING, RunState.RUNNING)
_RUN_TERMINAL = (RunState.FINISHED, RunState.FAILED, RunState.STOPPED, RunState.START_FAILED)
_RUN_PREDECESSORS: dict[RunState, tuple[RunState, ...]] = {
    RunState.STARTING: (),
    RunState.PREPARING: (RunState.STARTING,),
    RunState.RUNNING: (RunState.STARTING, RunState.PREPARING),
    RunState.FINISHED: _RUN_ACTIVE,
    RunState.FAILED: _RUN_ACTIVE,
    RunState.STOPPED: _RUN_ACTIVE,
    RunState.START_FAILED: (RunState.STARTING, RunState.PREPARING),
}


class ItemState(StrEnum):
    """A queue item: queued -> claimed (an agent took it) -> running (it has a run) -> an end."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        return self in _ITEM_TERMINAL

    @classmethod
    def active(cls) -> tuple[ItemState, ...]:
        return (ItemState.QUEUED, ItemState.CLAIMED, ItemState.RUNNING)

    @classmethod
    def terminal(cls) -> tuple[ItemState, ...]:
        return _ITEM_TERMINAL


_ITEM_TERMINAL = (ItemState.FINISHED, ItemState.FAILED, ItemState.CANCELLED)


class SweepState(StrEnum):
    """A sweep as stored (running, paused, cancelled, finished) or shown (failed: every trial ended and
    none finished)."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"

    def is_terminal(self) -> bool:
        return self in (SweepState.CANCELLED, SweepState.FINISHED, SweepState.FAILED)


class AgentState(StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    #: Recorded as running, but its process is gone.
    GONE = "gone"

    def is_terminal(self) -> bool:
        return self in (AgentState.STOPPED, AgentState.GONE)
