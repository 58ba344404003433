"""The engine's error family. Every error a user can cause is a LaunchError with a one-line message
that names the bad value and what is expected; the CLI and the TUI print `str(error)` as it is."""

from __future__ import annotations


class LaunchError(Exception):
    """Base of every error the engine raises on purpose.

    `run_id` names the run the error is about when one was recorded: set by submit() when a run was
    recorded and its resource then refused to start it (the run is start_failed and its log says why);
    None for bad input, where nothing was written."""

    run_id: str | None = None


class SpecError(LaunchError):
    """A launch request, its config or one of its values is not valid."""


class ConfigError(SpecError):
    """Config text or values that do not parse or do not match the job's schema."""


class JobError(LaunchError):
    """A job reference is malformed or names no job, alias or version."""


class SourceError(LaunchError):
    """A job's source (directory, git repository, ref) cannot be read or checked out."""


class DependencyError(SourceError):
    """A project's declared dependencies cannot be read (an unparseable python_env.yaml or conda.yaml, an
    include outside the source) or cannot be installed (a conda-only package, a Python version that is not
    installed, a requirement the index does not have)."""


class EnvironmentCancelled(LaunchError):
    """An environment build was cancelled before it completed; nothing of it was left behind."""


class ResourceError(LaunchError):
    """A resource is unknown, unavailable, or given arguments it does not understand."""


class RunError(LaunchError):
    """A run cannot be found, created or changed as asked."""


class StoreError(LaunchError):
    """The workspace database cannot be used (locked by another process for too long, damaged, ...)."""


class StoreLockedError(StoreError):
    """Another process held the workspace database's write lock for longer than this one would wait."""


class DiskFullError(LaunchError):
    """The workspace's disk is full: nothing more can be written there until space is freed."""


class ExecutionError(LaunchError):
    """A synchronous launch whose run did not finish successfully."""

    def __init__(self, message: str, *, run_id: str | None = None, exit_code: int | None = None,
                 state: str | None = None, tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.exit_code = exit_code
        self.state = state
        self.tail = tail or []


class TrackingError(LaunchError):
    """A tracking library's files, store or saved reading position cannot be used as given."""


class MissingExtraError(TrackingError):
    """An optional tracking library (an extra such as launcher[wandb]) is needed but not installed."""


class FilterError(SpecError):
    """A run filter (`loss<0.1 state:failed ...`) has a term that is not understood."""
