"""The Python API's promise for synchronous=False: the launching process waits for its unfinished runs
when it exits, and stops them when it is interrupted (SIGINT, SIGTERM). The CLI and the TUI submit runs
without this, so their runs outlive them."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.run import Run

_tracked: list[Run] = []
_lock = threading.Lock()
_installed = False


def track(run: Run) -> None:
    global _installed
    with _lock:
        _tracked.append(run)
        if _installed:
            return
        _installed = True
    atexit.register(_wait_for_runs)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _make_handler(signum, signal.getsignal(signum)))


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that a synchronous launch can stop its run on the way out."""


@contextmanager
def stop_on_termination(run: Run) -> Iterator[None]:
    """While a synchronous launch waits: Ctrl-C (SIGINT) or SIGTERM stops the run, then ends the caller as
    the signal would have."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def terminated(signum: int, frame: object) -> None:
            raise _Terminated()
        previous = signal.signal(signal.SIGTERM, terminated) or signal.SIG_DFL
    try:
        yield
    except KeyboardInterrupt:
        run.cancel()
        raise
    except _Terminated:
        run.cancel()
        stop_all()  # the caller's asynchronous runs too, as their own SIGTERM handling would
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _unfinished() -> list[Run]:
    with _lock:
        runs = list(_tracked)
    result = []
    for run in runs:
        try:
            if not run.get_status().done:
                result.append(run)
        except Exception:  # noqa: BLE001 - the workspace may be closed already
            continue
    return result


def stop_all() -> None:
    for run in _unfinished():
        try:
            run.cancel(wait=False)
        except Exception:  # noqa: BLE001 - stop as many as possible
            continue
    for run in _unfinished():
        try:
            run.wait(timeout=60)
        except Exception:  # noqa: BLE001
            continue


def _wait_for_runs() -> None:
    try:
        for run in _unfinished():
            run.wait()
    except KeyboardInterrupt:
        stop_all()


def _make_handler(signum: int, previous):
    def handler(received: int, frame) -> None:
        stop_all()
        signal.signal(signum, previous)
        if callable(previous):
            previous(received, frame)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), received)
    return handler
