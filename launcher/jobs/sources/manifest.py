"""Whether a code job's folder changed since its snapshot, cheaply.

Next to each snapshot the workspace keeps a manifest of the folder it was made from: every file's size,
modification time, executable bit and content hash, and every link's target. A launch of a code job's
latest version compares the folder with it: sizes and times first, and only a file whose size or time
differs is read and hashed again (a file merely touched is not a change). So an unchanged folder of 1,000
files costs a walk and 1,000 stats (bench/bench_refresh.py), however large the files are."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from launcher.jobs.sources import policy
from launcher.jobs.sources.policy import EntryKind, SourceTree

SUFFIX = ".manifest.json"


def manifest_path(snapshots_dir: Path, digest: str) -> Path:
    return snapshots_dir / f"{digest}{SUFFIX}"


def write_manifest(snapshots_dir: Path, digest: str, root: Path, tree: SourceTree, hashes: dict[str, str]) -> None:
    entries: dict[str, list] = {}
    for entry in tree.entries:
        if entry.kind is EntryKind.LINK:
            entries[entry.path] = ["link", entry.target]
            continue
        info = os.lstat(root / entry.path)
        entries[entry.path] = ["file", info.st_size, info.st_mtime_ns, entry.executable, hashes[entry.path]]
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(snapshots_dir, digest)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"root": str(root), "entries": entries}))
    os.replace(temporary, path)


@dataclass(frozen=True)
class FolderState:
    """What the folder is, compared with a snapshot's manifest."""

    missing: bool  # the folder is gone
    changed: bool  # it differs from the snapshot (a file added, removed or edited, a link changed)


def compare(root: Path, snapshots_dir: Path, digest: str, *, skip_dirs: frozenset[str] = frozenset(),
            exclude: tuple[Path, ...] = ()) -> FolderState:
    """Compare the folder with the snapshot `digest` was made from (changed when there is no manifest)."""
    if not root.is_dir():
        return FolderState(missing=True, changed=False)
    try:
        recorded = json.loads(manifest_path(snapshots_dir, digest).read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return FolderState(missing=False, changed=True)  # made before manifests: snapshot it again
    origin = f"code source {policy.shown(str(root))!r}"
    tree = policy.scan(root, origin, gitignore=True, skip_dirs=skip_dirs, exclude=exclude)
    if len(tree.entries) != len(recorded):
        return FolderState(missing=False, changed=True)
    for entry in tree.entries:
        before = recorded.get(entry.path)
        if before is None:
            return FolderState(missing=False, changed=True)
        if entry.kind is EntryKind.LINK:
            if before[0] != "link" or before[1] != entry.target:
                return FolderState(missing=False, changed=True)
            continue
        if before[0] != "file" or before[3] != entry.executable:
            return FolderState(missing=False, changed=True)
        info = os.lstat(root / entry.path)
        if info.st_size == before[1] and info.st_mtime_ns == before[2]:
            continue
        if info.st_size != before[1] or policy.file_hash(root, entry, origin) != before[4]:
            return FolderState(missing=False, changed=True)
    return FolderState(missing=False, changed=False)
