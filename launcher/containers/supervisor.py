"""The container run supervisor: one small process per local-container run, in its own session.

It owns the run from the image to the end: finds, pulls or builds (and pushes) the image, creates the
container, attaches to its output before starting it (the engine's fast path), writes the output to the
run's log file as it arrives, stops the container on a cancel request (SIGTERM, grace period, SIGKILL),
records the state and exit code, and removes the container. It holds an exclusive lock on the run folder's
lock file for its whole life: that lock, not a pid, is how other processes know the run has an owner.

A supervisor started to reattach (after a crash) or one whose engine went away resumes from the
container: its state and exit code from the engine, and the output the log file does not have yet from
the engine's log driver, skipping exactly the bytes already written per stream, so nothing is counted
twice. Started by launcher/runners/local_container.py as `python -I -S -c BOOTSTRAP RUN_DIR LOCK_FD
[--reattach | --attached CONTAINER SOCKET_FD]`: no site-packages, and only light standard modules, so
that it is up in a few tens of milliseconds (its start-up overlaps the container's)."""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from launcher import states
from launcher.containers.engine import (
    STDERR_FRAME,
    STDOUT_FRAME,
    Engine,
    EngineError,
    EngineUnavailable,
    FrameSplitter,
)
from launcher.errors import LaunchError
from launcher.logfile import STDERR, STDOUT, LogWriter, iter_lines
from launcher.processes import process_start_time
from launcher.store import Store

PLAN_FILE = "container.json"
CANCEL_FILE = "cancel.json"
LOCK_FILE = "supervisor.lock"
LOG_FILE = "output.log"
STREAMS = {STDOUT_FRAME: STDOUT, STDERR_FRAME: STDERR}
#: How often a supervisor whose engine went away asks again.
ENGINE_RETRY_SECONDS = 0.5


def logged_byte_counts(path: Path) -> dict[int, int]:
    """How many bytes of each program stream the log file already holds."""
    counts = {STDOUT_FRAME: 0, STDERR_FRAME: 0}
    if not path.exists():
        return counts
    frame_of = {STDOUT: STDOUT_FRAME, STDERR: STDERR_FRAME}
    for line in iter_lines(path):
        frame = frame_of.get(line.stream)
        if frame is not None:
            counts[frame] += len(line.data) + (1 if line.newline else 0)
    return counts


def start_container(engine: Engine, plan: dict[str, Any], image: str):
    """Create the run's container, attach to its output, start it: (container id, attached socket, bytes
    already read). On failure nothing is left behind and the LaunchError says what went wrong."""
    config = dict(plan["container"], Image=image)
    name = plan["name"]
    try:
        try:
            container = engine.create_container(name, config)
        except EngineError as error:
            if error.status != 409:
                raise
            # The name is taken by a container an earlier supervisor of this run created, never started.
            engine.remove_container(name)
            container = engine.create_container(name, config)
    except EngineError as error:
        raise EngineError(f"cannot create the container from {image}: {error}", error.status) from None
    try:
        sock, first = engine.attach(container)
    except LaunchError as error:
        _remove_quietly(engine, container)
        raise EngineError(f"cannot attach to the container: {error}") from None
    try:
        engine.start_container(container)
    except LaunchError as error:
        sock.close()
        _remove_quietly(engine, container)
        raise EngineError(start_error_message(error, plan.get("gpus"))) from None
    return container, sock, first


def start_error_message(error: LaunchError, gpus: Any) -> str:
    text = str(error)
    if gpus is not None and ("gpu" in text.lower() or "device driver" in text):
        return (f"gpus={gpus!r} was asked for, but the Docker engine cannot give GPUs to containers on this "
                f"machine (no GPU or no NVIDIA container runtime): {text}")
    return f"the container did not start: {text}"


def _remove_quietly(engine: Engine, container: str) -> None:
    try:
        engine.remove_container(container)
    except LaunchError:
        pass


class EngineLost(Exception):
    """The connection to the engine broke during the run."""


