"""The one run-owner protocol every resource follows.

Each run has exactly one owner: a small process (launcher/runners/owner.py) that sets the run up, starts
its program, writes its output to the run's log, stops it on request and records how it ended. This
module holds what every resource shares:

- the run folder's layout (log, cancel request, owner lock, ending, source, config, outputs);
- one way to tell that an owner is alive: it holds an exclusive flock on the folder's `owner.lock` for its
  whole life (the kernel drops it with the process, so a crashed owner is never mistaken for a live one,
  and no clock is involved). The launching process takes the lock before the run is recorded and hands
  it to the owner, so a recorded run always has a holder or a dead owner, never a gap;
- one way to ask for a cancel: a request file first, then SIGTERM to the owner recorded in the lock file
  (an owner that is not up yet finds the file right after it has recorded itself);
- one end-state function: exit code or signal, cancel request and the resource's convention in, state,
  exit code and message out (any signal number, named or not);
- one way to write notes into the log, and the ending file an owner writes before the store, so that an
  ending is never lost when the store cannot be written (any reader settles it from there).

Standard library only, and only cheap modules: every local-process owner imports this on each launch."""

from __future__ import annotations

import os

from launcher.logfile import LogWriter
from launcher.processes import process_start_time

TYPE_CHECKING = False  # typing costs every owner milliseconds to import
if TYPE_CHECKING:
    from typing import Protocol

    from launcher.states import RunState

    class SetupContext(Protocol):
        """What set-up code (source checkout, set-up commands, environments) needs of the run's owner;
        launcher/runners/owner.py's OwnerContext is one."""

        folder: RunFolder
        wake_r: int
        #: Variables set-up adds to the program's environment.
        program_env: dict[str, str]

        def check_cancel(self) -> bool: ...
        def raise_if_cancelled(self) -> None: ...
        def grace_period(self, default: float) -> float: ...
        def drain_wake(self) -> None: ...
        def setup_output(self, data: bytes) -> None: ...
        def step(self, text: str) -> None: ...
        def note(self, text: str) -> None: ...
        def run_setup(self, argv: list[str], *, grace: float = 10.0, env: dict[str, str] | None = None,
                      cwd: str | None = None) -> None: ...

# -- the run folder -----------------------------------------------------------------------------------
LOG_FILE = "output.log"
CANCEL_FILE = "cancel.request"
OWNER_LOCK = "owner.lock"
ENDING_FILE = "ending"
#: Paths the owner is building during set-up (an environment, an image context): removed if it dies.
SCRATCH_FILE = "scratch"
#: Where an owner's own stderr goes (a traceback if it ever fails).
OWNER_ERRORS = "owner.err"
SOURCE_DIR = "src"
CONFIG_FILE = "config.json"
SPEC_FILE = "spec.json"
#: The run's outputs (LAUNCHER_OUTPUT_DIR); kept with the run folder, whatever the resource.
OUTPUTS_DIR = "outputs"
#: Set to the run's folder in the environment of the owner and the program: names the run's processes on
#: this machine (a run id alone is unique only within a workspace).
RUN_DIR_ENV = "LAUNCHER_RUN_DIR"


