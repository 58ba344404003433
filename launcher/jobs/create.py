"""Turning a source (directory, git repository, image) into the data of a job version."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from launcher.errors import JobError, SourceError
from launcher.jobs import code_source, git_source
from launcher.jobs.inspect import check_entry_point, describe_tree, read_from_dir
from launcher.jobs.refs import slug
from launcher.spec import normalize_entry_point

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$", re.IGNORECASE)
DEFAULT_ENTRY = "main"


def check_image(image: str) -> str:
    if not isinstance(image, str) or not IMAGE_PATTERN.match(image.strip()):
        raise SourceError(f"docker image {image!r} is not a valid image name; expected e.g. 'python:3.11-slim'")
    return image.strip()


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


def job_data(workspace: Workspace, kind: str, source: str, *, entry_point: Any = None, ref: str | None = None) -> tuple[str, dict[str, Any]]:
    """(default job name, version data) for a source."""
    entry = normalize_entry_point(entry_point)
    if ref is not None and kind != "git":
        raise JobError(f"a default ref ({ref!r}) is only for git jobs, not {kind} jobs")
    if kind == "code":
        digest, snapshot_dir = code_source.snapshot(source, workspace.snapshots_dir, workspace=workspace.home)
        facts = describe_tree(read_from_dir(snapshot_dir))
        data = _with_entry_points(facts, entry, lambda p: (snapshot_dir / p).exists(), source)
        data["source"] = {"path": str(Path(source).expanduser().resolve()), "snapshot": digest}
        return slug(Path(source).expanduser().resolve().name), data
    if kind == "git":
        url = git_source.normalize_url(source)
        cache = workspace.git_cache
        cache.fetch(url)
        ref = git_source.check_ref(ref) if ref is not None else cache.default_branch(url)
        commit = cache.resolve(url, ref, fetch=False)
        facts = describe_tree(lambda p: cache.read_file(url, commit, p))
        data = _with_entry_points(facts, entry, lambda p: cache.exists(url, commit, p), source)
        data["source"] = {"url": url, "ref": ref, "commit": commit}
        return slug(PurePosixPath(url.rstrip("/")).name.removesuffix(".git")), data
    if kind == "image":
        image = check_image(source)
        data = {"source": {"image": image}, "entry_point": list(entry) if entry else None,
                "entry_points": None, "requirements": [], "schema": None}
        return slug(image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]), data
    raise JobError(f"job kind {kind!r} is not known; expected one of: code, git, image")


def _with_entry_points(facts: dict[str, Any], entry: tuple[str, ...] | None, exists, source: str) -> dict[str, Any]:
    entry_points = facts["entry_points"]
    data: dict[str, Any] = {"entry_points": entry_points, "requirements": facts["requirements"],
                            "entry_point": None, "default_entry": None, "schema": None}
    if entry is not None and len(entry) == 1 and entry_points and entry[0] in entry_points:
        data["default_entry"] = entry[0]
    elif entry is not None:
        check_entry_point(entry, exists)
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