class ContainerSupervisor:
    def __init__(self, run_dir: Path, reattach: bool = False) -> None:
        self.run_dir = run_dir
        self.plan: dict[str, Any] = json.loads((run_dir / PLAN_FILE).read_text())
        self.run_id: str = self.plan["run_id"]
        self.store = Store(Path(self.plan["db"]))
        self.log = LogWriter(run_dir / LOG_FILE)
        self.engine = Engine(self.plan["host"])
        self.reattach = reattach
        self.cancel_requested = False
        #: Set while waiting on the engine for an image: a cancel then interrupts the wait at once.
        self.interrupt_on_cancel = False
        self.stop_sent = False
        self.engine_was_lost = False
        self.container: str | None = None
        #: Bytes of each stream written to the log so far (the resume point after a reattach).
        self.counted = logged_byte_counts(run_dir / LOG_FILE)
        self._wake_r, self._wake_w = os.pipe()

    # -- entry ----------------------------------------------------------------------------------------
    def run(self, attached: tuple[str, socket.socket] | None = None) -> None:
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_cancel)
        self.store.update_handle(self.run_id, supervisor_pid=os.getpid(),
                                 supervisor_start=process_start_time(os.getpid()))
        if (self.run_dir / CANCEL_FILE).exists():
            self.cancel_requested = True  # asked before this process could receive the signal
        record = self.store.get_run(self.run_id)
        if record is None or states.is_terminal(record["state"]):
            if attached is not None:  # ended (stopped) before its supervisor was up: nothing may outlive it
                self.container = attached[0]
                self._remove()
            return
        if attached is not None:  # the launching process started the container (the fast path)
            self.container, sock = attached
            self.follow(sock)
            return
        if self.reattach:
            self.log.note("supervisor reattaching to the run")
            container = self._find_container(record)
            if container is not None:
                self._resume(container)
                return
            if record["state"] == states.RUNNING:
                self._end(states.FAILED, "the run's container is gone; its exit code is unknown")
                return
        self._start()

    def _on_cancel(self, signum: int, frame: object) -> None:
        self.cancel_requested = True
        if self.interrupt_on_cancel:
            from launcher.images.image import Cancelled

            self.interrupt_on_cancel = False
            raise Cancelled("cancelled while the image was being prepared")

    def _grace_seconds(self) -> int:
        grace = self.plan.get("grace_period", 10.0)
        try:
            grace = float(json.loads((self.run_dir / CANCEL_FILE).read_text())["grace_period"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return max(0, math.ceil(grace))

    # -- starting -------------------------------------------------------------------------------------
    def _start(self) -> None:
        from launcher.images.image import Cancelled, resolve_image

        try:
            self.interrupt_on_cancel = not self.cancel_requested
            try:
                image = resolve_image(self.engine, self.plan["image"], self.run_dir, self.log,
                                      lambda: self.cancel_requested)
            finally:
                self.interrupt_on_cancel = False
        except Cancelled:
            self._end(states.STOPPED, "stopped by request before the container started")
            return
        except LaunchError as error:
            self._fail_start(str(error))
            return
        if self.cancel_requested:
            self._end(states.STOPPED, "stopped by request before the container started")
            return
        try:
            self.container, sock, first = start_container(self.engine, self.plan, image)
        except LaunchError as error:
            self._fail_start(str(error))
            return
        self.store.update_handle(self.run_id, container_id=self.container, image=image)
        self.store.transition(self.run_id, states.RUNNING)
        self.follow(sock, first)

    def follow(self, sock, first: bytes = b"") -> None:
        """From a started container's attach stream to the run's end."""
        try:
            self._pump_attached(sock, first)
            exit_code = self.engine.wait_container(self.container)
        except (EngineLost, EngineUnavailable):
            self._engine_lost()
            return
        self._finish(exit_code)

    # -- output ---------------------------------------------------------------------------------------
    def _write(self, frame: int, data: bytes, at: float | None = None) -> None:
        stream = STREAMS.get(frame)
        if stream is None:
            return
        self.log.write(stream, data, at)
        self.counted[frame] += len(data)

    def _pump_attached(self, sock, first: bytes) -> None:
        """Copy the attach stream into the log until the container's output ends; cancel on request."""
        splitter = FrameSplitter()
        for frame, data in splitter.feed(first):
            self._write(frame, data)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        recv = sock.recv
        try:
            while True:
                if self.cancel_requested and not self.stop_sent:
                    self._send_stop()
                for key, _ in selector.select(1.0):
                    if key.fd == self._wake_r:
                        self._drain_wake()
                        continue
                    try:
                        data = recv(1 << 20)
                    except OSError as error:
                        raise EngineLost(str(error)) from error
                    if not data:
                        return
                    for frame, payload in splitter.feed(data):
                        self._write(frame, payload)
        finally:
            selector.close()
            sock.close()

    def _replay_logs(self, container: str, follow: bool) -> None:
        """Output from the engine's log driver that the log file does not hold yet, with its original
        times; with follow, until the container's output ends."""
        skip = dict(self.counted)
        response = self.engine.logs(container, follow=follow)
        splitter = FrameSplitter(join=False)
        selector = selectors.DefaultSelector()
        selector.register(response.sock, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while True:
                if self.cancel_requested and not self.stop_sent:
                    self._send_stop()
                data = response.take()
                if data is None:
                    return
                if not data:  # wait for output or a cancel, whichever comes first
                    ready = {key.fd for key, _ in selector.select(1.0)}
                    if self._wake_r in ready:
                        self._drain_wake()
                    if response.sock.fileno() in ready:
                        try:
                            if not response.fill():
                                return
                        except OSError as error:
                            raise EngineLost(str(error)) from error
                    continue
                for frame, message in splitter.feed(data):
                    # One frame per log message: "<RFC 3339 time> <bytes as written>".
                    at, _, text = message.partition(b" ")
                    remaining = skip.get(frame, 0)
                    if remaining >= len(text):
                        skip[frame] = remaining - len(text)
                        continue
                    skip[frame] = 0
                    self._write(frame, text[remaining:], _parse_time(at))
        finally:
            selector.close()
            response.close()

    def _send_stop(self) -> None:
        self.stop_sent = True
        grace = self._grace_seconds()
        self.log.note(f"cancel requested: stopping the container (SIGTERM, SIGKILL after {grace}s)")
        container = self.container

        def stop() -> None:
            try:
                self.engine.stop_container(container, grace)
            except LaunchError as error:
                self.log.note(f"stopping the container failed: {error}")

        threading.Thread(target=stop, daemon=True).start()

    def _drain_wake(self) -> None:
        try:
            os.read(self._wake_r, 4096)
        except BlockingIOError:
            pass

    # -- resuming -------------------------------------------------------------------------------------
    def _find_container(self, record: dict[str, Any]) -> str | None:
        while True:
            try:
                container = record["handle"].get("container_id")
                if container and self.engine.inspect_container(container) is not None:
                    return container
                found = self.engine.containers({"launcher.run_id": self.run_id,
                                                "launcher.workspace": self.plan["workspace"]})
                return found[0]["Id"] if found else None
            except EngineUnavailable:
                if not self._await_engine():
                    return None

    def _resume(self, container: str) -> None:
        """Pick the run up from its container, whatever state it is in now."""
        self.container = container
        while True:
            try:
                info = self.engine.inspect_container(container)
                if info is None:
                    self._end(states.FAILED, "the run's container is gone; its exit code is unknown")
                    return
                status = info["State"]["Status"]
                if status == "created":  # an earlier supervisor died between creating and starting it
                    self._remove()
                    self.container = None
                    self._start()
                    return
                if self.cancel_requested and info["State"]["Running"] and not self.stop_sent:
                    self._send_stop()
                self.store.transition(self.run_id, states.RUNNING)
                following = bool(info["State"]["Running"])
                self._replay_logs(container, follow=following)
                exit_code = self.engine.wait_container(container)
                if following:
                    # A follow-mode /logs ends when the container exits without sending a last message
                    # that has no newline; a plain replay has it (the skip counts drop the rest).
                    self._replay_logs(container, follow=False)
            except (EngineLost, EngineUnavailable):
                if not self._await_engine():
                    return
                continue
            self._finish(exit_code)
            return

    def _engine_lost(self) -> None:
        if not self._await_engine():
            return
        self._resume(self.container)

    def _await_engine(self) -> bool:
        """Wait until the engine answers again (True) or the run is cancelled meanwhile (False)."""
        if not self.engine_was_lost:
            self.log.note(f"lost the connection to the Docker engine at {self.engine.host}; "
                          "waiting for it to answer again")
        self.engine_was_lost = True
        self.store.update_handle(self.run_id, engine_lost_at=time.time())
        while True:
            try:
                self.engine.ping(timeout=2.0)
                self.log.note("the Docker engine answers again")
                return True
            except EngineUnavailable:
                pass
            if self.cancel_requested:
                self._leave_container()
                self._end(states.STOPPED, "stopped by request while the Docker engine was not answering; "
                                          "its container could not be stopped or removed yet (the workspace "
                                          "removes it when it next reaches the engine)")
                return False
            end = time.monotonic() + ENGINE_RETRY_SECONDS
            while time.monotonic() < end and not self.cancel_requested:
                time.sleep(0.05)

    # -- ending ---------------------------------------------------------------------------------------
    def _remove(self) -> None:
        if self.container is None or self.plan.get("keep"):
            return
        try:
            self.engine.remove_container(self.container)
        except LaunchError as error:
            self.log.note(f"removing container {self.container[:12]} failed: {error}")
            self._leave_container()

    def _leave_container(self) -> None:
        """The run ends with its container perhaps still on the engine: a later use removes it."""
        if not self.plan.get("keep"):
            from launcher.containers import leftovers

            leftovers.mark(self.plan["workspace"], self.run_id)

    def _finish(self, exit_code: int) -> None:
        self._remove()
        lost = " (the Docker engine went away during the run)" if self.engine_was_lost else ""
        if self.cancel_requested:
            self._end(states.STOPPED, "stopped by request", exit_code)
        elif exit_code == 0:
            self._end(states.FINISHED, "the Docker engine went away during the run" if lost else None, 0)
        elif exit_code > 128 and exit_code - 128 in signal.Signals._value2member_map_:
            self._end(states.FAILED, f"killed by {signal.Signals(exit_code - 128).name}{lost}", exit_code)
        else:
            self._end(states.FAILED, f"exit code {exit_code}{lost}", exit_code)

    def _fail_start(self, message: str) -> None:
        self.log.note(message)
        self.store.transition(self.run_id, states.START_FAILED, message=message)

    def _end(self, state: str, message: str | None, exit_code: int | None = None) -> None:
        if message and state != states.FINISHED:
            self.log.note(message)
        self.store.transition(self.run_id, state, message=message, exit_code=exit_code)


def _parse_time(stamp: bytes) -> float | None:
    import calendar  # only replays need it, and it costs ~9 ms to import

    try:
        text = stamp.decode()
        whole, _, fraction = text.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))
    except ValueError:
        return None


def main() -> int:
    run_dir = Path(sys.argv[1])
    lock_fd = int(sys.argv[2])  # inherited, already locked: held until this process ends
    options = sys.argv[3:]
    attached = None
    if options[:1] == ["--attached"]:  # CONTAINER SOCKET_FD: an inherited attach connection
        attached = (options[1], socket.socket(fileno=int(options[2])))
    supervisor = ContainerSupervisor(run_dir, reattach="--reattach" in options)
    try:
        supervisor.run(attached)
        return 0
    except BaseException as error:  # a supervisor must never leave its run looking alive
        supervisor.log.note(f"supervisor error: {error!r}")
        if supervisor.container is not None:
            supervisor._leave_container()
        supervisor.store.transition(supervisor.run_id, states.FAILED, message=f"supervisor error: {error!r}")
        raise
    finally:
        supervisor.log.close()
        os.close(lock_fd)
