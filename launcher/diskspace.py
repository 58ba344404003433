"""A full disk is a condition the launcher understands: a launch is refused at once when the workspace's
disk has too little room left for a run's folder and its first output, instead of failing half-made."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launcher.errors import DiskFullError

if TYPE_CHECKING:
    from launcher.workspace import Workspace

#: The least free space a launch needs in the workspace: its folder, its record, its first log lines.
MIN_FREE_BYTES = 1 << 20


def free_bytes(path: str | os.PathLike[str]) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def check_free_space(workspace: Workspace) -> None:
    if free_bytes(workspace.home) < MIN_FREE_BYTES:
        raise DiskFullError(f"no space left on device in {workspace.home}; free some space (e.g. 'launcher gc') "
                            "and launch again")
