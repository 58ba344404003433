"""The ray resource's owner part: what differs for a run that is a job on a Ray cluster.

Set-up: stage the run's source with its config file (launcher/runners/ray_package.py) and submit it as a
Ray job whose submission id is the run id (Ray's SDK packages and uploads the working directory: slow, so
the run shows `preparing`; a cancel interrupts it). Follow: the job's log into the run's log as it is
written, the run's state as Ray reports it; on cancel, Ray's stop. End: the job's status, mapped through
the one end-state function (its driver exit code follows the process convention). A Ray job goes on
without its owner: a new owner resumes following it (`--resume`).

A cluster that stops answering is reported in the run's log and retried with backoff; it never ends the
run, let alone as a success. Only the cluster's own word (the job's terminal status, or that it no longer
knows the job) does. After a long outage (GIVE_UP_ENV, default ten minutes) the owner says so in the
log, records when it gave up, and exits leaving the run as it is; the next look at the run starts another
owner, but not sooner than REATTACH_PAUSE_ENV after that.

The end is decided by the job's status alone. The job's full log is then fetched once more to catch up
on what the tail had not delivered; that fetch is best effort (a few tries), because a log Ray cannot
serve must not keep a finished run running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.runners.owner import Cancelled, OwnerPart, StartFailed
from launcher.runners.ownership import PROCESS, Ending, end_state
from launcher.runners.ray_jobs_api import ClusterAnswerError, ClusterError, JobNotFound, RayJobsApi
from launcher.runners.ray_logs import HEADER_NOTE_PREFIX, LogFollower
from launcher.states import RunState

PLAN_FILE = "ray.json"
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
#: Seconds of a cluster not answering after which an owner gives up, and after which another owner may
#: be started; environment variables override them (tests use short ones).
GIVE_UP_ENV, GIVE_UP_DEFAULT = "LAUNCHER_RAY_GIVE_UP_AFTER", 600.0
REATTACH_PAUSE_ENV, REATTACH_PAUSE_DEFAULT = "LAUNCHER_RAY_REATTACH_PAUSE", 300.0
STAGING_DIR = "ray-working-dir"


def seconds_setting(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


class GaveUp(Exception):
    """The cluster has not answered for longer than the owner waits."""

    def __init__(self, since: float) -> None:
        super().__init__(since)
        self.since = since  # wall-clock time the outage began


class JobFollower:
    """Follows a submitted job to its end: its log into the run's log, its status into the run's state;
    stops it on a cancel request."""

    def __init__(self, context, address: str, entrypoint: str, *, submitted: bool, running: bool) -> None:
        self.context = context
        self.run_id = context.run_id
        self.log = context.log
        self.address = address
        self.submitted = submitted
        self.jobs = RayJobsApi(address)
        self.follower = LogFollower(self.log, self.run_id, entrypoint, Path(context.folder.log))
        self.running_recorded = running
        self.stop_sent = False
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
    async def run(self) -> Ending | None:
        """The job's ending; None when the run was ended elsewhere, or the cluster stopped answering for
        so long that this owner gave up (the run is left as it is for a later owner)."""
        if self._ended_elsewhere():
            return None
        try:
            job = await self._poll_until_end()
        except GaveUp as gave_up:
            self._give_up(gave_up.since)
            return None
        finally:
            await self._stop_tail()
        if job is None:
            return None
        if job["status"] != "MISSING" and not job.get("stopped_pending"):
            await self._catch_up(job)
        return self._ending(job)

    def _give_up(self, since: float) -> None:
        when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.log.note(f"giving up on the Ray cluster at {self.address}: cluster unreachable since {when}; "
                      "run state unknown; the next look at the run will retry")
        self.context.update_handle(monitor_gave_up_at=time.time())

    def _ended_elsewhere(self) -> bool:
        state = self.context.state()
        return state is None or state.is_terminal()

    def _cancel_requested(self) -> bool:
        return self.context.check_cancel()

    async def _stop_running(self) -> None:
        """Ray's stop: SIGTERM to the entry point, SIGKILL after RAY_JOB_STOP_WAIT_TIME_S."""
        if self.stop_sent:
            return
        self.stop_sent = True
        self.log.note("cancel requested: asking the Ray cluster to stop the job")
        with contextlib.suppress(ClusterError, JobNotFound):
            await asyncio.to_thread(self.jobs.stop, self.run_id)

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
                if self._cancel_requested():
                    await self._stop_running()
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
        self.log.note("stopped while still pending on the Ray cluster; Ray keeps the job listed as PENDING "
                      "until it is scheduled (then it stops at once) or its start timeout passes")
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
            self.context.mark_running()

    def _ending(self, job: dict[str, Any]) -> Ending:
        status = job["status"]
        code = job.get("driver_exit_code")
        cancelled = self.context.check_cancel()
        if status == "MISSING":
            if cancelled:
                return Ending(RunState.STOPPED, None, "stopped by request")
            if not self.submitted:
                return Ending(RunState.START_FAILED, None, "the launching process ended before the job reached the Ray cluster")
            return Ending(RunState.FAILED, None, f"the Ray cluster at {self.address} does not know job {self.run_id} "
                                        "(was it restarted, or the job deleted?)")
        if code is not None or status == "SUCCEEDED" or self.follower.header_written:
            self._record_running()  # the entry point did start, however briefly
        if status == "SUCCEEDED":
            return end_state(code if code is not None else 0, convention=PROCESS)
        if job.get("stopped_pending"):
            return Ending(RunState.STOPPED, None, PENDING_STOP_MESSAGE)
        if status == "STOPPED":
            return end_state(code, convention=PROCESS, cancelled=True)
        if code is None:
            # Ray gave up before the entry point ran (runtime environment, scheduling, supervisor).
            reason = _first_line(job.get("message")) or "the Ray job failed before its entry point started"
            self.log.note("\n".join(HEADER_NOTE_PREFIX + line for line in (job.get("message") or reason).splitlines()))
            return Ending(RunState.START_FAILED if not self.running_recorded else RunState.FAILED, None, reason)
        return end_state(code, convention=PROCESS, cancelled=cancelled)


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


