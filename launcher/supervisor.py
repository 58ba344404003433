"""The run supervisor: one small process per local-process run, started in its own session.

It prepares the environment (a cached virtualenv when asked), starts the program as an argv list in its
own process group, writes its output to the run's log file as it arrives, stops the whole group on a
cancel request (SIGTERM, grace period, SIGKILL), and records the state and exit code in the store. Because
it is not a child of the launching process's session, a run outlives the process that launched it.

Started by the local-process runner as `python -I -S -c <bootstrap> ARGS` (see supervisor_argv); it imports only the
standard library and three small modules of this package, so it starts in a few milliseconds."""

from __future__ import annotations

import _signal as signal  # the C module: `signal` would import enum, a few ms on every launch
import os
import select
import sys
import time

from launcher import states
from launcher.logfile import STDERR, STDOUT, LogWriter
from launcher.processes import process_start_time

VENV_FILE = "venv.json"
#: Set to the run's folder in the environment of the supervisor and the program (see tagged_processes).
RUN_DIR_ENV = "LAUNCHER_RUN_DIR"
CANCEL_FILE = "cancel.json"
LOG_FILE = "output.log"
#: How long output may keep arriving from a program's leftover children after it exits.
DRAIN_SECONDS = 1.0


def supervisor_argv(run_dir: str, run_id: str, db: str, cwd: str, python: str, grace_period: float,
                    argv: list[str]) -> list[str]:
    """The supervisor's arguments. They travel in argv, not in a JSON file, because importing json
    (and the regular expressions it needs) would add milliseconds to every launch."""
    return [run_dir, run_id, db, cwd, python, repr(float(grace_period)), "--", *argv]


