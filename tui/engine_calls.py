"""Blocking engine calls off the UI thread: ONE helper for every screen.

The engine's calls read SQLite, files, Docker or a cluster; the UI thread must never wait on them.
`in_thread` runs one in a thread worker (what `@work(thread=True)` does), hands its result back to the
UI thread, and turns its failure into a notification: a LaunchError's one line as it is, anything else
named as unexpected (a bug must show, not vanish in a worker)."""

from __future__ import annotations

import inspect
import itertools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from textual.dom import DOMNode
from textual.worker import Worker

from launcher.errors import LaunchError

T = TypeVar("T")

#: How long an error notification stays up (seconds): long enough to read a one-line error.
ERROR_SECONDS = 8.0


def error_text(error: BaseException) -> str:
    """What a failure says: an engine error as it is, anything else with its type."""
    return str(error) if isinstance(error, LaunchError) else f"unexpected error: {type(error).__name__}: {error}"


def as_launch_error(error: BaseException) -> LaunchError:
    return error if isinstance(error, LaunchError) else LaunchError(error_text(error))


def notify_error(node: DOMNode, error: LaunchError, prefix: str = "") -> None:
    node.notify(f"{prefix}{error}", severity="error", timeout=ERROR_SECONDS)


def in_thread(node: DOMNode, call: Callable[[], T], *, then: Callable[[T], object] | None = None,
              failed: Callable[[LaunchError], object] | None = None, group: str = "engine",
              exclusive: bool = False, prefix: str = "") -> Worker[None]:
    """Run `call` in a thread worker of `node`; then, on the UI thread, `then(result)`, or on an error
    `failed(error)` (default: an error notification, `prefix` before its text). `then` and `failed` may be
    coroutine functions. Nothing is handed to a node that has left the screen.

    exclusive: calls of the group replace each other (a refresh, a lookup of what is typed): the result
    of an older call that ends after a newer one is dropped. A thread cannot be interrupted, so an older
    call that ends first is still handed over: a slow refresh shows, rather than being dropped forever
    by the next one."""
    app = node.app
    serial = next(_serials)

    async def deliver(callback: Callable[[Any], object], value: Any) -> None:
        """On the UI thread."""
        if not node.is_attached:
            return
        if exclusive:
            delivered = _delivered.setdefault(node, {})
            if delivered.get(group, -1) > serial:
                return  # a newer call of the group was handed over already
            delivered[group] = serial
        try:
            result = callback(value)
            if inspect.isawaitable(result):
                await result
        except Exception as error:  # noqa: BLE001 - a bug in showing the result: said, not lost in the worker
            notify_error(node, as_launch_error(error), prefix)

    def run() -> None:
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 - every failure is shown, never a traceback
            app.call_from_thread(deliver, failed or (lambda e: notify_error(node, e, prefix)), as_launch_error(error))
            return
        if then is not None:
            app.call_from_thread(deliver, then, result)

    return node.run_worker(run, name=getattr(call, "__name__", group), group=group, thread=True,
                           exit_on_error=False)


_serials = itertools.count()
#: node -> {group: serial of the newest exclusive call handed over}; forgotten with the node.
_delivered: weakref.WeakKeyDictionary[DOMNode, dict[str, int]] = weakref.WeakKeyDictionary()
