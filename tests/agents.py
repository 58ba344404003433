"""Agents started in the test process, stopped (their runs too) when the test ends: for fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from launcher import Api
from launcher.agent import Agent


def agents_for(api: Api) -> Iterator[Callable[..., Agent]]:
    """Yields start(queues, max_jobs, **options) -> a started Agent on `api`; at the end every agent
    started is stopped with its runs, and must stop within a minute."""
    agents: list[Agent] = []

    def start(queues=("default",), max_jobs: int = 1, **options) -> Agent:
        agent = Agent(api.workspace, list(queues), max_jobs, poll_seconds=options.pop("poll_seconds", 0.1), **options)
        agent.start()
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop("stop")
    for agent in agents:
        assert agent.join(60), f"agent {agent.id} did not stop"
