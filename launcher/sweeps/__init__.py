"""Sweeps: a job tried with many run configs through a queue. Two modules, one job each:

- definition.py: the sweep file and its parameters, checked, and the trials drawn from them (lazily);
- operations.py: sweeps in the workspace: create (trials queued as items), get, list, trials, pause,
  resume, cancel. Reads never write.

The public names are imported here, so `from launcher.sweeps import create_sweep` keeps working."""

from __future__ import annotations

from launcher.sweeps.definition import (
    DISTRIBUTIONS,
    GOALS,
    MAX_TRIALS,
    METHODS,
    SWEEP_KEYS,
    Parameter,
    SweepConfig,
    SweepError,
    grid_size,
    load_sweep_file,
    parse_sweep,
)
from launcher.sweeps.operations import (
    cancel_sweep,
    check_trials,
    create_sweep,
    find_sweep_id,
    get_sweep,
    pause_sweep,
    paused_sweep_ids,
    resume_sweep,
    shown_state,
    sweep_trials,
    sweeps,
    trial_schema,
)

__all__ = [
    "DISTRIBUTIONS", "GOALS", "MAX_TRIALS", "METHODS", "SWEEP_KEYS", "Parameter", "SweepConfig", "SweepError",
    "cancel_sweep", "check_trials", "create_sweep", "find_sweep_id", "get_sweep", "grid_size", "load_sweep_file",
    "parse_sweep", "pause_sweep", "paused_sweep_ids", "resume_sweep", "shown_state", "sweep_trials", "sweeps",
    "trial_schema",
]
