"""The source a run's owner checks out during set-up: a git commit, say (possibly slow, so it is done by
the owner and shown as `preparing`, never by the process launching the run). The plan names the kind of
source whose JobSource.checkout() makes the tree (launcher/jobs/sources/)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs every owner milliseconds to import
if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext

#: Written by launcher.launching.submit when the owner must make the source tree.
OWNER_SOURCE_FILE = "source.json"


def pending(folder) -> bool:
    """Whether the owner must make the source tree (cheap: every owner asks before it starts anything)."""
    return os.path.exists(folder.file(OWNER_SOURCE_FILE))


def prepare_source(context: SetupContext) -> None:
    """Write the run's source tree into its folder's `src/`, through the JobSource its plan names."""
    import json

    from launcher.errors import LaunchError
    from launcher.jobs.sources import get_source
    from launcher.runners.ownership import StartFailed

    folder = context.folder
    with open(folder.file(OWNER_SOURCE_FILE)) as f:
        plan = json.load(f)
    where = "the job's source"
    try:
        source = get_source(str(plan.get("kind")))
        where = source.describe(plan)
        context.step(f"checking out {where}")
        source.checkout(_path(folder.workspace_home), plan, _path(folder.source))
    except LaunchError as error:
        raise StartFailed(str(error)) from None
    except Exception as error:  # noqa: BLE001 - GitPython's own errors: the run never started
        raise StartFailed(f"checking out {where} failed: {error}") from None
    context.raise_if_cancelled()


def _path(text: str):
    from pathlib import Path

    return Path(text)
