"""Fixtures for the source policy tests: a host file no source may carry, sources with links in and out,
git repositories with such links, and a job stored as a workspace made before the policy would hold it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import git

SECRET = "host secret 5f0c1e\n"

#: Prints what the program sees through the source's links (the same on every resource).
READER = """\
import os
print("alias", open("alias.txt").read().strip())
print("linked folder", open("data/rows.csv").read().strip())
print("leak present", os.path.lexists("leak"))
"""


def cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in a subprocess, with a deadline: a hang (a FIFO being read) fails the test instead."""
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, LAUNCHER_HOME=str(home)), timeout=timeout)


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A file of the host, outside every source."""
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


def write_linked_source(root: Path) -> Path:
    """A source whose links all stay inside: a file link, a linked folder, a link to a link."""
    (root / "shared" / "data").mkdir(parents=True)
    (root / "train.py").write_text(READER)
    (root / "notes.txt").write_text("kept through a link\n")
    (root / "shared" / "data" / "rows.csv").write_text("a,b\n")
    os.symlink("notes.txt", root / "alias.txt")
    os.symlink("shared/data", root / "data")
    os.symlink("alias.txt", root / "alias2.txt")
    return root


@pytest.fixture
def linked_source(tmp_path: Path) -> Path:
    return write_linked_source(tmp_path / "linked")


@dataclass(frozen=True)
class Repo:
    bare: Path
    work: Path


def make_repo(tmp_path: Path, build) -> Repo:
    """A real repository whose only commit `build(work_tree)` writes, served to jobs as a bare clone."""
    work = tmp_path / "repo-work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    build(work)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    bare = tmp_path / "repo.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return Repo(bare, work)


def commit(repo: Repo, change, tag: str) -> str:
    """Commit `change(work_tree)`, tag it, push it to the bare repository; returns the commit."""
    change(repo.work)
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", tag)
    git(repo.work, "tag", tag)
    git(repo.work, "push", "-q", str(repo.bare), "main", tag)
    return git(repo.work, "rev-parse", "HEAD")


def store_old_git_job(api, good, bad_commit: str):
    """A new version of the git job `good` as a workspace made before the source policy holds it:
    recorded at a commit the policy refuses (the good version's data with the commit swapped)."""
    api.workspace.git_cache.fetch(good.source["url"])  # the old workspace had fetched it
    data = dict(good.data, source=dict(good.data["source"], commit=bad_commit))
    return api.workspace.jobs.add_version(entity=good.entity, project=good.project, name=good.name,
                                          kind="git", data=data)


def plant_in_snapshot(api, job, relative: str, target: Path) -> Path:
    """A link put into a job's snapshot inside the workspace (a workspace changed by hand, or made by an
    older launcher): launches must still never carry it."""
    snapshot = api.workspace.snapshots_dir / job.data["source"]["snapshot"]
    os.symlink(target, snapshot / relative)
    return snapshot
