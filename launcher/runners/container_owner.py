"""The local-container resource's owner part: what differs for a program run in a Docker container.

Set-up: find, pull or build (and push) the image. Start: create the container, attach to its output before
starting it (the engine's fast path), start it. Follow: copy the attach stream into the log; on cancel,
stop the container (SIGTERM, grace period, SIGKILL); remove it at the end. End: the container's exit code
under Docker's convention (128+N for signal N). Resume (a new owner after the old one died, or after the
engine went away): state and exit code from the engine, and the output the log does not have yet from the
engine's log driver.

When the image is ready already, the launching process starts the container itself and hands the attach
connection to the owner (`--attached CONTAINER FD`): the owner's start-up then overlaps the container's."""

from __future__ import annotations

import json
import math
import os
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Any

from launcher.containers.engine import (
    STDERR_FRAME,
    STDOUT_FRAME,
    Engine,
    EngineError,
    EngineUnavailable,
    FrameSplitter,
)
from launcher.errors import LaunchError
from launcher.logfile import STDERR, STDOUT, iter_lines
from launcher.runners.owner import Cancelled, OwnerPart, StartFailed
from launcher.runners.ownership import DOCKER, Ending, end_state, write_failure_ending
from launcher.states import RunState

PLAN_FILE = "container.json"
STREAMS = {STDOUT_FRAME: STDOUT, STDERR_FRAME: STDERR}
#: How often an owner whose engine went away asks again.
ENGINE_RETRY_SECONDS = 0.5


def logged_byte_counts(path: str) -> dict[int, int]:
    """How many bytes of each program stream the log file already holds."""
    counts = {STDOUT_FRAME: 0, STDERR_FRAME: 0}
    if not os.path.exists(path):
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
            # The name is taken by a container an earlier owner of this run created, never started.
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


