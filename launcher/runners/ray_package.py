"""The working directory a Ray job gets: the run's source tree plus its config file.

Ray zips and uploads a local working_dir itself, applying any .gitignore and .rayignore it finds. We
stage the tree first (hard links, so no file is copied) and choose the files ourselves: .gitignore rules
as the launcher's code snapshots apply them (git jobs keep every tracked file, as a checkout does),
.rayignore rules as Ray would. The ignore files themselves are left out of the staged tree, so Ray has
nothing left to filter and cannot drop the run's config file, `.launcher/config.json`, whatever patterns
the source's ignore files contain. The config travels inside the package, which is content-addressed by
Ray: every job sharing a package has the same config, and a remote node needs no access to this machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CONFIG_RELATIVE = ".launcher/config.json"
IGNORE_FILES = (".gitignore", ".rayignore")
#: Directories Ray leaves out of every working_dir by default; skipping them here keeps sizes honest.
RAY_DEFAULT_EXCLUDES = {".git", ".venv", "venv", "__pycache__"}


def source_files(src: Path, respect_gitignore: bool) -> list[Path]:
    """Relative paths of the files to upload."""
    if respect_gitignore:
        from launcher.jobs.code_source import list_files

        files = list_files(src)
    else:
        files = []
        for directory, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d not in RAY_DEFAULT_EXCLUDES)
            here = Path(directory)
            files.extend((here / name).relative_to(src) for name in sorted(filenames))
    files = [f for f in files if not (set(f.parts[:-1]) & RAY_DEFAULT_EXCLUDES)]
    return _apply_rayignore(src, files)


def _apply_rayignore(src: Path, files: list[Path]) -> list[Path]:
    import pathspec

    specs = []
    for relative in files:
        if relative.name == ".rayignore":
            lines = (src / relative).read_text(errors="replace").splitlines()
            specs.append((relative.parent, pathspec.GitIgnoreSpec.from_lines(lines)))
    if not specs:
        return files
    kept = []
    for relative in files:
        ignored = False
        for base, spec in specs:
            if base == Path(".") or base in relative.parents:
                if spec.match_file(relative.relative_to(base).as_posix()):
                    ignored = True
                    break
        if not ignored:
            kept.append(relative)
    return kept


def stage_working_dir(src: Path, config_file: Path, destination: Path, *, respect_gitignore: bool) -> tuple[int, int]:
    """Build the tree to upload in `destination`; returns (number of files, total bytes)."""
    destination.mkdir(parents=True)
    count = size = 0
    for relative in source_files(src, respect_gitignore):
        if relative.name in IGNORE_FILES:
            continue
        source, target = src / relative, destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        info = source.lstat()
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            _link_or_copy(source, target)
            size += info.st_size
        count += 1
    config_target = destination / CONFIG_RELATIVE
    config_target.parent.mkdir(parents=True, exist_ok=True)
    if config_target.is_symlink() or config_target.exists():
        config_target.unlink()  # a linked file from the source: replace it, never write through the link
    shutil.copyfile(config_file, config_target)
    return count + 1, size + config_target.stat().st_size


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: copy instead
        shutil.copy2(source, target)
