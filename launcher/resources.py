"""Which resources can be used here, and why not when they cannot."""

from __future__ import annotations

from dataclasses import dataclass

from launcher.errors import LaunchError
from launcher.workspace import Workspace


@dataclass(frozen=True)
class ResourceStatus:
    name: str
    available: bool
    #: Why it cannot be used (not installed, nothing answers at its address), when it cannot.
    reason: str | None
    #: What to know about it although it can be used (e.g. runs get no cgroup here).
    notes: str | None = None


def resource_statuses(workspace: Workspace) -> list[ResourceStatus]:
    from launcher import runners

    result = []
    for name in runners.resource_names():
        notes = None
        try:
            runner = runners.get_runner(name)
            reason = runner.unavailable_reason() or runner.unreachable_reason(workspace)
            notes = runner.notes()
        except LaunchError as error:
            reason = str(error)
        except ImportError as error:
            reason = f"not installed: {error}"
        result.append(ResourceStatus(name, reason is None, reason, notes))
    return result
