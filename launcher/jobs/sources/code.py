"""Code sources: a local directory snapshotted into the workspace, content-addressed, under the source
policy (launcher/jobs/sources/policy.py).

The snapshot honours .gitignore files (at any depth) and skips .git and __pycache__; its digest covers
every file's path, executable bit and content and every link's target, so an unchanged directory always
gives the same digest. Each run gets a private copy of the snapshot when its folder is made."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.errors import JobError, SourceError
from launcher.jobs.refs import slug
from launcher.jobs.sources import policy
from launcher.jobs.sources.base import JobSource, NewSource, Refresh, RunSource

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

ALWAYS_SKIPPED = frozenset({".git", "__pycache__"})


class Directory:
    """The files of a snapshot (SourceFiles)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _inside(self, path: str) -> Path | None:
        normal = posixpath.normpath(path)
        if normal.startswith(("/", "../")) or normal == "..":
            return None  # never looks outside the snapshot
        return self.root / normal

    def read_file(self, path: str) -> str | None:
        inside = self._inside(path)
        return inside.read_text(errors="replace") if inside is not None and inside.is_file() else None

    def exists(self, path: str) -> bool:
        inside = self._inside(path)
        return inside is not None and inside.exists()


class CodeSource(JobSource):
    kind = "code"
    given_as = "a directory"

    def create(self, workspace: Workspace, source: str, *, ref: str | None = None) -> NewSource:
        if not isinstance(source, str | os.PathLike):
            raise SourceError(f"code source must be a directory path, got {source!r}")
        digest, snapshot_dir, notes = snapshot(source, workspace.snapshots_dir, workspace=workspace.home)
        root = Path(source).expanduser().resolve()
        return NewSource(slug(root.name), {"path": policy.shown(str(root)), "snapshot": digest},
                         Directory(snapshot_dir), notes)

    def for_run(self, workspace: Workspace, job: JobVersion, version: str | None = None) -> RunSource:
        snapshot_dir = workspace.snapshots_dir / job.source["snapshot"]
        if not snapshot_dir.is_dir():
            raise JobError(f"the snapshot of job {job.ref} is missing from the workspace; recreate the job")
        return RunSource(dict(job.source), Directory(snapshot_dir), entry_points=job.entry_points,
                         requirements=list(job.data.get("requirements") or []),
                         dependencies=job.data.get("dependencies"), docker_env=job.data.get("docker_env"),
                         copy_into=lambda destination: materialize(snapshot_dir, destination))

    def refresh(self, workspace: Workspace, job: JobVersion, *, strict: bool = False) -> Refresh:
        """A new version when the job's folder was edited since its snapshot (compared cheaply: see
        manifest.py). A folder that is gone: the recorded snapshot runs, and the note says so; with
        `strict` (--refresh) that is an error."""
        from launcher.jobs.create import create_job
        from launcher.jobs.sources.manifest import compare

        root = Path(str(job.source.get("path")))
        state = compare(root, workspace.snapshots_dir, job.source["snapshot"], skip_dirs=ALWAYS_SKIPPED,
                        exclude=(workspace.home.resolve(),))
        if state.missing:
            if strict:
                raise SourceError(f"the source folder {policy.shown(str(root))!r} of job {job.ref} no longer exists; "
                                  "launch without --refresh to run its recorded snapshot")
            return Refresh(None, f"the source folder {policy.shown(str(root))} of job {job.ref} no longer exists; "
                                 "running its recorded snapshot")
        if not state.changed:
            return Refresh(None, None)
        entry = job.entry_point or job.data.get("default_entry")
        new = create_job(workspace, self.kind, str(root), entity=job.entity, project=job.project, name=job.name,
                         entry_point=entry)
        if new.version == job.version:
            return Refresh(None, None)  # touched, not changed
        return Refresh(new, f"the source folder {policy.shown(str(root))} changed since {job.ref}: "
                            f"snapshotted as {new.ref}, which this run runs")

    def source_key(self, facts: Mapping[str, Any]) -> str | None:
        return f"snapshot:{facts['snapshot']}" if facts.get("snapshot") else None

    def describe(self, facts: Mapping[str, Any]) -> str:
        return f"{facts.get('path')} (snapshot {str(facts.get('snapshot'))[:12]})"


def snapshot(source_dir: str | os.PathLike, snapshots_dir: Path,
             workspace: Path | None = None) -> tuple[str, Path, tuple[str, ...]]:
    """Copy the directory into the workspace once per distinct content; return (digest, snapshot path,
    notes on what the policy skipped).

    A workspace inside the source is left out: besides being no part of the job, reading its SQLite files
    from a process that has the store open would drop that process's SQLite locks."""
    root = Path(source_dir).expanduser()
    if not root.is_dir():
        raise SourceError(f"code source {policy.shown(str(source_dir))!r} is not a directory")
    root = root.resolve()
    origin = f"code source {policy.shown(str(root))!r}"
    tree = policy.scan(root, origin, gitignore=True, skip_dirs=ALWAYS_SKIPPED,
                       exclude=(workspace.resolve(),) if workspace is not None else ())
    hashes: dict[str, str] = {}
    name = policy.tree_digest(tree, root, origin, hashes)[:32]
    target = snapshots_dir / name
    from launcher.jobs.sources.manifest import write_manifest

    write_manifest(snapshots_dir, name, root, tree, hashes)  # what a later launch compares the folder with
    if target.is_dir():
        return name, target, tree.notes
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=snapshots_dir))
    try:
        if policy.copy_tree(tree, root, staging, origin)[:32] != name:
            raise SourceError(f"{origin} changed while it was being copied; create the job again")
        os.rename(staging, target)  # atomic: a snapshot is either whole or absent
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():  # else another process made the same snapshot first
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return name, target, tree.notes


def materialize(snapshot_dir: Path, destination: Path) -> None:
    """A fresh, private copy of a snapshot for one run (the program may write into it), checked again
    under the policy: a snapshot changed in the workspace cannot bring a link out into a run."""
    origin = f"the snapshot {snapshot_dir.name} of the job"
    policy.copy_tree(policy.scan(snapshot_dir, origin), snapshot_dir, destination, origin)
