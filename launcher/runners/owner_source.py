"""The source a run's owner checks out during set-up: a git commit (possibly slow, so it is done by the
owner and shown as `preparing`, never by the process launching the run)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs every owner milliseconds to import
if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext

#: Written by launcher.launch.submit when the owner must make the source tree.
OWNER_SOURCE_FILE = "source.json"


def pending(folder) -> bool:
    """Whether the owner must make the source tree (cheap: every owner asks before it starts anything)."""
    return os.path.exists(folder.file(OWNER_SOURCE_FILE))


def prepare_source(context: SetupContext) -> None:
    """Write the run's source tree into its folder's `src/`."""
    import json

    from launcher.errors import LaunchError
    from launcher.jobs.git_source import GitCache
    from launcher.runners.ownership import StartFailed

    folder = context.folder
    with open(folder.file(OWNER_SOURCE_FILE)) as f:
        plan = json.load(f)
    if plan.get("kind") != "git":
        raise StartFailed(f"unknown source kind {plan.get('kind')!r} in {OWNER_SOURCE_FILE}")
    context.step(f"checking out {plan['url']} at {plan['commit'][:12]}")
    cache = GitCache(_path(os.path.join(folder.workspace_home, "git-cache")))
    try:
        cache.checkout(plan["url"], plan["commit"], _path(folder.source))
    except LaunchError as error:
        raise StartFailed(str(error)) from None
    except Exception as error:  # noqa: BLE001 - GitPython's own errors: the run never started
        raise StartFailed(f"checking out {plan['url']} at {plan['commit'][:12]} failed: {error}") from None
    context.raise_if_cancelled()


def _path(text: str):
    from pathlib import Path

    return Path(text)