class RunFolder:
    """The files of one run, by name. Holds paths only; every method is a small file operation."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def run_id(self) -> str:
        return os.path.basename(self.path)

    @property
    def workspace_home(self) -> str:
        return os.path.dirname(os.path.dirname(self.path))

    @property
    def database(self) -> str:
        return os.path.join(self.workspace_home, "launcher.db")

    @property
    def log(self) -> str:
        return self.file(LOG_FILE)

    @property
    def source(self) -> str:
        return self.file(SOURCE_DIR)

    @property
    def config(self) -> str:
        return self.file(CONFIG_FILE)

    @property
    def outputs(self) -> str:
        return self.file(OUTPUTS_DIR)

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    # -- notes --------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        """A line from the launcher itself in the run's log."""
        log = LogWriter(self.log)
        try:
            log.note(text)
        finally:
            log.close()

    # -- cancel requests ----------------------------------------------------------------------------
    def request_cancel(self, grace_period: float) -> None:
        """Record a cancel request with its grace period (written whole: a reader never sees half of it)."""
        temporary = self.file(f".{CANCEL_FILE}.{os.getpid()}")
        with open(temporary, "w") as f:
            f.write(f"{float(grace_period)!r}\n")
        os.replace(temporary, self.file(CANCEL_FILE))

    def cancel_request(self) -> float | None:
        """The requested grace period in seconds, or None when no cancel was requested."""
        try:
            with open(self.file(CANCEL_FILE)) as f:
                return float(f.readline())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return 0.0  # a request that cannot be read is still a request

    # -- the owner ----------------------------------------------------------------------------------
    def claim(self) -> int | None:
        """Take the owner lock: an open descriptor holding it, or None when a live owner (or the process
        launching the run) holds it. Raises FileNotFoundError when the run folder does not exist."""
        import fcntl

        fd = os.open(self.file(OWNER_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def owner_alive(self) -> bool:
        """Whether some process holds the owner lock: the run's owner, or the process launching it."""
        try:
            fd = self.claim()
        except FileNotFoundError:
            return False
        if fd is None:
            return True
        os.close(fd)  # closing releases the lock
        return False

    def owner_recorded(self) -> bool:
        """Whether an owner ever started for this run (it records itself in the lock file at once)."""
        try:
            with open(self.file(OWNER_LOCK), "rb") as f:
                return bool(f.read(1))
        except OSError:
            return False

    def owner_errors(self) -> str | None:
        """The last line an owner wrote to its error file (a crash's exception), if any."""
        try:
            with open(self.file(OWNER_ERRORS), "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
                lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
        except OSError:
            return None
        return lines[-1][:300] if lines else None

    def owner_pid(self) -> int | None:
        """The pid of the live owner that recorded itself in the lock file, if there is one."""
        try:
            with open(self.file(OWNER_LOCK), "rb") as f:
                words = f.read(200).split()
        except OSError:
            return None
        if len(words) != 2 or not words[0].isdigit():
            return None
        pid = int(words[0])
        if process_start_time(pid) != words[1].decode() or not self.owner_alive():
            return None
        return pid

    # -- set-up scratch -----------------------------------------------------------------------------
    def add_scratch(self, path: str) -> None:
        """Note a path set-up is building (before it exists): if the owner dies, whoever settles the run
        removes it, so nothing half-made stays behind (a half-installed environment, say)."""
        with open(self.file(SCRATCH_FILE), "a", encoding="utf-8") as f:
            f.write(path + "\n")

    def scratch_paths(self) -> list[str]:
        try:
            with open(self.file(SCRATCH_FILE), encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except OSError:
            return []

    def remove_scratch(self) -> None:
        """Remove what a dead owner's set-up left half-made (only paths inside the workspace)."""
        import shutil

        home = os.path.realpath(self.workspace_home) + os.sep
        for path in self.scratch_paths():
            if os.path.realpath(path).startswith(home):
                shutil.rmtree(path, ignore_errors=True)
        try:
            os.unlink(self.file(SCRATCH_FILE))
        except OSError:
            pass

    # -- endings ------------------------------------------------------------------------------------
    def write_ending(self, ending: Ending) -> None:
        """Keep how the run ended in its folder, before the store is told (see read_ending)."""
        temporary = self.file(f".{ENDING_FILE}.{os.getpid()}")
        code = "" if ending.exit_code is None else str(ending.exit_code)
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(f"{ending.state}\n{code}\n{ending.message or ''}\n")
        os.replace(temporary, self.file(ENDING_FILE))

    def read_ending(self) -> Ending | None:
        try:
            with open(self.file(ENDING_FILE), encoding="utf-8") as f:
                state, code, message = (f.read().split("\n", 2) + ["", ""])[:3]
        except (OSError, UnicodeDecodeError):
            return None
        if not state:
            return None
        return Ending(state, int(code) if code.lstrip("-").isdigit() else None, message.rstrip("\n") or None)


def record_owner(lock_fd: int) -> None:
    """Write this process's pid and start time into the owner lock it holds (for cancel requests)."""
    pid = os.getpid()
    text = f"{pid} {process_start_time(pid)}\n".encode()
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, text, 0)


class StartFailed(Exception):
    """The program could not be started (set-up failed, image not found, program not executable)."""


class Cancelled(BaseException):
    """A cancel request arrived during set-up. A BaseException, like KeyboardInterrupt: raised from the
    signal handler inside a library call (an upload, a build), it must not be caught and rewrapped by the
    library's own `except Exception`."""


# -- endings ------------------------------------------------------------------------------------------
#: Exit status conventions: how a resource reports a program ended by signal N.
PROCESS = "process"  # exit code -N (Python's subprocess, Ray's driver exit code)
DOCKER = "docker"  # exit code 128+N, as a shell and Docker report it


class Ending:
    """How a run ended: a terminal RunState, the exit code (None when unknown) and a message for people.
    (A plain slotted class: dataclasses cost an owner milliseconds to import. The state enum is imported
    only when a run ends, after its program has started.)"""

    __slots__ = ("state", "exit_code", "message")

    def __init__(self, state: RunState | str, exit_code: int | None = None, message: str | None = None) -> None:
        from launcher.states import RunState

        self.state = RunState(state)
        self.exit_code = exit_code
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ending) and (self.state, self.exit_code, self.message) == (
            other.state, other.exit_code, other.message)

    def __repr__(self) -> str:
        return f"Ending({self.state!r}, {self.exit_code!r}, {self.message!r})"


def end_state(exit_code: int | None, *, convention: str, cancelled: bool = False,
              remark: str = "") -> Ending:
    """The ending of a program that exited with `exit_code` under a resource's convention.

    A program that ends after a cancel request is `stopped` (with its exit code); otherwise exit code 0 is
    `finished` and anything else `failed`, with a message naming the signal when the code says the
    program was killed by one. `remark` is appended to a message (e.g. why the owner lost track)."""
    from launcher.states import RunState

    suffix = f" ({remark})" if remark else ""
    if exit_code is None:
        state = RunState.STOPPED if cancelled else RunState.FAILED
        reason = "stopped by request" if cancelled else "exit code unknown"
        return Ending(state, None, reason + suffix)
    number = killed_by(exit_code, convention)
    if cancelled:
        return Ending(RunState.STOPPED, exit_code, "stopped by request" + suffix)
    if exit_code == 0:
        return Ending(RunState.FINISHED, 0, remark or None)
    if number is not None:
        return Ending(RunState.FAILED, exit_code, f"killed by {signal_description(number)}{suffix}")
    return Ending(RunState.FAILED, exit_code, f"exit code {exit_code}{suffix}")


def write_failure_ending(folder: RunFolder, error: OSError, exit_code: int | None) -> Ending:
    """The ending of a run whose output could not be kept (its owner stopped the program)."""
    import errno

    from launcher.states import RunState

    if error.errno == errno.ENOSPC:
        return Ending(RunState.FAILED, exit_code, f"no space left on device in {folder.workspace_home}: the program was "
                                         "stopped because its output could not be kept")
    return Ending(RunState.FAILED, exit_code, f"the run's log could not be written ({error.strerror}): the program was "
                                     "stopped because its output could not be kept")


def killed_by(exit_code: int, convention: str) -> int | None:
    """The signal number an exit code reports under a convention, or None."""
    if convention == PROCESS:
        return -exit_code if exit_code < 0 else None
    if convention == DOCKER:
        return exit_code - 128 if 128 < exit_code <= 128 + 64 else None
    raise ValueError(f"unknown exit convention {convention!r}")


def signal_description(number: int) -> str:
    """`SIGTERM`, or `signal 40 (SIGRTMIN+6)` for real-time signals, or `signal 99` for numbers that
    name no signal here: any number is described, never refused."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        pass
    low, high = getattr(signal, "SIGRTMIN", None), getattr(signal, "SIGRTMAX", None)
    if low is not None and high is not None and low <= number <= high:
        offset = number - low
        return f"signal {number} (SIGRTMIN+{offset})" if offset else f"signal {number} (SIGRTMIN)"
    return f"signal {number}"


def spawn_owner(folder: RunFolder, lock_fd: int, part: str, arguments: list[str], *,
                env: dict[str, str] | None = None, resume: bool = False, site: bool = False,
                pass_fds: tuple[int, ...] = ()):
    """Start the run's owner process in a session of its own, handing it the owner lock (already held by
    this process through `lock_fd`); returns the Popen. `part` names the runner's owner part
    ("module:Class"); `arguments` are its own. Without `site`, the owner starts without site-packages
    (-S): only the standard library and this package, for owners that must be up in milliseconds."""
    import subprocess
    import sys

    bootstrap = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                 "from launcher.runners.owner import main; sys.exit(main())")
    # A source the owner checks out needs GitPython, from site-packages.
    site = site or os.path.exists(folder.file("source.json"))
    flags = ["-I"] if site else ["-I", "-S"]
    argv = [sys.executable, *flags, "-c", bootstrap, folder.path, str(lock_fd), part,
            *(["--resume"] if resume else []), "--", *arguments]
    environment = dict(os.environ if env is None else env)
    environment[RUN_DIR_ENV] = folder.path
    with open(folder.file(OWNER_ERRORS), "ab") as errors:
        return subprocess.Popen(argv, env=environment, cwd=folder.path, stdin=subprocess.DEVNULL, stdout=errors,
                                stderr=errors, start_new_session=True, close_fds=True,
                                pass_fds=(lock_fd, *pass_fds))


#: The folder holding the `launcher` package, put first on an owner's path.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
