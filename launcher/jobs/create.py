"""Turning a user's source into the data of a job version, through its kind's JobSource
(launcher/jobs/sources/): the source's facts, its MLproject entry points, requirements and schema."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from launcher.errors import JobError, SourceError
from launcher.jobs import sources
from launcher.jobs.inspect import check_entry_point, describe_tree
from launcher.spec import normalize_entry_point

if TYPE_CHECKING:
    from launcher.jobs.sources.base import SourceFiles
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

DEFAULT_ENTRY = "main"


def create_job(workspace: Workspace, kind: str, source: str, *, entity: str | None = None,
               project: str | None = None, name: str | None = None, entry_point: Any = None,
               ref: str | None = None) -> JobVersion:
    """Create a job (or a new version of it when its source changed) from a code directory, a git
    repository or a docker image."""
    if not isinstance(source, str | os.PathLike) or not str(source).strip():
        raise SourceError(f"job source {source!r} is not valid; expected a directory, a git URL or path, or an "
                          "image name")
    default_name, data = job_data(workspace, kind, source, entry_point=entry_point, ref=ref)
    return workspace.jobs.add_version(entity=entity or workspace.default_entity,
                                      project=project or workspace.default_project,
                                      name=name or default_name, kind=kind, data=data)


def job_data(workspace: Workspace, kind: str, source: str, *, entry_point: Any = None,
             ref: str | None = None) -> tuple[str, dict[str, Any]]:
    """(default job name, version data) for a source."""
    job_source = sources.get_source(kind)
    entry = normalize_entry_point(entry_point)
    if ref is not None and not job_source.takes_version:
        raise JobError(f"a default ref ({ref!r}) is only for {', '.join(sources.versioned_kinds())} jobs, "
                       f"not {kind} jobs")
    new = job_source.create(workspace, source, ref=ref)
    if new.files is None:  # runs as an image: its own command unless an entry point is given
        data: dict[str, Any] = {"entry_point": list(entry) if entry else None, "entry_points": None,
                                "requirements": [], "schema": None}
    else:
        data = _with_entry_points(describe_tree(new.files.read_file), entry, new.files, source)
    data["source"] = new.facts
    if new.notes:
        data["notes"] = list(new.notes)
    return new.default_name, data


def _with_entry_points(facts: dict[str, Any], entry: tuple[str, ...] | None, files: SourceFiles,
                       source: str) -> dict[str, Any]:
    entry_points = facts["entry_points"]
    docker_env = facts["docker_env"]
    data: dict[str, Any] = {"entry_points": entry_points, "requirements": facts["requirements"],
                            "dependencies": facts["dependencies"].to_data(),
                            "docker_env": docker_env.to_data() if docker_env is not None else None,
                            "entry_point": None, "default_entry": None, "schema": None}
    if entry is not None and len(entry) == 1 and entry_points and entry[0] in entry_points:
        data["default_entry"] = entry[0]
    elif entry is not None:
        check_entry_point(entry, files.exists)
        data["entry_point"] = list(entry)
    elif entry_points:
        if DEFAULT_ENTRY not in entry_points:
            raise JobError(f"the MLproject of {source!r} has no 'main' entry point; choose one of "
                           f"{', '.join(sorted(entry_points))} with --entry-point")
        data["default_entry"] = DEFAULT_ENTRY
    else:
        raise JobError(f"source {source!r} needs an entry point, e.g. --entry-point 'python train.py' "
                       "(or an MLproject file)")
    if data["default_entry"]:
        data["schema"] = entry_points[data["default_entry"]]["parameters"]
    return data
