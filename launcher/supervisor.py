"""The run supervisor: one small process per local-process run, started in its own session.

It prepares the environment (a cached virtualenv when asked), starts the program as an argv list in its
own process group, writes its output to the run's log file as it arrives, stops the whole group on a
cancel request (SIGTERM, grace period, SIGKILL), and records the state and exit code in the store. Because
it is not a child of the launching process's session, a run outlives the process that launched it.

Run as `python -I -S supervisor.py RUN_DIR`; it imports only the standard library and three small modules
of this package, so it starts in a few milliseconds."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # started as a script: make the package importable without site-packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import states  # noqa: E402
from launcher.logfile import STDERR, STDOUT, LogWriter  # noqa: E402
from launcher.store import Store  # noqa: E402

PROCESS_FILE = "process.json"
CANCEL_FILE = "cancel.json"
LOG_FILE = "output.log"
#: How long output may keep arriving from a program's leftover children after it exits.
DRAIN_SECONDS = 1.0


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process, so a recorded pid is never confused with a reused one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def venv_python(envs_dir: Path, base_python: str, requirements: list[str], log: LogWriter) -> str:
    """A virtualenv with the requirements installed, cached by their hash and shared between runs."""
    digest = hashlib.sha256(json.dumps(sorted(requirements)).encode()).hexdigest()[:16]
    env_dir = envs_dir / digest
    python = env_dir / "bin" / "python"
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs needing the same env build it once
        if (env_dir / ".complete").exists():
            log.note(f"using cached virtualenv {env_dir}")
            return str(python)
        log.note(f"creating virtualenv {env_dir}")
        _run_logged([base_python, "-m", "venv", "--clear", str(env_dir)], log)
        if requirements:
            log.note("installing requirements: " + " ".join(requirements))
            _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements], log)
        (env_dir / ".complete").write_text(digest)
    return str(python)


def _run_logged(argv: list[str], log: LogWriter) -> None:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):
        log.write("launcher", chunk)
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited with code {proc.returncode}")


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.plan = json.loads((run_dir / PROCESS_FILE).read_text())
        self.run_id: str = self.plan["run_id"]
        self.store = Store(Path(self.plan["db"]))
        self.log = LogWriter(run_dir / LOG_FILE)
        self.cancel_requested = False

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_cancel)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
        self.store.update_handle(self.run_id, supervisor_pid=os.getpid(),
                                 supervisor_start=process_start_time(os.getpid()))
        try:
            argv = self._resolve_argv()
        except Exception as error:  # noqa: BLE001 - any failure here means the program never started
            return self._fail_start(f"environment set-up failed: {error}")
        if self.cancel_requested:
            self.store.transition(self.run_id, states.STOPPED, message="stopped before the program started")
            return 0
        try:
            proc = subprocess.Popen(argv, cwd=self.plan["cwd"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
        except OSError as error:
            return self._fail_start(f"could not start {argv[0]!r}: {error.strerror or error}")
        self.store.update_handle(self.run_id, pid=proc.pid, pgid=proc.pid)
        self.store.transition(self.run_id, states.RUNNING)
        returncode = self._pump(proc, wake_r)
        self._finish(returncode)
        return 0

    def _resolve_argv(self) -> list[str]:
        argv = list(self.plan["argv"])
        python = self.plan["python"]
        venv = self.plan.get("venv")
        if venv is not None:
            python = venv_python(Path(venv["envs_dir"]), self.plan["python"], venv["requirements"], self.log)
        # `python` in an entry point means the run's interpreter: the launcher's own, or the run's venv.
        if argv and argv[0] in ("python", "python3"):
            argv[0] = python
        return argv

    def _fail_start(self, message: str) -> int:
        self.log.note(message)
        self.store.transition(self.run_id, states.START_FAILED, message=message)
        return 1

    def _on_cancel(self, signum: int, frame: object) -> None:
        self.cancel_requested = True

    def _grace_period(self) -> float:
        try:
            return float(json.loads((self.run_dir / CANCEL_FILE).read_text())["grace_period"])
        except (OSError, ValueError, KeyError, TypeError):
            return float(self.plan.get("grace_period", 10.0))

    def _pump(self, proc: subprocess.Popen, wake_r: int) -> int:
        selector = selectors.DefaultSelector()
        streams = {proc.stdout.fileno(): STDOUT, proc.stderr.fileno(): STDERR}
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        kill_at: float | None = None
        drain_until: float | None = None
        terminated = False
        while streams:
            now = time.monotonic()
            if self.cancel_requested and not terminated:
                terminated = True
                grace = self._grace_period()
                self.log.note(f"cancel requested: sending SIGTERM, SIGKILL after {grace:g}s")
                _signal_group(proc.pid, signal.SIGTERM)
                kill_at = now + grace
            if kill_at is not None and now >= kill_at:
                _signal_group(proc.pid, signal.SIGKILL)
                kill_at = None
            if drain_until is None and proc.poll() is not None:
                drain_until = now + DRAIN_SECONDS
            if drain_until is not None and now >= drain_until:
                # The program is gone but a child it left behind still holds the pipes: stop it.
                _signal_group(proc.pid, signal.SIGKILL)
                drain_until = now + 5.0
            deadlines = [t for t in (kill_at, drain_until) if t is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
            for key, _ in selector.select(timeout):
                fd = key.fd
                if fd == wake_r:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    self.log.write(streams[fd], data)
                else:
                    selector.unregister(fd)
                    del streams[fd]
        returncode = proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # no process of the run outlives it
        return returncode

    def _finish(self, returncode: int) -> None:
        if self.cancel_requested:
            self.store.transition(self.run_id, states.STOPPED, message="stopped by request", exit_code=returncode)
        elif returncode == 0:
            self.store.transition(self.run_id, states.FINISHED, exit_code=0)
        elif returncode < 0:
            name = signal.Signals(-returncode).name
            self.store.transition(self.run_id, states.FAILED, message=f"killed by {name}", exit_code=returncode)
        else:
            self.store.transition(self.run_id, states.FAILED, message=f"exit code {returncode}",
                                  exit_code=returncode)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    supervisor = Supervisor(Path(sys.argv[1]))
    try:
        return supervisor.run()
    except BaseException as error:  # a supervisor must never leave its run looking alive
        supervisor.store.transition(supervisor.run_id, states.FAILED, message=f"supervisor error: {error!r}")
        raise
    finally:
        supervisor.log.close()


if __name__ == "__main__":
    sys.exit(main())