class ContainerPart(OwnerPart):
    def __init__(self, context, arguments: list[str]) -> None:
        super().__init__(context, arguments)
        folder = context.folder
        self.plan: dict[str, Any] = json.loads(Path(folder.file(PLAN_FILE)).read_text())
        self.engine = Engine(self.plan["host"])
        self.stop_sent = False
        self.engine_was_lost = False
        self.container: str | None = None
        self.image: str | None = None
        self.attached: socket.socket | None = None
        self.first = b""
        #: Set when the run's log could not be written (a full disk): the container is stopped.
        self.write_failure: OSError | None = None
        if arguments[:1] == ["--attached"]:  # CONTAINER SOCKET_FD: an inherited attach connection
            self.container = arguments[1]
            self.attached = socket.socket(fileno=int(arguments[2]))
        #: Bytes of each stream written to the log so far (the resume point after a reattach).
        self.counted = logged_byte_counts(folder.log)

    # -- set-up and start -------------------------------------------------------------------------
    def needs_setup(self) -> bool:
        return self.attached is None  # the launching process found the image missing

    def prepare(self) -> None:
        if self.attached is not None:
            return
        from launcher.images.image import Cancelled as ImageCancelled
        from launcher.images.image import resolve_image

        context = self.context
        image_plan = self.plan["image"]
        if "inputs" in image_plan and image_plan["build"] is None:  # the source was checked out just now
            from launcher.images.build_plan import build_plan

            image_plan = dict(image_plan, build=build_plan(image_plan["inputs"], Path(context.folder.source)))
        try:
            with context.interruptible():
                self.image = resolve_image(self.engine, image_plan, Path(context.folder.path),
                                           context.setup_log, context.check_cancel)
        except ImageCancelled:
            raise Cancelled() from None
        except LaunchError as error:
            raise StartFailed(str(error)) from None

    def start(self) -> dict[str, str | int | float | None]:
        if self.attached is not None:  # started by the launching process, which recorded it running
            return {}
        assert self.image is not None
        if self.context.program_env:  # set-up's additions (a tied MLflow run's id)
            settings = self.plan["container"]
            settings["Env"] = [*settings["Env"], *(f"{k}={v}" for k, v in self.context.program_env.items())]
        try:
            self.container, self.attached, self.first = start_container(self.engine, self.plan, self.image)
        except LaunchError as error:
            raise StartFailed(str(error)) from None
        return {"container_id": self.container, "image": self.image}

    # -- following --------------------------------------------------------------------------------
    def follow(self) -> Ending:
        assert self.attached is not None and self.container is not None
        if self.context.check_cancel():
            self._send_stop()  # asked before this owner could receive the signal
        try:
            self._pump_attached(self.attached, self.first)
            exit_code = self.engine.wait_container(self.container)
        except (EngineLost, EngineUnavailable):
            return self._engine_lost()
        return self._finish(exit_code)

    def _write(self, frame: int, data: bytes, at: float | None = None) -> None:
        stream = STREAMS.get(frame)
        if stream is None or self.write_failure is not None:
            return
        try:
            self.context.log.write(stream, data, at)
        except OSError as error:  # the output cannot be kept: stop the container rather than lose it
            self.write_failure = error
            if not self.stop_sent:
                self._send_stop(grace=0)
            return
        self.counted[frame] += len(data)

    def _pump_attached(self, sock: socket.socket, first: bytes) -> None:
        """Copy the attach stream into the log until the container's output ends; cancel on request."""
        context = self.context
        splitter = FrameSplitter()
        for frame, data in splitter.feed(first):
            self._write(frame, data)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        selector.register(context.wake_r, selectors.EVENT_READ)
        recv = sock.recv
        try:
            while True:
                if context.cancel_requested and not self.stop_sent:
                    self._send_stop()
                for key, _ in selector.select(1.0):
                    if key.fd == context.wake_r:
                        context.drain_wake()
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
        context = self.context
        skip = dict(self.counted)
        response = self.engine.logs(container, follow=follow)
        splitter = FrameSplitter(join=False)
        selector = selectors.DefaultSelector()
        selector.register(response.sock, selectors.EVENT_READ)
        selector.register(context.wake_r, selectors.EVENT_READ)
        try:
            while True:
                if context.cancel_requested and not self.stop_sent:
                    self._send_stop()
                data = response.take()
                if data is None:
                    return
                if not data:  # wait for output or a cancel, whichever comes first
                    ready = {key.fd for key, _ in selector.select(1.0)}
                    if context.wake_r in ready:
                        context.drain_wake()
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

    def _grace_seconds(self) -> int:
        grace = self.context.grace_period(float(self.plan.get("grace_period", 10.0)))
        return max(0, math.ceil(grace))

    def _send_stop(self, grace: int | None = None) -> None:
        self.stop_sent = True
        if grace is None:
            grace = self._grace_seconds()
            self.context.note(f"cancel requested: stopping the container (SIGTERM, SIGKILL after {grace}s)")
        container = self.container
        engine = self.engine
        context = self.context

        def stop() -> None:
            try:
                engine.stop_container(container, grace)
            except LaunchError as error:
                context.note(f"stopping the container failed: {error}")

        threading.Thread(target=stop, daemon=True).start()

    # -- resuming ---------------------------------------------------------------------------------
    def resume(self) -> Ending | None:
        context = self.context
        context.note("owner reattaching to the run")
        record = context.store.get_run(context.run_id)
        if record is None:
            return None
        container = self._find_container(record.handle.get("container_id"))
        if isinstance(container, Ending):
            return container
        if container is None:
            return Ending(RunState.FAILED, None, "the run's container is gone; its exit code is unknown")
        return self._resume(container)

    def _find_container(self, recorded: Any) -> str | None | Ending:
        while True:
            try:
                if isinstance(recorded, str) and recorded and self.engine.inspect_container(recorded) is not None:
                    return recorded
                found = self.engine.containers({"launcher.run_id": self.context.run_id,
                                                "launcher.workspace": self.plan["workspace"]})
                return found[0]["Id"] if found else None
            except EngineUnavailable:
                ending = self._await_engine()
                if ending is not None:
                    return ending

    def _resume(self, container: str) -> Ending:
        """Pick the run up from its container, whatever state it is in now."""
        context = self.context
        self.container = container
        while True:
            try:
                info = self.engine.inspect_container(container)
                if info is None:
                    return Ending(RunState.FAILED, None, "the run's container is gone; its exit code is unknown")
                if info["State"]["Status"] == "created":
                    # An earlier owner died between creating and starting it: nothing ran.
                    self._remove()
                    return Ending(RunState.FAILED, None, "the run's owner ended before the container started")
                if context.check_cancel() and info["State"]["Running"] and not self.stop_sent:
                    self._send_stop()
                context.store.transition(context.run_id, RunState.RUNNING, clear_message=True)
                following = bool(info["State"]["Running"])
                self._replay_logs(container, follow=following)
                exit_code = self.engine.wait_container(container)
                if following:
                    # A follow-mode /logs ends when the container exits without sending a last message
                    # that has no newline; a plain replay has it (the skip counts drop the rest).
                    self._replay_logs(container, follow=False)
            except (EngineLost, EngineUnavailable):
                ending = self._await_engine()
                if ending is not None:
                    return ending
                continue
            return self._finish(exit_code)

    def _engine_lost(self) -> Ending:
        ending = self._await_engine()
        if ending is not None:
            return ending
        assert self.container is not None
        return self._resume(self.container)

    def _await_engine(self) -> Ending | None:
        """Wait until the engine answers again (None), or the run is cancelled meanwhile (its ending)."""
        context = self.context
        if not self.engine_was_lost:
            context.note(f"lost the connection to the Docker engine at {self.engine.host}; "
                         "waiting for it to answer again")
        self.engine_was_lost = True
        context.update_handle(engine_lost_at=time.time())
        while True:
            try:
                self.engine.ping(timeout=2.0)
                context.note("the Docker engine answers again")
                return None
            except EngineUnavailable:
                pass
            if context.check_cancel():
                self._leave_container()
                return Ending(RunState.STOPPED, None, "stopped by request while the Docker engine was not answering; its "
                                             "container could not be stopped or removed yet (the workspace removes "
                                             "it when it next reaches the engine)")
            end = time.monotonic() + ENGINE_RETRY_SECONDS
            while time.monotonic() < end and not context.cancel_requested:
                time.sleep(0.05)

    # -- ending -----------------------------------------------------------------------------------
    def _remove(self) -> None:
        if self.container is None or self.plan.get("keep"):
            return
        try:
            self.engine.remove_container(self.container)
        except LaunchError as error:
            self.context.note(f"removing container {self.container[:12]} failed: {error}")
            self._leave_container()

    def _leave_container(self) -> None:
        """The run ends with its container perhaps still on the engine: a later use removes it."""
        if not self.plan.get("keep"):
            from launcher.containers import leftovers

            leftovers.mark(self.plan["workspace"], self.context.run_id)

    def _finish(self, exit_code: int) -> Ending:
        self._remove()
        if self.write_failure is not None:
            return write_failure_ending(self.context.folder, self.write_failure, exit_code)
        remark = "the Docker engine went away during the run" if self.engine_was_lost else ""
        return end_state(exit_code, convention=DOCKER, cancelled=self.context.cancel_requested, remark=remark)

    def abandon(self) -> None:
        if self.container is not None:
            self._leave_container()


def _parse_time(stamp: bytes) -> float | None:
    import calendar  # only replays need it, and it costs ~9 ms to import

    try:
        text = stamp.decode()
        whole, _, fraction = text.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))
    except ValueError:
        return None
