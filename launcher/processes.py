"""Facts about processes on this machine, shared by the supervisors, monitors and agents.

Standard library only and cheap to import: run supervisors load it on every launch."""

from __future__ import annotations

import fcntl
import os


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process, so a recorded pid is never confused with a reused one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process recorded as (pid, start time) still runs: not when the pid is gone or now
    belongs to another process."""
    return pid is not None and pid > 0 and start is not None and process_start_time(pid) == start


def try_lock(path: str | os.PathLike) -> int | None:
    """An exclusive flock on `path` (an open descriptor that holds it until closed or the process ends),
    or None when another process holds it. The kernel drops the lock with its holder, so a lock file
    tells whether a run still has a live owner without trusting pids."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