class RayPart(OwnerPart):
    def __init__(self, context, arguments: list[str]) -> None:
        super().__init__(context, arguments)
        self.plan: dict[str, Any] = json.loads(Path(context.folder.file(PLAN_FILE)).read_text())

    def needs_setup(self) -> bool:
        return True  # packaging and uploading the source takes a while

    def prepare(self) -> None:
        from launcher.errors import LaunchError
        from launcher.runners.ray_submit import stage_and_submit

        context = self.context
        folder = context.folder
        self.plan["env_vars"].update(context.program_env)  # set-up's additions (a tied MLflow run's id)
        try:
            with context.interruptible():
                stage_and_submit(self.plan, Path(folder.path), Path(folder.file(STAGING_DIR)), context.step)
        except Cancelled:
            self._stop_if_submitted()  # the upload may have finished just before the interrupt
            raise
        except LaunchError as error:
            if context.check_cancel():  # the interrupt surfaced as the library's own error
                self._stop_if_submitted()
                raise Cancelled() from None
            raise StartFailed(str(error)) from None
        context.update_handle(submitted=True)
        if context.check_cancel():
            self._stop_if_submitted()
            raise Cancelled()

    def _stop_if_submitted(self) -> None:
        with contextlib.suppress(ClusterError, JobNotFound):
            RayJobsApi(self.plan["address"]).stop(self.context.run_id)

    def start(self) -> None:
        return None  # submitted in prepare; the run is running once Ray says so (JobFollower)

    def follow(self) -> Ending | None:
        return self._follow(submitted=True, running=False)

    def resume(self) -> Ending | None:
        self.context.note("owner reattaching to the Ray job")
        state = self.context.state()
        return self._follow(submitted=True, running=state is RunState.RUNNING)

    def _follow(self, *, submitted: bool, running: bool) -> Ending | None:
        follower = JobFollower(self.context, self.plan["address"], self.plan["entrypoint"],
                               submitted=submitted, running=running)
        return asyncio.run(follower.run())
