"""A full disk is a condition the launcher understands.

- A launch is refused at once when the workspace's disk has too little room left for a run's folder and
  its first output, instead of failing half-made.
- Each workspace keeps a small reserve file. A run's owner that hits "no space left" stops its program
  (its output could not be kept) and frees the reserve, so that the run's ending can still be written
  to its folder and the store: a dead run is never left looking alive on a full disk."""

from __future__ import annotations

import errno
import os

from launcher.errors import DiskFullError

#: The least free space a launch needs in the workspace: its folder, its record, its first log lines.
MIN_FREE_BYTES = 2 << 20
RESERVE_FILE = ".reserve"
RESERVE_BYTES = 1 << 20


def free_bytes(path: str | os.PathLike[str]) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def full_message(home: str | os.PathLike[str]) -> str:
    return f"no space left on device in {os.fspath(home)}"


def check_free_space(home: str | os.PathLike[str]) -> None:
    if free_bytes(home) < MIN_FREE_BYTES:
        raise DiskFullError(f"{full_message(home)}; free some space (e.g. 'launcher gc') and launch again")


def ensure_reserve(home: str | os.PathLike[str]) -> None:
    """Keep the reserve file in place (cheap when it is: one stat)."""
    path = os.path.join(home, RESERVE_FILE)
    if os.path.exists(path):
        return
    try:
        if free_bytes(home) < MIN_FREE_BYTES + RESERVE_BYTES:
            return  # do not take the last of a nearly full disk
        with open(path + ".tmp", "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def release_reserve(home: str | os.PathLike[str]) -> bool:
    """Free the reserve for what must be written now (a run's ending); whether there was one."""
    try:
        os.unlink(os.path.join(home, RESERVE_FILE))
        return True
    except OSError:
        return False


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, DiskFullError) or (isinstance(error, OSError) and error.errno == errno.ENOSPC)
