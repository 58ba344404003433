"""The workspace: a folder holding the SQLite store, job snapshots, the git cache, environments and a
folder per run.

Behaviour-free: opening a Workspace changes nothing (no run is looked at, nothing is started), and it
knows nothing of runners, queues or any UI. Engine modules take a Workspace; `launcher.api.Api` is the
public façade over it."""

from __future__ import annotations

import getpass
import os
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from launcher.errors import LaunchError
from launcher.jobs.registry import JobRegistry
from launcher.store import Store

if TYPE_CHECKING:
    from launcher.jobs.git_source import GitCache

DEFAULT_PROJECT = "default"
HOME_ENV = "LAUNCHER_HOME"


def default_home() -> Path:
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("launcher", appauthor=False))


class Workspace:
    """Paths, the store, the job registry and the stored settings of one workspace folder. Safe to open
    from several processes at once (CLI, TUI, agents, run owners)."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LaunchError(f"workspace {str(self.home)!r} cannot be created: {error.strerror}") from None
        self.store = Store(self.home / "launcher.db")
        from launcher.diskspace import ensure_reserve

        ensure_reserve(self.home)  # room for run endings should the disk fill up (launcher/diskspace.py)
        self.jobs = JobRegistry(self.store, defaults=lambda: (self.default_entity, self.default_project))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- stored settings (checked by launcher.settings before they are stored) -----------------------
    def setting(self, key: str, default: Any = None) -> Any:
        return self.store.get_setting(key, default)

    @property
    def default_entity(self) -> str:
        return self.store.get_setting("default_entity") or user_name()

    @property
    def default_project(self) -> str:
        return self.store.get_setting("default_project") or DEFAULT_PROJECT

    # -- places ---------------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def envs_dir(self) -> Path:
        return self.home / "envs"

    @property
    def tidy_dir(self) -> Path:
        """Markers of clean-up that runners could not finish yet, one sub-folder per resource."""
        return self.home / "tidy"

    @cached_property
    def git_cache(self) -> GitCache:
        from launcher.jobs.git_source import GitCache

        return GitCache(self.home / "git-cache")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def staging_dir(self) -> Path:
        """A private folder in the workspace, to be renamed into place once a launch is valid."""
        root = self.home / "staging"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=root))


class HasWorkspace(Protocol):
    """What the public functions (launch, launch_add) take: an `Api`, or anything else over a workspace.
    (A protocol, so that the engine never imports the façade above it.)"""

    @property
    def workspace(self) -> Workspace: ...


def workspace_of(owner: HasWorkspace | Workspace | None) -> Workspace:
    """The workspace of an Api (or the Workspace itself); the default workspace for None."""
    if owner is None:
        return Workspace()
    if isinstance(owner, Workspace):
        return owner
    return owner.workspace


def user_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "local"
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name).strip("-._")
    return cleaned or "local"
