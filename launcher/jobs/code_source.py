"""Code sources: a local directory snapshotted into the workspace, content-addressed.

The snapshot honours .gitignore files (at any depth) and skips .git; its digest covers every file's path,
executable bit and content, so an unchanged directory always gives the same digest."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from launcher.errors import SourceError

ALWAYS_SKIPPED = {".git", "__pycache__"}


def list_files(root: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Files under root (relative paths, sorted) that git would not ignore, outside the `exclude` folders."""
    import pathspec

    files: list[Path] = []
    # Each entry: (directory the .gitignore lives in, its compiled patterns).
    specs: list[tuple[Path, pathspec.PathSpec]] = []
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        specs = [(base, spec) for base, spec in specs if base == here or base in here.parents]
        ignore_file = here / ".gitignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(errors="replace").splitlines()
            specs.append((here, pathspec.GitIgnoreSpec.from_lines(lines)))
        dirnames[:] = sorted(d for d in dirnames if d not in ALWAYS_SKIPPED
                             and not _ignored(specs, here / d, True) and (here / d).resolve() not in exclude)
        for name in sorted(filenames):
            path = here / name
            if not _ignored(specs, path, False):
                files.append(path.relative_to(root))
    return files


def _ignored(specs, path: Path, is_dir: bool) -> bool:
    for base, spec in specs:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False


def snapshot(source_dir: str | os.PathLike, snapshots_dir: Path, workspace: Path | None = None) -> tuple[str, Path]:
    """Copy the directory into the workspace once per distinct content; return (digest, snapshot path).

    A workspace inside the source is left out: besides being no part of the job, reading its SQLite files
    from a process that has the store open would drop that process's SQLite locks."""
    root = Path(source_dir).expanduser()
    if not root.is_dir():
        raise SourceError(f"code source {str(source_dir)!r} is not a directory")
    root = root.resolve()
    files = list_files(root, exclude=(workspace.resolve(),) if workspace is not None else ())
    digest = hashlib.sha256()
    for relative in files:
        path = root / relative
        info = path.lstat()
        digest.update(relative.as_posix().encode() + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"link\0" + os.readlink(path).encode() + b"\0")
            continue
        digest.update(b"x\0" if info.st_mode & stat.S_IXUSR else b"f\0")
        digest.update(_file_hash(path).encode() + b"\0")
    name = digest.hexdigest()[:32]
    target = snapshots_dir / name
    if target.is_dir():
        return name, target
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=snapshots_dir))
    try:
        for relative in files:
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, destination, follow_symlinks=False)
        os.rename(staging, target)  # atomic: a snapshot is either whole or absent
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return name, target


def materialize(snapshot_dir: Path, destination: Path) -> None:
    """A fresh, private copy of a snapshot for one run (the program may write into it)."""
    shutil.copytree(snapshot_dir, destination, symlinks=True)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
