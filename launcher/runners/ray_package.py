"""The working directory a Ray job gets: the run's source tree plus its config file.

Ray zips and uploads a local working_dir itself, applying any .gitignore and .rayignore it finds, and its
packager reads through links: a link in the staged tree would ship whatever it points at. So the tree is
staged under the source policy (launcher/jobs/sources/policy.py): files are hard links of the source's
own files (nothing copied), each link inside the source becomes a copy of what it leads to there, and
the staged tree holds no link at all. The run's source already is what the job's snapshot or commit
holds (.gitignore applied when the snapshot was made; a git checkout keeps every tracked file); .rayignore
rules are applied here as Ray would. The ignore files themselves are left out of the staged tree, so Ray
has nothing left to filter and cannot drop the run's config file, `.launcher/config.json`, whatever
patterns the source's ignore files contain. The config travels inside the package, which is
content-addressed by Ray: every job sharing a package has the same config, and a remote node needs no
access to this machine."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from launcher.jobs.sources import policy

CONFIG_RELATIVE = ".launcher/config.json"
IGNORE_FILES = (".gitignore", ".rayignore")
#: Directories Ray leaves out of every working_dir by default; skipping them here keeps sizes honest.
RAY_DEFAULT_EXCLUDES = frozenset({".git", ".venv", "venv", "__pycache__"})
ORIGIN = "the run's source"


def uploaded(src: Path) -> tuple[policy.SourceTree, Callable[[str], bool]]:
    """The run's source tree under the policy, and which of its paths go to the cluster."""
    tree = policy.scan(src, ORIGIN, skip_dirs=RAY_DEFAULT_EXCLUDES)
    return tree, _rayignore_filter(src, tree)


def _rayignore_filter(src: Path, tree: policy.SourceTree) -> Callable[[str], bool]:
    import pathspec

    specs = []
    for entry in tree.entries:
        if entry.path.rsplit("/", 1)[-1] == ".rayignore" and entry.kind is policy.EntryKind.FILE:
            lines = (src / entry.path).read_text(errors="replace").splitlines()
            base = entry.path.rsplit("/", 1)[0] if "/" in entry.path else ""
            specs.append((base, pathspec.GitIgnoreSpec.from_lines(lines)))

    def keep(path: str) -> bool:
        if path.rsplit("/", 1)[-1] in IGNORE_FILES or RAY_DEFAULT_EXCLUDES.intersection(path.split("/")[:-1]):
            return False
        for base, spec in specs:
            if base == "" or path.startswith(base + "/"):
                if spec.match_file(path[len(base) + 1:] if base else path):
                    return False
        return True

    return keep


def stage_working_dir(src: Path, config_file: Path, destination: Path,
                      note: Callable[[str], None] = lambda line: None) -> tuple[int, int]:
    """Build the tree to upload in `destination` (no link in it); returns (number of files, total bytes).
    `note` takes a line for the run's log (what the policy left out)."""
    destination.mkdir(parents=True)
    tree, keep = uploaded(src)
    for line in tree.notes:
        note(line)
    count, size = policy.stage_for_upload(tree, src, destination, ORIGIN, keep=keep, note=note)
    config_target = destination / CONFIG_RELATIVE
    config_target.parent.mkdir(parents=True, exist_ok=True)
    if config_target.is_symlink() or config_target.exists():
        config_target.unlink()  # a file of the source at that path: the run's config wins
    shutil.copyfile(config_file, config_target)
    return count + 1, size + config_target.stat().st_size
