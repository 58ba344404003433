"""The run owner: one process per run, in a session of its own, that outlives the process launching it.

Every resource's run goes through the same life here:

    starting -> [preparing: set-up] -> running -> finished | failed | stopped   (or start_failed)

The owner records itself before any set-up work, streams set-up output into the run's log as it happens,
and records the ending: in the run folder first, then in the store, retried while the store is locked.
What differs between resources lives in a runner's owner *part* (launcher/runners/*_owner.py): how to
set up, start, follow and stop the program, and how it ended. Parts raise `StartFailed` or `Cancelled`
during set-up and return an `Ending` from `follow`.

No clock ends a healthy set-up: the owner lock (launcher/runners/ownership.py) says whether an owner is
alive, so an owner that dies during an install is seen as dead at once, and one that lives is waited for.

Started as `python -I [-S] -c BOOTSTRAP RUN_DIR LOCK_FD PART [--resume] -- PART_ARGS` (spawn_owner)."""

from __future__ import annotations

import _signal as signal  # the C module: `signal` imports enum, milliseconds on every launch
import os
import sys
import time
from typing import TYPE_CHECKING

from launcher.logfile import LAUNCHER, LogWriter
from launcher.runners.ownership import (
    Cancelled,
    Ending,
    RunFolder,
    StartFailed,
    record_owner,
)

if TYPE_CHECKING:
    from launcher.states import RunState

#: The set-up line shown with a preparing run is written to the store at most this often.
SETUP_LINE_SECONDS = 1.0
#: How long an owner keeps retrying to record the ending in a store that stays locked (the ending file
#: holds it meanwhile, and any reader settles it from there once the owner has gone).
RECORD_RETRY_SECONDS = 600.0


