"""launcher: a local-first experiment launcher.

    from launcher import Api, launch
    run = launch(Api(), job="me/demo/train:latest", config={"overrides": {"run_config": {"lr": 0.1}}})

Names are imported on first use so that `import launcher` (and `launcher --help`) stays fast.

The public API is this package's names and the modules in PUBLIC_MODULES; the TUI (and any other
front end) uses nothing else, and never the store directly. The other modules are the engine's insides."""

from __future__ import annotations

__all__ = ["Api", "ExecutionError", "LaunchError", "Run", "launch", "launch_add"]

PUBLIC_MODULES = (
    "launcher",
    "launcher.api",       # Api and its sub-façades: api.jobs, api.runs, api.queues, api.sweeps, api.settings
    "launcher.run",       # Run: status, wait, cancel, logs, events
    "launcher.launching", # launch(), and submit() for launches that outlive the caller
    "launcher.spec",      # merge_request(): validating launch settings before launching
    "launcher.errors",    # the LaunchError family
    "launcher.states",    # the state enums: RunState, ItemState, SweepState, AgentState
    "launcher.records",   # typed records: RunRecord, ItemRecord, SweepRecord, TrialRecord, JobVersion, ...
    "launcher.options",   # Option: a resource's or a setting's declaration (forms and help are made from it)
    "launcher.logfile",   # LogLine and LogReader: reading a run's log as it grows
    "launcher.logsearch",  # whole-log search, exact line counts, lines read back by number
    "launcher.logtext",   # what a log line shows as text (the pane draws it, the search matches it)
    "launcher.logexport",  # a log written out as text: saved (with the launcher's notes) or as shown
    "launcher.schema",    # typed parameter values from text
    "launcher.presets",   # saved launch settings (TOML files)
    "launcher.queue",     # launch_add() and QueuedItem
    "launcher.agent",     # Agent (made by api.queues.agent)
    "launcher.metrics",   # MetricPoint, MetricProblem, MetricSummary: the one metrics model's records
    "launcher.runtable",  # RunRow, Column, sort_rows, cells: the run table's data (config and metric columns)
    "launcher.runfilter",  # parse_filter: the run filter language (loss<0.1 state:failed tag:best text)
    "launcher.compare",   # Comparison: runs side by side (configs, final and best metric values)
)

_EXPORTS = {
    "Api": "launcher.api",
    "launch": "launcher.launching",
    "launch_add": "launcher.queue",
    "Run": "launcher.run",
    "LaunchError": "launcher.errors",
    "ExecutionError": "launcher.errors",
}

TYPE_CHECKING = False  # not imported from typing: it costs start-up time
if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.errors import ExecutionError, LaunchError
    from launcher.launching import launch
    from launcher.run import Run


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
