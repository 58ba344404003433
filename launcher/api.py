"""The workspace: a folder holding the SQLite store, job snapshots, the git cache, envs and run folders."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from launcher import states
from launcher.errors import LaunchError, RunError, SpecError
from launcher.jobs.registry import JobRegistry, JobVersion
from launcher.run import Run
from launcher.store import Store

DEFAULT_PROJECT = "default"


def default_home() -> Path:
    configured = os.environ.get("LAUNCHER_HOME")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("launcher", appauthor=False))


class Api:
    """The workspace. Safe to open from several processes at once (CLI, TUI, agents, supervisors)."""

    def __init__(self, home: str | os.PathLike | None = None, *, reattach: bool = True) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LaunchError(f"workspace {str(self.home)!r} cannot be created: {error.strerror}") from None
        self.store = Store(self.home / "launcher.db")
        self.default_entity = self.store.get_setting("default_entity") or _user_name()
        self.default_project = self.store.get_setting("default_project") or DEFAULT_PROJECT
        self.jobs = JobRegistry(self.store, default_entity=self.default_entity, default_project=self.default_project)
        self._git_cache = None
        if reattach:
            self.reconcile()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    def git_cache(self):
        if self._git_cache is None:
            from launcher.jobs.git_source import GitCache

            self._git_cache = GitCache(self.home / "git-cache")
        return self._git_cache

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def staging_dir(self) -> Path:
        """A private folder in the workspace, to be renamed into place once a launch is valid."""
        root = self.home / "staging"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=root))

    # -- jobs -----------------------------------------------------------------------------------------
    def create_job(self, kind: str, source: str, *, entity: str | None = None, project: str | None = None,
                   name: str | None = None, entry_point: Any = None, ref: str | None = None) -> JobVersion:
        """Create a job (or a new version of it when its source changed) from a code directory, a git
        repository or a docker image."""
        from launcher.jobs.create import job_data

        default_name, data = job_data(self, kind, source, entry_point=entry_point, ref=ref)
        return self.jobs.add_version(entity=entity or self.default_entity, project=project or self.default_project,
                                     name=name or default_name, kind=kind, data=data)

    def job(self, ref: str) -> JobVersion:
        return self.jobs.resolve(ref)

    def list_jobs(self) -> list[JobVersion]:
        return self.jobs.list()

    def alias_job(self, ref: str, alias: str) -> JobVersion:
        return self.jobs.add_alias(ref, alias)

    # -- runs -----------------------------------------------------------------------------------------
    def run(self, run_id: str) -> Run:
        return Run(self, run_id)

    def runs(self, *, limit: int | None = None, active_only: bool = False,
             updated_since: float | None = None) -> list[dict[str, Any]]:
        """Run records, newest first (plain dicts: cheap enough for a table of many thousand runs)."""
        return self.store.list_runs(limit=limit, active_only=active_only, updated_since=updated_since)

    def find_run(self, prefix: str) -> Run:
        """A run by its id or an unambiguous prefix of it."""
        if self.store.get_run(prefix) is not None:
            return Run(self, prefix)
        matches = [r["id"] for r in self.store.query("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 3",
                                                     (prefix.replace("%", r"\%").replace("_", r"\_") + "%",))]
        if len(matches) == 1:
            return Run(self, matches[0])
        if matches:
            raise RunError(f"run id {prefix!r} is ambiguous: {', '.join(matches)}, ...")
        raise RunError(f"run {prefix!r} does not exist (see 'launcher runs')")

    def resources(self) -> list[dict[str, Any]]:
        """Every resource with whether it can be used here and, if not, why."""
        from launcher import runners

        result = []
        for name in runners.resource_names():
            try:
                runner = runners.get_runner(name)
                reason = runner.unavailable_reason() or runner.unreachable_reason(self)
            except LaunchError as error:
                reason = str(error)
            except ImportError as error:
                reason = f"not installed: {error}"
            result.append({"name": name, "available": reason is None, "reason": reason})
        return result

    def reconcile(self, run_ids: list[str] | None = None) -> None:
        """Let each active run's runner check that its run is still alive, or pick it up again."""
        from launcher import runners

        active = self.store.list_runs(active_only=True)
        if run_ids is not None:
            active = [r for r in active if r["id"] in run_ids]
        for record in active:
            try:
                runners.get_runner(record["resource"]).reattach(self, record)
            except (LaunchError, ImportError):
                continue  # the resource cannot be reached now; its runs stay as they are
        if run_ids is None:
            from launcher.runners.base import TIDY_DIR

            try:
                pending = [name for name in os.listdir(self.home / TIDY_DIR) if name in runners.RESOURCES]
            except FileNotFoundError:
                pending = []
            for name in pending:
                runners.get_runner(name).tidy(self)

    # -- settings -------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        return self.store.get_setting(key, default)

    #: The workspace settings `set_setting` accepts (see `launcher settings`).
    #: The workspace's settings: name -> what it does (`launcher settings` shows them).
    SETTINGS = {
        "default_entity": "entity of new jobs and job-less runs (default: your user name)",
        "default_project": "project of new jobs and job-less runs (default: 'default')",
        "base_image": "base image of generated Dockerfiles (default: launcher-base:bookworm)",
        "ray_address": "Ray dashboard address for resource 'ray' (default: http://127.0.0.1:8265)",
    }

    def set_setting(self, key: str, value: Any) -> None:
        """Store a known setting (None clears it) after the check a launch makes on that value, so that a
        bad value is refused here, with nothing stored, rather than breaking every later launch."""
        if key not in self.SETTINGS:
            raise SpecError(f"setting {key!r} is not known; expected one of: {', '.join(self.SETTINGS)}")
        if value is None:
            self.store.execute("DELETE FROM settings WHERE key=?", (key,))
        else:
            problem = _setting_problem(key, value)
            if problem is not None:
                raise SpecError(problem)
            self.store.set_setting(key, value)
        if key == "default_entity":
            self.default_entity = self.jobs.default_entity = value or _user_name()
        elif key == "default_project":
            self.default_project = self.jobs.default_project = value or DEFAULT_PROJECT

    # -- queues, sweeps and live metrics (launcher/queue.py, sweeps.py, metrics.py) -------------------
    def queues(self) -> list[dict[str, Any]]:
        """Every queue with its item counts by state."""
        from launcher.queue import queues

        return queues(self)

    def queue_items(self, queue_name: str | None = None, *, states: list[str] | None = None,
                    sweep_id: str | None = None, limit: int | None = None) -> list:
        """Queue items (ItemRecord), active ones first in the order agents take them."""
        from launcher.queue import list_items

        return list_items(self, queue_name=queue_name, item_states=states, sweep_id=sweep_id, limit=limit)

    def sweeps(self) -> list[dict[str, Any]]:
        from launcher.sweeps import sweeps

        return sweeps(self)

    def metrics(self, run_id: str) -> dict[str, list]:
        """The run's metrics: {name: [MetricPoint(step, value, time), ...]}, indexed from its log first."""
        from launcher.metrics import run_metrics

        return run_metrics(self, run_id)

    def latest_metrics(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """{run_id: {name: MetricPoint}} with each metric's last value; cheap enough for a run table."""
        from launcher.metrics import latest_metrics

        return latest_metrics(self, run_ids)


def _setting_problem(key: str, value: Any) -> str | None:
    """What is wrong with a setting's value, by the rules its launch flag follows; None when it is fine."""
    if not isinstance(value, str) or not value.strip():
        return f"setting {key} {value!r} is not valid; expected a non-empty string"
    if key in ("default_entity", "default_project"):
        from launcher.spec import NAME_PATTERN

        if not NAME_PATTERN.match(value):
            return (f"setting {key} {value!r} is not valid; expected a name of letters, digits, '_', '.' or '-' "
                    "(starting with a letter or digit)")
    elif key == "base_image":
        from launcher.jobs.create import IMAGE_PATTERN

        if not IMAGE_PATTERN.match(value):
            return (f"setting base_image {value!r} is not a valid image reference; expected e.g. "
                    "'launcher-base:bookworm' or 'python:3.11-slim'")
    elif key == "ray_address":
        from launcher.runners.ray import address_problem

        return address_problem(value, "setting ray_address") or _address_shape_problem(value)
    return None


def _address_shape_problem(value: str) -> str | None:
    """A dashboard address must be a URL (http://HOST[:PORT]) or HOST:PORT; a bare word is a typo far more
    often than a host name, and would only fail at the next Ray launch."""
    from urllib.parse import urlsplit

    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text if "://" in text else "http://" + text)
        port = parts.port
    except ValueError:  # an unclosed '[', a port that is not a number or out of range
        parts, port = urlsplit(""), -1
    if (parts.scheme in ("http", "https") and parts.hostname and port != -1 and not (parts.path or parts.query)
            and ("://" in text or port is not None)):
        return None
    return (f"setting ray_address {value!r} is not a Ray dashboard address; expected one such as "
            "http://HOST:8265 or HOST:8265")


def _user_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "local"
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name).strip("-._")
    return cleaned or "local"


def write_run_files(run_dir: Path, spec_dict: dict[str, Any]) -> None:
    (run_dir / "config.json").write_text(json.dumps(spec_dict["run_config"], indent=2))
    (run_dir / "spec.json").write_text(json.dumps(spec_dict, indent=2))


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["Api", "states"]
