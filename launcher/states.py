"""Run states and the only moves between them. A state moves forward only; a terminal state never changes."""

from __future__ import annotations

STARTING = "starting"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"
#: The run failed before its program started (bad checkout, failed build, image not found).
START_FAILED = "start_failed"

ACTIVE = (STARTING, RUNNING)
TERMINAL = (FINISHED, FAILED, STOPPED, START_FAILED)
ALL = ACTIVE + TERMINAL

#: For each state, the states a run may be in just before it.
PREDECESSORS: dict[str, tuple[str, ...]] = {
    STARTING: (),
    RUNNING: (STARTING,),
    FINISHED: (STARTING, RUNNING),
    FAILED: (STARTING, RUNNING),
    STOPPED: (STARTING, RUNNING),
    START_FAILED: (STARTING,),
}


def is_terminal(state: str) -> bool:
    return state in TERMINAL
