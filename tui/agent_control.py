"""The agent running inside the app, with no UI in it: starting it, stopping it in two steps (first it stops
taking items and waits for its runs, then, asked again, it stops them), and what to say about it. The
screens only render what this reports; the app wires its events to the UI thread."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from launcher.states import AgentState

if TYPE_CHECKING:
    from launcher.agent import Agent
    from launcher.api import Api

#: Events kept for the queues screen's panel.
KEPT_EVENTS = 500


class StopMode(StrEnum):
    """How the agent is asked to stop (launcher.agent.Agent.stop's on_stop)."""

    #: Stop taking items and wait for its runs to end.
    WAIT = "wait"
    #: Stop taking items and stop its runs.
    STOP = "stop"
    #: Stop taking items and return at once; its runs go on.
    LEAVE = "leave"


class Severity(StrEnum):
    """How a notice is shown (Textual's notification severities)."""

    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Notice:
    """Something to tell the user."""

    text: str
    severity: Severity = Severity.INFORMATION


class NextStep(StrEnum):
    """What the user can ask of the in-app agent now (the command palette offers it)."""

    START = "start"
    #: Stop taking items (and wait for its runs).
    STOP = "stop"
    #: It is waiting for its runs: stop them.
    STOP_RUNS = "stop_runs"
    #: It is stopping its runs: nothing to ask until it has.
    NONE = "none"


@dataclass(frozen=True)
class AgentStatus:
    """What the queues screen shows about the in-app agent."""

    id: str
    state: AgentState
    queues: tuple[str, ...]
    max_jobs: int
    active: int
    launched: int
    failed_launches: int
    adopted: int
    #: Set once it was asked to stop and has not stopped yet: what it is doing and what the user can do.
    stopping: str | None
    error: str | None


class AgentControl:
    """Used from the UI thread, except `start` (it reads the workspace: call it from a worker) and the
    event callback, which the agent calls from its own thread."""

    def __init__(self, api: Api, on_event: Callable[[str], None] | None = None) -> None:
        self.api = api
        #: Called in the agent's thread with each event's text (time first); must never block.
        self.on_event = on_event
        self.agent: Agent | None = None
        #: How the agent was asked to stop, None until it was.
        self.stop_asked: StopMode | None = None
        #: The latest events, oldest first (appended on the UI thread, see remember()).
        self.events: deque[str] = deque(maxlen=KEPT_EVENTS)

    # -- state ----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether an agent runs (also while it stops: until its thread has ended)."""
        agent = self.agent
        return agent is not None and (agent.state is not AgentState.STOPPED or not agent.join(0))

    @property
    def taking_items(self) -> bool:
        """Whether it takes items now: running and not asked to stop."""
        agent = self.agent
        return agent is not None and self.stop_asked is None and agent.state is AgentState.RUNNING

    def next_step(self) -> NextStep:
        if not self.running:
            return NextStep.START
        if self.stop_asked is None:
            return NextStep.STOP
        if self.stop_asked is not StopMode.STOP:
            return NextStep.STOP_RUNS
        return NextStep.NONE

    def active_runs(self) -> list[str]:
        return self.agent.active_runs() if self.agent is not None else []

    def runs_text(self) -> str:
        return f"{len(self.active_runs())} run(s)"

    def stopping_text(self) -> str:
        """What a stopping agent is doing, and what the user can do about it."""
        if self.stop_asked is StopMode.STOP:
            return f"stopping its {self.runs_text()}"
        return f"waiting for {self.runs_text()} (s again stops them)"

    def served(self, served: Iterable[str]) -> set[str]:
        """`served` (queues some recorded agent takes items from) plus this agent's queues: it takes items
        as soon as it runs, a moment before the workspace records it."""
        result = set(served)
        if self.taking_items and self.agent is not None:
            result.update(self.agent.queues)
        return result

    def status(self) -> AgentStatus | None:
        agent = self.agent
        if agent is None:
            return None
        facts = agent.status()
        state = AgentState(facts["state"])
        stopping = self.stopping_text() if state is not AgentState.STOPPED and self.stop_asked is not None else None
        return AgentStatus(id=agent.id, state=state, queues=tuple(agent.queues), max_jobs=agent.max_jobs,
                           active=facts["active"], launched=facts["launched"],
                           failed_launches=facts["failed_launches"], adopted=facts["adopted"], stopping=stopping,
                           error=None if agent.error is None else str(agent.error))

    # -- starting -------------------------------------------------------------------------------------
    def start_refusal(self) -> Notice | None:
        """Why an agent cannot be started now, or None when it can."""
        if not self.running or self.agent is None:
            return None
        if self.stop_asked is not None:
            return Notice(f"agent {self.agent.id} is still stopping: {self.stopping_text()}", Severity.WARNING)
        return Notice(f"agent {self.agent.id} is already running in this app; stop it first (s)", Severity.WARNING)

    def start(self, queues: list[str], max_jobs: int) -> Agent:
        """Start an agent in a thread of this process; raises LaunchError for bad settings. Blocking."""
        agent = self.api.queues.agent(queues, max_jobs, on_stop=StopMode.WAIT, on_event=self._said)
        self.agent = agent
        self.stop_asked = None
        agent.start()
        return agent

    def _said(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(f"{time.strftime('%H:%M:%S')}  {text}")

    def remember(self, text: str) -> None:
        self.events.append(text)

    # -- stopping -------------------------------------------------------------------------------------
    def stop(self, mode: StopMode) -> None:
        if self.agent is not None:
            self.agent.stop(mode)
            self.stop_asked = mode

    def stop_step(self, mode: StopMode | None = None) -> Notice:
        """The stop key: the first time, it stops taking items and waits for its runs (or `mode`); the
        second time, its runs are stopped. Returns what to tell the user."""
        agent = self.agent
        if not self.running or agent is None:
            return Notice("no agent is running in this app", Severity.WARNING)
        if self.stop_asked is StopMode.STOP:
            return Notice(f"agent {agent.id} is already stopping its {self.runs_text()}", Severity.WARNING)
        first = self.stop_asked is None
        self.stop(mode or (StopMode.WAIT if first else StopMode.STOP))
        if self.stop_asked is StopMode.STOP:
            return Notice(f"agent {agent.id}: stopping its {self.runs_text()}")
        if agent.active_runs():
            return Notice(f"agent {agent.id} stops taking items; it waits for its {self.runs_text()} "
                          "(s again stops them)")
        return Notice(f"agent {agent.id} stops taking items")

    def join(self, timeout: float | None) -> bool:
        return self.agent.join(timeout) if self.agent is not None else True
