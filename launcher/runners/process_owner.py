"""The local-process resource's owner part: what differs for a program run on this machine.

Set-up: the run's environment (a cached virtualenv when asked). Start: the argv in its own process group,
stdout and stderr on pipes (posix_spawn: the subprocess module alone costs a launch milliseconds). Follow:
copy output to the log as it arrives; on cancel, SIGTERM every process of the run, SIGKILL after the grace
period. End: the exit status under the process convention (-N for signal N). Orphans of the program are
re-parented to the owner (a subreaper), so no process of the run outlives it.

Imported by every local-process owner on each launch: standard library and cheap modules only."""

from __future__ import annotations

import _signal as signal
import os
import select
import time

from launcher.logfile import STDERR, STDOUT
from launcher.runners import cgroups
from launcher.runners.owner import OwnerPart, StartFailed
from launcher.runners.ownership import PROCESS, RUN_DIR_ENV, Ending, end_state, write_failure_ending

#: See launcher/runners/process_environment.py.
ENVIRONMENT_PLAN = "environment.json"
#: How long output may keep arriving from a program's leftover children after it exits.
DRAIN_SECONDS = 1.0
SIGNALS_RESET = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE)


def owner_arguments(python: str, grace_period: float, argv: list[str]) -> list[str]:
    """The part's arguments: they travel in argv, not in a JSON file, because importing json (and the
    regular expressions it needs) would add milliseconds to every launch."""
    return [python, repr(float(grace_period)), "--", *argv]