class OwnerContext:
    """What an owner part gets: the run folder, its log, the store, and the cancel request."""

    def __init__(self, folder: RunFolder, resume: bool) -> None:
        self.folder = folder
        self.run_id = folder.run_id
        self.resume = resume
        self.log = LogWriter(folder.log)
        self.cancel_requested = False
        self._store = None
        self._last_line_at = 0.0
        self._pending_line: str | None = None
        self._partial_setup = b""
        #: While set, a cancel signal interrupts the blocking call in progress (an image build, an upload).
        self._interrupt_on_cancel = False
        self.wake_r, self.wake_w = os.pipe()
        #: Variables set-up adds to the program's environment (MLFLOW_RUN_ID of a tied MLflow run); each
        #: part passes them to the program it starts.
        self.program_env: dict[str, str] = {}

    def program_environ(self):
        """This owner's environment (the program's, as the runner made it) with set-up's additions."""
        return {**os.environ, **self.program_env} if self.program_env else os.environ

    # -- the store, opened late: a local process starts before sqlite3 is imported -----------------
    @property
    def store(self):
        if self._store is None:
            from launcher.store import Store

            self._store = Store(self.folder.database)
        return self._store

    def state(self) -> RunState | None:
        return self.store.run_state(self.run_id)

    def mark_preparing(self) -> None:
        from launcher.states import RunState  # with the store (see `store`): after a fast start, not before

        self.store.transition(self.run_id, RunState.PREPARING)

    def mark_running(self, **handle: str | int | float | None) -> None:
        from launcher.states import RunState

        self._flush_setup_line()
        self.store.transition(self.run_id, RunState.RUNNING, clear_message=True, handle=handle or None)

    def update_handle(self, **fields: str | int | float | None) -> None:
        self.store.update_handle(self.run_id, **fields)

    # -- notes and set-up output ------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.log.note(text)

    def setup_output(self, data: bytes) -> None:
        """Output of a set-up step (an install, a build): into the log at once, and its last line shown
        with the preparing run (written to the store at most once a second)."""
        self.log.write(LAUNCHER, data)
        lines = (self._partial_setup + data).split(b"\n")
        self._partial_setup = lines.pop()[-4096:]
        complete = [line for line in lines if line.strip()]
        if complete:
            self.setup_line(complete[-1].decode("utf-8", "replace"))

    def setup_line(self, text: str) -> None:
        text = text.strip()[:300]
        if not text:
            return
        self._pending_line = text
        now = time.monotonic()
        if now - self._last_line_at >= SETUP_LINE_SECONDS:
            self._flush_setup_line()

    def step(self, text: str) -> None:
        """A set-up step announced in the log and shown with the preparing run."""
        self.note(text)
        self.setup_line(text)

    def _flush_setup_line(self) -> None:
        if self._pending_line is not None:
            line, self._pending_line = self._pending_line, None
            self._last_line_at = time.monotonic()
            self.store.set_active_message(self.run_id, line)

    @property
    def setup_log(self) -> SetupLog:
        """A log-like object for set-up code that writes notes and raw output (image builds, pulls)."""
        return SetupLog(self)

    # -- cancel -----------------------------------------------------------------------------------
    def on_signal(self, signum: int, frame: object) -> None:
        self.cancel_requested = True
        if self._interrupt_on_cancel:
            self._interrupt_on_cancel = False
            raise Cancelled()

    def interruptible(self):
        """A context in which a cancel signal interrupts what is being done at once (raising Cancelled),
        for blocking set-up calls that cannot poll the request themselves."""
        from contextlib import contextmanager

        @contextmanager
        def scope():
            if self.check_cancel():
                raise Cancelled()
            self._interrupt_on_cancel = True
            try:
                yield
            finally:
                self._interrupt_on_cancel = False

        return scope()

    def check_cancel(self) -> bool:
        """Whether a cancel was requested (by signal, or by the request file of a canceller that found
        no owner recorded yet)."""
        if not self.cancel_requested and self.folder.cancel_request() is not None:
            self.cancel_requested = True
        return self.cancel_requested

    def grace_period(self, default: float) -> float:
        requested = self.folder.cancel_request()
        return default if requested is None else requested

    def raise_if_cancelled(self) -> None:
        if self.check_cancel():
            raise Cancelled()

    def drain_wake(self) -> None:
        try:
            os.read(self.wake_r, 4096)
        except BlockingIOError:
            pass

    def run_setup(self, argv: list[str], *, grace: float = 10.0, env: dict[str, str] | None = None,
                  cwd: str | None = None) -> None:
        """Run one set-up command with its output streamed into the log; a cancel stops its whole process
        group (SIGTERM, `grace`, SIGKILL) and raises Cancelled; a failure raises StartFailed."""
        from launcher.runners.setup_commands import run_streamed

        run_streamed(self, argv, grace=grace, env=env, cwd=cwd)

    # -- the end ----------------------------------------------------------------------------------
    def record(self, ending: Ending) -> None:
        """The ending into the log, the run folder and the store (in that order: the folder keeps it if
        the store cannot be written; readers settle it from there). On a full disk the workspace's reserve
        is freed first, so that the ending can be written (launcher/diskspace.py)."""
        from launcher.diskspace import is_disk_full, release_reserve
        from launcher.errors import LaunchError

        self._pending_line = None
        from launcher.states import RunState  # here, not at the top: the program has started by now

        if ending.message and ending.state is not RunState.FINISHED:
            self._safe_note(ending.message)
        try:
            self.folder.write_ending(ending)
        except OSError as error:
            if is_disk_full(error) and release_reserve(self.folder.workspace_home):
                try:
                    self.folder.write_ending(ending)
                except OSError:
                    pass
        deadline = time.monotonic() + RECORD_RETRY_SECONDS
        delay = 0.2
        said = False
        while True:
            try:
                self.store.transition(self.run_id, ending.state, message=ending.message,
                                      exit_code=ending.exit_code)
                return
            except LaunchError as error:  # locked by another process for long, or the disk is full
                if is_disk_full(error):
                    release_reserve(self.folder.workspace_home)
                if not said:
                    said = True
                    self._safe_note(f"the ending could not be recorded yet ({error}); it is kept in the run "
                                    "folder and recording it is retried")
                if time.monotonic() >= deadline:
                    self._safe_note(f"the ending could not be recorded in the store ({error}); it is kept in the "
                                    "run folder and recorded by the next process that looks at the run")
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _safe_note(self, text: str) -> None:
        try:
            self.note(text)
        except OSError:
            try:
                print(text, file=sys.stderr)
            except OSError:
                pass  # a full disk: the store and the ending file still say it

    def close(self) -> None:
        try:
            self.log.close()
        finally:
            if self._store is not None:
                self._store.close()


class SetupLog:
    """The owner context seen as a log writer by set-up code: notes are steps, output is set-up output."""

    def __init__(self, context: OwnerContext) -> None:
        self.context = context

    def note(self, text: str) -> None:
        self.context.step(text)

    def write(self, stream: str, data: bytes, at: float | None = None) -> None:
        self.context.setup_output(data)


