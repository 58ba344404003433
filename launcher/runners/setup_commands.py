"""Set-up commands an owner runs before the program (an environment install, a checkout helper): output
streamed into the run's log as it comes, stopped with their whole process group on a cancel request."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext

READ_BYTES = 1 << 16


def run_streamed(context: SetupContext, argv: list[str], *, grace: float, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
    from launcher.runners.ownership import Cancelled, StartFailed

    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=env, cwd=cwd, process_group=0, close_fds=True)
    except OSError as error:
        raise StartFailed(f"set-up command {argv[0]!r} could not start: {error.strerror or error}") from None
    assert process.stdout is not None
    out = process.stdout.fileno()
    kill_at: float | None = None
    try:
        while True:
            if kill_at is None and context.check_cancel():
                _signal_group(process.pid, signal.SIGTERM)
                kill_at = time.monotonic() + context.grace_period(grace)
            if kill_at is not None and time.monotonic() >= kill_at:
                _signal_group(process.pid, signal.SIGKILL)
            ready, _, _ = select.select([out, context.wake_r], [], [], 0.5)
            if context.wake_r in ready:
                context.drain_wake()
            if out in ready:
                data = os.read(out, READ_BYTES)
                if not data:
                    break
                context.setup_output(data)
    finally:
        process.stdout.close()
        code = _wait_group(process, kill_at)
    if kill_at is not None:
        raise Cancelled()
    if code != 0:
        raise StartFailed(f"set-up command {' '.join(argv[:3])} ... exited with code {code}")


def _wait_group(process: subprocess.Popen, kill_at: float | None) -> int:
    """Wait for the command; then stop anything it left in its process group."""
    try:
        code = process.wait(timeout=None if kill_at is None else max(0.0, kill_at - time.monotonic()) + 5)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        code = process.wait()
    _signal_group(process.pid, signal.SIGKILL)
    return code


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
