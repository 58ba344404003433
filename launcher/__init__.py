"""launcher: a local-first experiment launcher.

    from launcher import Api, launch
    run = launch(Api(), job="me/demo/train:latest", config={"overrides": {"run_config": {"lr": 0.1}}})

Names are imported on first use so that `import launcher` (and `launcher --help`) stays fast."""

from __future__ import annotations

__all__ = ["Api", "ExecutionError", "LaunchError", "Run", "launch", "launch_add"]

_EXPORTS = {
    "Api": "launcher.api",
    "launch": "launcher.launch",
    "launch_add": "launcher.queue",
    "Run": "launcher.run",
    "LaunchError": "launcher.errors",
    "ExecutionError": "launcher.errors",
}

TYPE_CHECKING = False  # not imported from typing: it costs start-up time
if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.errors import ExecutionError, LaunchError
    from launcher.launch import launch
    from launcher.run import Run


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