class OwnerPart:
    """What a resource supplies to the owner. Subclasses live in launcher/runners/*_owner.py."""

    #: The program's working directory when it runs on this machine (its TensorBoard event files are moved
    #: into the outputs folder at the end), else None.
    working_dir: str | None = None

    def __init__(self, context: OwnerContext, arguments: list[str]) -> None:
        self.context = context
        self.arguments = arguments

    def needs_setup(self) -> bool:
        """Whether set-up work may take a while (the run then shows `preparing` while it happens)."""
        return False

    def prepare(self) -> None:
        """Set-up before the program starts; raise StartFailed or Cancelled."""

    def start(self) -> dict[str, str | int | float | None] | None:
        """Start the program (raise StartFailed); returns facts for the run's handle, or None when the
        part records the running state itself (a cluster job runs once the cluster says so)."""
        raise NotImplementedError

    def follow(self) -> Ending | None:
        """From the started program to its end: output into the log, stop it on a cancel request."""
        raise NotImplementedError

    def resume(self) -> Ending | None:
        """Pick up a program an earlier owner started (`--resume`); None: the run was ended elsewhere."""
        raise NotImplementedError

    def abandon(self) -> None:
        """The owner is failing: leave nothing running that nobody will own."""

    def cleanup(self) -> None:
        """Tidy up after the ending is recorded (remove what the run no longer needs)."""


class Owner:
    def __init__(self, context: OwnerContext, part: OwnerPart, lock_fd: int) -> None:
        self.context = context
        self.part = part
        self.lock_fd = lock_fd

    def run(self) -> int:
        context = self.context
        record_owner(self.lock_fd)
        os.set_blocking(context.wake_w, False)
        signal.set_wakeup_fd(context.wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, context.on_signal)
        # A cancel may have come before this owner had recorded itself, when nobody could signal it.
        context.check_cancel()
        try:
            ending = self._resume() if context.resume else self._start()
        except Exception as error:  # noqa: BLE001 - an owner must never leave its run looking alive
            import traceback

            traceback.print_exc()
            self._abandon()
            from launcher.states import RunState

            ending = Ending(RunState.FAILED, None, f"the run's owner failed: {error!r}")
        if ending is not None:
            self._collect_outputs()
            context.record(ending)
        try:
            self.part.cleanup()  # after the ending is recorded: whoever waits on the run sees it sooner
        except Exception:  # noqa: BLE001 - the run's ending is recorded already
            import traceback

            traceback.print_exc()
        if ending is not None:
            self._end_mlflow_run(ending)
        return 0

    def _collect_outputs(self) -> None:
        """Before the ending is recorded: the program's TensorBoard event files into the run's outputs."""
        from launcher.runners import owner_tracking

        try:
            owner_tracking.collect_event_files(self.context, self.part.working_dir)
        except Exception as error:  # noqa: BLE001 - the ending is recorded whatever happens here
            self.context._safe_note(f"TensorBoard event files were not moved into the run's outputs: {error!r}")

    def _end_mlflow_run(self, ending: Ending) -> None:
        """After the ending is recorded (it takes seconds): a tied MLflow run ended with the run's state."""
        from launcher.runners import owner_tracking

        try:
            owner_tracking.end_mlflow_run(self.context, ending.state)
        except Exception as error:  # noqa: BLE001 - the run has ended; this only tidies its MLflow run
            self.context._safe_note(f"the tied MLflow run could not be ended: {error!r}")

    def _start(self) -> Ending | None:
        from launcher.runners import owner_source, owner_tracking

        context, part = self.context, self.part
        try:
            source_pending = owner_source.pending(context.folder)
            tie_pending = owner_tracking.tie_pending(context.folder)
            if source_pending or tie_pending or part.needs_setup():
                if context.check_cancel():
                    raise Cancelled()
                context.mark_preparing()
            if source_pending:
                owner_source.prepare_source(context)
            if tie_pending:
                owner_tracking.tie_mlflow_run(context)
            part.prepare()
            context.raise_if_cancelled()
            handle = part.start()
        except Cancelled:
            from launcher.states import RunState

            return Ending(RunState.STOPPED, None, "stopped by request before the program started")
        except StartFailed as error:
            from launcher.states import RunState

            return Ending(RunState.START_FAILED, None, str(error))
        if handle is not None:
            context.mark_running(**handle)
        return part.follow()

    def _resume(self) -> Ending | None:
        state = self.context.state()
        if state is None or state.is_terminal():
            return None
        return self.part.resume()

    def _abandon(self) -> None:
        try:
            self.part.abandon()
        except Exception:  # noqa: BLE001 - failing already; the ending matters more
            import traceback

            traceback.print_exc()


def load_part(name: str, context: OwnerContext, arguments: list[str]) -> OwnerPart:
    module_name, _, class_name = name.partition(":")
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)(context, arguments)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--")
    head, arguments = args[:split], args[split + 1:]
    run_dir, lock_fd, part_name = head[0], int(head[1]), head[2]
    os.set_inheritable(lock_fd, False)  # the program and set-up commands must never hold the owner lock
    context = OwnerContext(RunFolder(run_dir), resume="--resume" in head[3:])
    try:
        part = load_part(part_name, context, arguments)
        code = Owner(context, part, lock_fd).run()
    finally:
        context.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is recorded; skip interpreter shutdown, which the launching process would wait for.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
