"""A cgroup (v2) per local-process run, when this machine lets the launcher make one: every process the
program starts stays in it, whatever it does (a new session, an empty environment, a double fork), so
cancel and the end of a run reach all of them with one write to `cgroup.kill`.

The launching process finds where it may make cgroups (`base()`: its own cgroup in the cgroup2 hierarchy,
when writable) and hands that to the run's owner, which makes the run's cgroup and starts the program in
it. Where there is none (no cgroup2, no permission), `unavailable_reason()` says why, and the owner falls
back to being a subreaper, its process group and the run-folder tag in the environment.

Standard library only, and cheap: the owner uses it on every launch."""

from __future__ import annotations

import os

#: The launching process hands the owner its cgroup base in this variable (empty: no cgroups).
BASE_ENV = "LAUNCHER_CGROUP_BASE"
_cached: tuple[str | None, str | None] | None = None


def _find() -> tuple[str | None, str | None]:
    """(the folder under which run cgroups are made, None) or (None, why not)."""
    mount = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split(" - ")
                if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
                    mount = fields[0].split()[4]
                    break
    except OSError:
        return None, "this machine has no /proc/self/mountinfo"
    if mount is None:
        return None, "no cgroup2 file system is mounted"
    own = None
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    own = line[3:].strip()
    except OSError:
        pass
    if own is None:
        return None, "this process is in no cgroup2 group"
    base = os.path.normpath(mount + own)
    if not (os.access(base, os.W_OK) and os.access(os.path.join(base, "cgroup.procs"), os.W_OK)):
        return None, f"cgroup {base} is not writable by this user"
    return base, None


def base() -> str | None:
    global _cached
    if _cached is None:
        _cached = _find()
    return _cached[0]


def unavailable_reason() -> str | None:
    base()
    assert _cached is not None
    return _cached[1]


def run_group_name(run_dir: str) -> str:
    import hashlib

    return "launcher-run-" + hashlib.sha256(run_dir.encode()).hexdigest()[:16]


def create(parent: str, name: str) -> str | None:
    path = os.path.join(parent, name)
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except OSError:
        return None
    return path


def move(pid: int, group: str) -> bool:
    try:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return True
    except OSError:
        return False


def members(group: str) -> list[int]:
    try:
        with open(os.path.join(group, "cgroup.procs")) as f:
            return [int(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def signal_members(group: str, signum: int) -> None:
    for pid in members(group):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill(group: str) -> None:
    """SIGKILL every process in the group, atomically (no fork can escape it): cgroup.kill, or on kernels
    before 5.14 the group frozen, its members killed, then thawed."""
    try:
        with open(os.path.join(group, "cgroup.kill"), "w") as f:
            f.write("1")
        return
    except FileNotFoundError:
        pass
    except OSError:
        return
    import signal

    _write(group, "cgroup.freeze", "1")
    try:
        signal_members(group, signal.SIGKILL)
    finally:
        _write(group, "cgroup.freeze", "0")


def _write(group: str, name: str, text: str) -> None:
    try:
        with open(os.path.join(group, name), "w") as f:
            f.write(text)
    except OSError:
        pass


def populated(group: str) -> bool:
    try:
        with open(os.path.join(group, "cgroup.events")) as f:
            for line in f:
                if line.startswith("populated "):
                    return line.split()[1] != "0"
    except OSError:
        return False
    return False


def remove(group: str, timeout: float = 5.0) -> None:
    """Kill what is left and remove the group once it is empty (a dying process leaves it a moment later)."""
    import time

    kill(group)
    deadline = time.monotonic() + timeout
    while populated(group) and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        os.rmdir(group)
    except OSError:
        pass
