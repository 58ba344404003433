"""The run monitor of the ray resource: one small process per Ray run, in its own session.

It follows the Ray job's log into the run's log file as it is written, moves the run's state as Ray
reports it, and records the end. It is detached from the process that launched the run, so the run is
followed (and its log file kept current) after that process has gone; a lock file makes sure only one
monitor follows a run, and `RayRunner.reattach` starts a new one when none holds it.

A cluster that stops answering is reported in the run's log and retried with backoff; it never ends the
run, let alone as a success. Only the cluster's own word (the job's terminal status, or that it no longer
knows the job) does. After a long outage (GIVE_UP_ENV, default ten minutes) the monitor says so in the
log, records when it gave up, and exits leaving the run as it is; `RayRunner.reattach` starts another
one later, but not sooner than REATTACH_PAUSE_ENV after that.

The end is decided by the job's status alone. The job's full log is then fetched once more to catch up
on what the tail had not delivered; that fetch is best effort (a few tries), because a log Ray cannot
serve must not keep a finished run running.

Run as `python -P -m launcher.runners.ray_monitor DB RUN_DIR RUN_ID`; it imports neither Ray nor the
engine's heavier modules, so it starts in a fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher import states
from launcher.logfile import LogWriter
from launcher.processes import try_lock
from launcher.runners.ray_jobs_api import ClusterAnswerError, ClusterError, JobNotFound, RayJobsApi
from launcher.runners.ray_logs import HEADER_NOTE_PREFIX, LogFollower
from launcher.store import Store

LOCK_FILE = "ray-monitor.lock"
CANCEL_FILE = "cancel.json"
LOG_FILE = "output.log"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
#: Status polls are fast for a run's first seconds (short runs end quickly; a poll costs the dashboard
#: about a millisecond), then slow down to POLL_MAX for long runs.
POLL_FAST, POLL_FAST_FOR, POLL_MAX = 0.05, 10.0, 1.0
RETRY_FIRST, RETRY_MAX = 0.5, 30.0
STATUS, LOG_STREAM = "job status", "log stream"
PENDING_STOP_MESSAGE = "stopped by request while pending on the Ray cluster (before its entry point started)"
#: Tries at the job's full log once it has ended (RETRY_FIRST doubling in between: about 3.5 s).
LOG_FETCH_TRIES = 4
#: How often the raw log is read once Ray's stream cannot carry the job's output (see _tail).
RAW_POLL_SECONDS = 1.0
#: Seconds of a cluster not answering after which a monitor gives up, and after which reattach may
#: start another one; environment variables override them (tests use short ones).
GIVE_UP_ENV, GIVE_UP_DEFAULT = "LAUNCHER_RAY_GIVE_UP_AFTER", 600.0
REATTACH_PAUSE_ENV, REATTACH_PAUSE_DEFAULT = "LAUNCHER_RAY_REATTACH_PAUSE", 300.0


def seconds_setting(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


class GaveUp(Exception):
    """The cluster has not answered for longer than the monitor waits."""

    def __init__(self, since: float) -> None:
        super().__init__(since)
        self.since = since  # wall-clock time the outage began


def monitor_alive(run_dir: Path) -> bool:
    fd = try_lock(run_dir / LOCK_FILE)
    if fd is None:
        return True
    os.close(fd)  # closing releases the lock
    return False


class Monitor:
    def __init__(self, store: Store, run_dir: Path, run_id: str) -> None:
        self.store = store
        self.run_dir = run_dir
        self.run_id = run_id
        self.log = LogWriter(run_dir / LOG_FILE)
        record = store.get_run(run_id)
        if record is None:
            raise RuntimeError(f"run {run_id} is not in the store")
        self.handle: dict[str, Any] = record["handle"]
        self.address: str = self.handle["address"]
        self.jobs = RayJobsApi(self.address)
        self.follower = LogFollower(self.log, run_id, self.handle["entrypoint"], run_dir / LOG_FILE)
        self.running_recorded = record["state"] == states.RUNNING
        self.give_up_after = seconds_setting(GIVE_UP_ENV, GIVE_UP_DEFAULT)
        #: channel -> (monotonic, wall-clock) time the outage on it began
        self._down_since: dict[str, tuple[float, float]] = {}
        self._tail_ended = asyncio.Event()
        self._tail_task: asyncio.Task | None = None
        self._status_came_back = False

    # -- connection trouble ---------------------------------------------------------------------------
    # Reported once per outage and per channel (job status, log stream), so a log stream that keeps
    # breaking while status requests go through does not fill the run's log with notes.
    def _lost(self, channel: str, error: Exception) -> None:
        if channel not in self._down_since:
            self._down_since[channel] = (time.monotonic(), time.time())
            self.log.note(f"lost connection to the Ray cluster at {self.address} ({channel}): {error}; retrying")

    def _back(self, channel: str) -> bool:
        since = self._down_since.pop(channel, None)
        if since is None:
            return False
        self.log.note(f"reconnected to the Ray cluster at {self.address} ({channel}) after "
                      f"{time.monotonic() - since[0]:.1f}s")
        return True

    async def _call(self, function, *args):
        """A Jobs API call, retried with backoff until the cluster answers (JobNotFound is an answer),
        or until it has not for give_up_after seconds (GaveUp)."""
        delay = RETRY_FIRST
        while True:
            try:
                result = await asyncio.to_thread(function, *args)
            except ClusterError as error:
                self._lost(STATUS, error)
                began, began_wall = self._down_since[STATUS]
                left = began + self.give_up_after - time.monotonic()
                if left <= 0:
                    raise GaveUp(began_wall) from None
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self._back(STATUS):
                self._status_came_back = True
            return result

    # -- following ------------------------------------------------------------------------------------
    async def run(self) -> None:
        if self._ended_elsewhere():
            return
        try:
            job = await self._poll_until_end()
        except GaveUp as gave_up:
            self._give_up(gave_up.since)
            return
        finally:
            await self._stop_tail()
        if job is None:
            return
        if job["status"] != "MISSING" and not job.get("stopped_pending"):
            await self._catch_up(job)
        self._record_end(job)

    def _give_up(self, since: float) -> None:
        when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.log.note(f"giving up on the Ray cluster at {self.address}: cluster unreachable since {when}; "
                      "run state unknown; the next reattach will retry")
        self.store.update_handle(self.run_id, monitor_gave_up_at=time.time())

    def _ended_elsewhere(self) -> bool:
        record = self.store.get_run(self.run_id)
        return record is None or states.is_terminal(record["state"])

    def _cancel_requested(self) -> bool:
        return (self.run_dir / CANCEL_FILE).exists()

    def _start_tail(self) -> None:
        self._tail_task = asyncio.create_task(self._tail())

    async def _stop_tail(self) -> None:
        task, self._tail_task = self._tail_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tail(self) -> None:
        delay = RETRY_FIRST
        raw_node = None  # set once Ray's text stream has stopped at output that is not UTF-8
        while True:
            self.follower.reset()
            try:
                if raw_node is not None:
                    await self._feed_raw_lines(raw_node)
                    self._back(LOG_STREAM)
                    delay = RETRY_FIRST
                    await asyncio.sleep(RAW_POLL_SECONDS)
                    continue
                async for chunk in self.jobs.tail(self.run_id):
                    self._back(LOG_STREAM)
                    delay = RETRY_FIRST
                    self.follower.feed(chunk)
            except JobNotFound:
                self._tail_ended.set()
                return
            except ClusterError as error:
                self._lost(LOG_STREAM, error)
            else:
                # The stream ended: normally because the job has; the status poll decides, and
                # cancels this task. If the job goes on after all, follow it again.
                self._tail_ended.set()
                raw_node = await self._stopped_at_undecodable_output()
                if raw_node is not None:
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _stopped_at_undecodable_output(self) -> str | None:
        """The driver's node when the job still runs and Ray cannot serve its log as text: Ray's tail
        ends early, without an error, at the first byte that is not UTF-8, and would stop there at every
        reconnection. The log is then read raw from that node instead."""
        try:
            job = await asyncio.to_thread(self.jobs.job, self.run_id)
            if job.get("status") != "RUNNING" or not job.get("driver_node_id"):
                return None
            await asyncio.to_thread(self.jobs.logs, self.run_id)
        except ClusterAnswerError:
            self.log.note("the job's output is not UTF-8 text, which Ray's log stream cannot carry; "
                          f"reading its raw log every {RAW_POLL_SECONDS:g}s instead")
            return job["driver_node_id"]
        except (ClusterError, JobNotFound):
            return None
        return None

    async def _feed_raw_lines(self, node: str) -> None:
        """The job's raw log up to its last complete line (a character cut in two at the end would be
        counted differently once whole); the rest comes with the next read, or at the end."""
        raw = await asyncio.to_thread(self.jobs.driver_log, node, self.run_id)
        complete = raw[:raw.rfind(b"\n") + 1]
        self.follower.feed(complete.decode("utf-8", "surrogateescape"))

    async def _poll_until_end(self) -> dict[str, Any] | None:
        """The job's final details; None when the run was ended by someone else."""
        fast_until = time.monotonic() + POLL_FAST_FOR
        delay = POLL_FAST
        while True:
            if self._ended_elsewhere():
                return None
            try:
                job = await self._call(self.jobs.job, self.run_id)
            except JobNotFound:
                return {"status": "MISSING"}
            status = job.get("status")
            if status in TERMINAL:
                return job
            if status == "PENDING":
                # No log to follow yet (Ray's tail would only wait for the job to be scheduled).
                if self._cancel_requested():
                    return await self._stop_pending(job)
            else:
                if status == "RUNNING":
                    self._record_running()
                if self._status_came_back:
                    # The stream may hang on a connection the outage left half-open: open a new one.
                    self._status_came_back = False
                    await self._stop_tail()
                if self._tail_task is None:
                    self._start_tail()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tail_ended.wait(), delay)
            self._tail_ended.clear()
            if time.monotonic() >= fast_until:
                delay = min(delay * 1.5, POLL_MAX)

    async def _stop_pending(self, job: dict[str, Any]) -> dict[str, Any]:
        """A stop was requested and the job is still waiting to be scheduled. Ray's stop answers
        "stopped" but leaves such a job PENDING (it queues the stop on a job supervisor that does not
        exist yet), so the run is recorded as stopped here; the queued stop ends the job at once if
        the cluster ever schedules it, and Ray fails it when its start timeout passes."""
        with contextlib.suppress(ClusterError, JobNotFound):
            await asyncio.to_thread(self.jobs.stop, self.run_id)
        return {**job, "status": "STOPPED", "stopped_pending": True}

    async def _catch_up(self, job: dict[str, Any]) -> None:
        """Write what the tail had not delivered from the job's full log; say so when it cannot be had."""
        text, problem = await self._full_log(job)
        if text is not None:
            self.follower.finish(text)
        else:
            self.log.note(f"the rest of the job's log could not be fetched from the Ray cluster at {self.address} "
                          f"({problem}); the output above is what arrived while the job ran")

    async def _full_log(self, job: dict[str, Any]) -> tuple[str | None, str]:
        """(the job's whole log, or None; the last problem). Bytes that are not UTF-8 come through as
        surrogate escapes, which the log follower writes back as the same bytes."""
        delay, problem = RETRY_FIRST, ""
        for attempt in range(LOG_FETCH_TRIES):
            try:
                return await asyncio.to_thread(self.jobs.logs, self.run_id), ""
            except JobNotFound:
                return "", ""
            except ClusterAnswerError as error:
                problem = str(error)
                node = job.get("driver_node_id")
                if node:  # Ray cannot serve the log as text: take the raw file from the driver's node
                    try:
                        raw = await asyncio.to_thread(self.jobs.driver_log, node, self.run_id)
                        return raw.decode("utf-8", "surrogateescape"), ""
                    except ClusterError as raw_error:
                        problem = f"{error}; the raw log: {raw_error}"
            except ClusterError as error:
                problem = str(error)
            if attempt + 1 < LOG_FETCH_TRIES:
                await asyncio.sleep(delay)
                delay *= 2
        return None, problem

    def _record_running(self) -> None:
        if not self.running_recorded:
            self.running_recorded = True
            self.store.transition(self.run_id, states.RUNNING)

    def _record_end(self, job: dict[str, Any]) -> None:
        status = job["status"]
        code = job.get("driver_exit_code")
        cancelled = (self.run_dir / CANCEL_FILE).exists()
        if status == "MISSING":
            if cancelled:
                self.store.transition(self.run_id, states.STOPPED, message="stopped by request")
                return
            if not self.handle.get("submitted"):
                message = "the launching process ended before the job reached the Ray cluster"
                self.log.note(message)
                self.store.transition(self.run_id, states.START_FAILED, message=message)
                return
            message = (f"the Ray cluster at {self.address} does not know job {self.run_id} "
                       "(was it restarted, or the job deleted?)")
            self.log.note(message)
            self.store.transition(self.run_id, states.FAILED, message=message)
            return
        if code is not None or status == "SUCCEEDED" or self.follower.header_written:
            self._record_running()  # the entry point did start, however briefly
        if status == "SUCCEEDED":
            self.store.transition(self.run_id, states.FINISHED, exit_code=code if code is not None else 0)
        elif job.get("stopped_pending"):
            self.store.transition(self.run_id, states.STOPPED, message=PENDING_STOP_MESSAGE)
        elif status == "STOPPED":
            self.store.transition(self.run_id, states.STOPPED, message="stopped by request", exit_code=code)
        elif code is None:
            # Ray gave up before the entry point ran (runtime environment, scheduling, supervisor).
            reason = _first_line(job.get("message")) or "the Ray job failed before its entry point started"
            self.log.note("\n".join(HEADER_NOTE_PREFIX + line for line in (job.get("message") or reason).splitlines()))
            if not self.store.transition(self.run_id, states.START_FAILED, message=reason):
                self.store.transition(self.run_id, states.FAILED, message=reason)
        elif code < 0:
            self.store.transition(self.run_id, states.FAILED, message=f"killed by {_signal_name(-code)}",
                                  exit_code=code)
        else:
            self.store.transition(self.run_id, states.FAILED, message=f"exit code {code}", exit_code=code)


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def main(argv: list[str]) -> int:
    db, run_dir, run_id = Path(argv[0]), Path(argv[1]), argv[2]
    lock = try_lock(run_dir / LOCK_FILE)
    if lock is None:
        return 0  # another monitor follows this run
    store = Store(db)
    monitor = Monitor(store, run_dir, run_id)
    store.update_handle(run_id, monitor_pid=os.getpid())
    try:
        asyncio.run(monitor.run())
    except BaseException as error:  # a monitor must never leave its run looking alive for no reason
        message = f"the run's Ray monitor failed: {error!r}"
        monitor.log.note(message)
        store.transition(run_id, states.FAILED, message=message)
        raise
    finally:
        monitor.log.close()
        store.close()
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