class ProcessPart(OwnerPart):
    def __init__(self, context, arguments: list[str]) -> None:
        super().__init__(context, arguments)
        split = arguments.index("--")
        self.python, grace = arguments[:split]
        self.default_grace = float(grace)
        self.argv = arguments[split + 1:]
        self.pid = 0
        self.out_r = self.err_r = -1
        #: The run's cgroup, when the machine allows one: every process of the run stays in it.
        self.group: str | None = None

    # -- set-up -----------------------------------------------------------------------------------
    def needs_setup(self) -> bool:
        return os.path.exists(self.context.folder.file(ENVIRONMENT_PLAN))

    def prepare(self) -> None:
        python = self.python
        if self.needs_setup():
            from launcher.runners.process_environment import prepare_environment

            python = prepare_environment(self.context, self.default_grace)
        # `python` in an entry point means the run's interpreter: the launcher's own, or the run's venv.
        if self.argv and self.argv[0] in ("python", "python3"):
            self.argv[0] = python

    # -- start ------------------------------------------------------------------------------------
    def start(self) -> dict[str, str | int | float | None]:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the follow loop (the wakeup fd)
        base = os.environ.pop(cgroups.BASE_ENV, "")
        group = cgroups.create(base, cgroups.run_group_name(self.context.folder.path)) if base else None
        # The program is born in the run's cgroup: the owner steps into it for the spawn and back out, so
        # nothing the program starts can ever be outside it. Without one, the owner becomes a subreaper
        # before the program starts, so that orphans it leaves are re-parented here, where they are found.
        if group is None or not cgroups.move(os.getpid(), group):
            group = None
            become_subreaper()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        self.working_dir = self.context.folder.source
        os.chdir(self.working_dir)  # posix_spawn has no cwd argument
        try:
            self.pid = os.posix_spawnp(self.argv[0], self.argv, self.context.program_environ(), setpgroup=0,
                                       setsigdef=SIGNALS_RESET,
                                       file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                                     (os.POSIX_SPAWN_DUP2, out_w, 1),
                                                     (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except OSError as error:
            for fd in (out_r, err_r):
                os.close(fd)
            raise StartFailed(f"could not start {self.argv[0]!r}: {error.strerror or error}") from None
        finally:
            for fd in (out_w, err_w, devnull):
                os.close(fd)
            if group is not None:
                cgroups.move(os.getpid(), base)
        self.out_r, self.err_r, self.group = out_r, err_r, group
        return {"pgid": self.pid, "cgroup": group}

    # -- follow -----------------------------------------------------------------------------------
    def follow(self) -> Ending:
        """Copy output to the log until the program has exited and its pipes are closed, stopping the run's
        processes on cancel."""
        context = self.context
        pid = self.pid
        poller = select.poll()
        streams = {self.out_r: STDOUT, self.err_r: STDERR}
        for fd in (self.out_r, self.err_r, context.wake_r):
            poller.register(fd, select.POLLIN)
        kill_at: float | None = None
        drain_until: float | None = None
        close_at: float | None = None
        returncode: int | None = None
        cancelled_before_exit = False
        terminated = False
        write_failure: OSError | None = None
        while streams or returncode is None:
            now = time.monotonic()
            if not terminated and (context.cancel_requested or write_failure is not None):
                terminated = True
                grace = context.grace_period(self.default_grace) if write_failure is None else 0.0
                if write_failure is None:
                    context.note(f"cancel requested: sending SIGTERM, SIGKILL after {grace:g}s")
                self._signal_run(signal.SIGTERM, everywhere=True)
                kill_at = now + grace
            if kill_at is not None and now >= kill_at:
                self._signal_run(signal.SIGKILL, everywhere=True)
                kill_at = None
            if returncode is None:
                returncode = _reap(pid)
                if returncode is not None:
                    cancelled_before_exit = context.cancel_requested
                    drain_until = now + DRAIN_SECONDS
                    if not streams:
                        break  # its output was all read before it was reaped: nothing to wait for
            _reap_orphans(pid)
            if drain_until is not None and now >= drain_until:
                # The program is gone but processes it left behind still hold the pipes: stop them, and
                # stop reading soon after even if something out of reach keeps a pipe open.
                self._signal_run(signal.SIGKILL, everywhere=True)
                drain_until = None
                close_at = now + DRAIN_SECONDS
            if close_at is not None and now >= close_at:
                for fd in list(streams):
                    poller.unregister(fd)
                    os.close(fd)
                    del streams[fd]
                context.note("output pipes still held open after the program ended; stopped reading")
                break
            deadlines = [t for t in (kill_at, drain_until, close_at) if t is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
            for fd, _ in poller.poll(timeout * 1000):
                if fd == context.wake_r:
                    context.drain_wake()
                    continue
                if fd not in streams:
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    if write_failure is None:
                        try:
                            context.log.write(streams[fd], data)
                        except OSError as error:
                            write_failure = error  # the program is stopped: its output would be lost
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del streams[fd]
        # No process of the run outlives it: the cgroup's (which holds every one), or without a cgroup the
        # group's and the owner's descendants (it is a subreaper: orphans come back to it); the full /proc
        # scan for the run-folder tag is kept for cancels without a cgroup.
        self._signal_run(signal.SIGKILL, everywhere=terminated)
        _reap_orphans(pid)
        assert returncode is not None
        if write_failure is not None:
            return write_failure_ending(context.folder, write_failure, returncode)
        return end_state(returncode, convention=PROCESS, cancelled=cancelled_before_exit)

    def _signal_run(self, signum: int, *, everywhere: bool = False) -> None:
        """Signal every process of the run: its cgroup, the program's group and the owner's descendants
        (even those that moved to a session of their own); with `everywhere` and no cgroup, also processes
        elsewhere that carry the run's folder in their environment (a full /proc scan)."""
        _signal_group(self.pid, signum)
        if self.group is not None:
            if signum == signal.SIGKILL:
                cgroups.kill(self.group)
            else:
                cgroups.signal_members(self.group, signum)
        others = descendants(os.getpid())
        if everywhere and self.group is None:
            others |= tagged_processes(self.context.folder.path, exclude=os.getpid())
        for other in others:
            try:
                os.kill(other, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def abandon(self) -> None:
        if self.pid:
            self._signal_run(signal.SIGKILL, everywhere=True)

    def cleanup(self) -> None:
        if self.group is not None:
            cgroups.remove(self.group)


def become_subreaper() -> None:
    """Make orphaned descendants children of this process (Linux prctl PR_SET_CHILD_SUBREAPER)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the process group and the environment scan still find most processes


def descendants(pid: int) -> set[int]:
    """Every live descendant of a process, read from /proc/PID/task/TID/children (cheap: no full scan)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def tagged_processes(run_dir: str, exclude: int) -> set[int]:
    """Processes whose environment names this run's folder (RUN_DIR_ENV): this reaches even a daemon that
    left the process tree before the owner became its subreaper, and never a run of another workspace
    that has the same run id. A full /proc scan, so only done on cancel and at the end."""
    marker = f"{RUN_DIR_ENV}={run_dir}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != exclude:
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.add(int(entry))
            except OSError:
                continue
    return found


def stop_tagged(run_dir: str, signum: int) -> int:
    """Signal every process carrying the run's folder in its environment; how many were found."""
    found = tagged_processes(run_dir, exclude=os.getpid())
    for pid in found:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    return len(found)


def _reap_orphans(program_pid: int) -> None:
    """Collect re-parented orphans' exit status so they do not linger as zombies, leaving the program's
    own status for _reap."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == program_pid:
            return
        os.waitpid(info.si_pid, 0)


def _reap(pid: int) -> int | None:
    """The program's exit status once it has exited (negative: killed by that signal), else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