def venv_python(envs_dir: str, base_python: str, requirements: list[str], log: LogWriter) -> str:
    """A virtualenv with the requirements installed, cached by their hash and shared between runs."""
    import fcntl
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(sorted(requirements)).encode()).hexdigest()[:16]
    env_dir = os.path.join(envs_dir, digest)
    python = os.path.join(env_dir, "bin", "python")
    complete_marker = os.path.join(env_dir, ".complete")
    os.makedirs(envs_dir, exist_ok=True)
    with open(os.path.join(envs_dir, f"{digest}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs needing the same env build it once
        if os.path.exists(complete_marker):
            log.note(f"using cached virtualenv {env_dir}")
            return python
        log.note(f"creating virtualenv {env_dir}")
        _run_logged([base_python, "-m", "venv", "--clear", env_dir], log)
        if requirements:
            log.note("installing requirements: " + " ".join(requirements))
            _run_logged([python, "-m", "pip", "install", "--disable-pip-version-check", *requirements], log)
        with open(complete_marker, "w") as marker:
            marker.write(digest)
    return python


def _run_logged(argv: list[str], log: LogWriter) -> None:
    import subprocess

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):
        log.write("launcher", chunk)
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited with code {proc.returncode}")


class Supervisor:
    def __init__(self, args: list[str]) -> None:
        split = args.index("--")
        self.run_dir, self.run_id, self.db, self.cwd, self.python, grace = args[:split]
        self.default_grace = float(grace)
        self.argv = args[split + 1:]
        self.log = LogWriter(os.path.join(self.run_dir, LOG_FILE))
        self.cancel_requested = False
        #: Whether the cancel came while the program still ran (a program that had ended keeps its result).
        self.cancelled_before_exit = False
        self._store = None

    @property
    def store(self):
        """Opened after the program has started, so that its start-up overlaps importing sqlite3."""
        if self._store is None:
            from launcher.store import Store

            self._store = Store(self.db)
        return self._store

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_cancel)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the poll
        try:
            argv = self._resolve_argv()
        except Exception as error:  # noqa: BLE001 - any failure here means the program never started
            return self._fail_start(f"environment set-up failed: {error}")
        if self.cancel_requested or self._cancel_file_exists():
            self._record_supervisor()
            self.store.transition(self.run_id, states.STOPPED, message="stopped before the program started")
            return 0
        try:
            pid, out_r, err_r = self._spawn(argv)
        except OSError as error:
            return self._fail_start(f"could not start {argv[0]!r}: {error.strerror or error}")
        self._record_supervisor(pid=pid, pgid=pid)
        # A cancel may have come before this supervisor was recorded, when nobody could signal it.
        if self._cancel_file_exists():
            self.cancel_requested = True
        self.store.transition(self.run_id, states.RUNNING)
        returncode = self._pump(pid, out_r, err_r, wake_r)
        self._finish(returncode)
        return 0

    def _spawn(self, argv: list[str]) -> tuple[int, int, int]:
        """Start the program in its own process group with stdout and stderr on pipes. posix_spawn rather
        than subprocess: that module alone costs every launch a few milliseconds to import."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.chdir(self.cwd)  # posix_spawn has no cwd argument; the supervisor has no other use for its cwd
        try:
            pid = os.posix_spawnp(argv[0], argv, os.environ, setpgroup=0, setsigdef=(signal.SIGTERM, signal.SIGINT,
                                  signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE), file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except OSError:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w, devnull):
                os.close(fd)
        return pid, out_r, err_r

    def _resolve_argv(self) -> list[str]:
        argv = list(self.argv)
        python = self.python
        venv_file = os.path.join(self.run_dir, VENV_FILE)
        if os.path.exists(venv_file):
            import json

            with open(venv_file) as f:
                venv = json.load(f)
            python = venv_python(venv["envs_dir"], self.python, venv["requirements"], self.log)
        # `python` in an entry point means the run's interpreter: the launcher's own, or the run's venv.
        if argv and argv[0] in ("python", "python3"):
            argv[0] = python
        return argv

    def _record_supervisor(self, **program: int) -> None:
        self.store.update_handle(self.run_id, supervisor_pid=os.getpid(),
                                 supervisor_start=process_start_time(os.getpid()), **program)

    def _fail_start(self, message: str) -> int:
        self._record_supervisor()
        self.log.note(message)
        self.store.transition(self.run_id, states.START_FAILED, message=message)
        return 1

    def _cancel_file_exists(self) -> bool:
        return os.path.exists(os.path.join(self.run_dir, CANCEL_FILE))

    def _on_cancel(self, signum: int, frame: object) -> None:
        self.cancel_requested = True

    def _grace_period(self) -> float:
        try:
            import json

            with open(os.path.join(self.run_dir, CANCEL_FILE)) as f:
                return float(json.load(f)["grace_period"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.default_grace

    def _pump(self, pid: int, out_r: int, err_r: int, wake_r: int) -> int:
        """Copy output to the log until the program has exited and its pipes are closed, stopping the run's
        processes on cancel. Returns the program's exit status."""
        become_subreaper()  # orphans of the program are re-parented here, where they can be found
        poller = select.poll()
        streams = {out_r: STDOUT, err_r: STDERR}
        for fd in (out_r, err_r, wake_r):
            poller.register(fd, select.POLLIN)
        kill_at: float | None = None
        drain_until: float | None = None
        close_at: float | None = None
        returncode: int | None = None
        terminated = False
        while streams or returncode is None:
            now = time.monotonic()
            if self.cancel_requested and not terminated:
                terminated = True
                grace = self._grace_period()
                self.log.note(f"cancel requested: sending SIGTERM, SIGKILL after {grace:g}s")
                self._signal_run(pid, signal.SIGTERM, everywhere=True)
                kill_at = now + grace
            if kill_at is not None and now >= kill_at:
                self._signal_run(pid, signal.SIGKILL, everywhere=True)
                kill_at = None
            if returncode is None:
                returncode = _reap(pid)
                if returncode is not None:
                    self.cancelled_before_exit = self.cancel_requested
                    drain_until = now + DRAIN_SECONDS
            _reap_orphans(pid)
            if drain_until is not None and now >= drain_until:
                # The program is gone but processes it left behind still hold the pipes: stop them, and
                # stop reading soon after even if something out of reach keeps a pipe open.
                self._signal_run(pid, signal.SIGKILL, everywhere=True)
                drain_until = None
                close_at = now + DRAIN_SECONDS
            if close_at is not None and now >= close_at:
                for fd in list(streams):
                    poller.unregister(fd)
                    os.close(fd)
                    del streams[fd]
                self.log.note("output pipes still held open after the program ended; stopped reading")
                break
            deadlines = [t for t in (kill_at, drain_until, close_at) if t is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
            for fd, _ in poller.poll(timeout * 1000):
                if fd == wake_r:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                if fd not in streams:
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    self.log.write(streams[fd], data)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del streams[fd]
        self._signal_run(pid, signal.SIGKILL, everywhere=terminated)  # no process of the run outlives it
        _reap_orphans(pid)
        return returncode

    def _signal_run(self, pid: int, signum: int, *, everywhere: bool = False) -> None:
        """Signal every process of the run: the program's group and the supervisor's descendants (even
        those that moved to a session of their own); with `everywhere`, also processes elsewhere that carry
        the run's id in their environment."""
        _signal_group(pid, signum)
        others = descendants(os.getpid())
        if everywhere:
            others |= tagged_processes(self.run_dir, exclude=os.getpid())
        for other in others:
            try:
                os.kill(other, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def _finish(self, returncode: int) -> None:
        if self.cancelled_before_exit:
            self.store.transition(self.run_id, states.STOPPED, message="stopped by request", exit_code=returncode)
        elif returncode == 0:
            self.store.transition(self.run_id, states.FINISHED, exit_code=0)
        elif returncode < 0:
            import signal as signals

            name = signals.Signals(-returncode).name
            self.store.transition(self.run_id, states.FAILED, message=f"killed by {name}", exit_code=returncode)
        else:
            self.store.transition(self.run_id, states.FAILED, message=f"exit code {returncode}",
                                  exit_code=returncode)


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
    left the process tree before the supervisor became its subreaper, and never a run of another workspace
    that has the same run id. A full /proc scan, so only done on cancel."""
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


def main() -> int:
    supervisor = Supervisor(sys.argv[1:])
    try:
        code = supervisor.run()
    except BaseException as error:  # a supervisor must never leave its run looking alive
        supervisor.store.transition(supervisor.run_id, states.FAILED, message=f"supervisor error: {error!r}")
        raise
    finally:
        supervisor.log.close()
    supervisor.store.close()
    # Everything is recorded; skip interpreter shutdown, which the launching process would wait for.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
