"""Fixtures every test area shares: a fresh workspace in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher import Api


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace folder, also set as LAUNCHER_HOME for CLI subprocesses."""
    path = tmp_path / "workspace"
    monkeypatch.setenv("LAUNCHER_HOME", str(path))
    return path


@pytest.fixture
def api(home: Path):
    workspace = Api(home)
    yield workspace
    # Stop anything a test left running, so no process outlives the test session.
    for record in workspace.runs(active_only=True):
        try:
            workspace.run(record.id).cancel(grace_period=0)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
    workspace.close()


@pytest.fixture
def make_code_dir(tmp_path: Path):
    """Write a small source tree: make_code_dir({"train.py": "print(1)"}) -> its path."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / f"src{next(counter)}"
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        root.mkdir(parents=True, exist_ok=True)
        return root

    return make


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")


def git(cwd: Path, *args: str) -> str:
    import subprocess

    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path):
    """A real git repository (served to jobs as a bare repo) with a branch `main`, a branch `feature` and
    a tag `v1`. Returns a namespace with the bare repo's path, the work tree and the commits."""
    return make_git_repo(tmp_path)


def make_git_repo(tmp_path: Path):
    """The repository of the git_repo fixture, made in `tmp_path` (for module-scoped fixtures)."""
    from types import SimpleNamespace

    work = tmp_path / "repo-work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "train.py").write_text(
        "import os, sys\nprint('version one', os.environ['LAUNCHER_CONFIG'])\nprint('argv', sys.argv[1:])\n")
    (work / "requirements.txt").write_text("# none really\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    first = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v1")
    git(work, "checkout", "-q", "-b", "feature")
    (work / "train.py").write_text("print('feature branch')\n")
    git(work, "commit", "-q", "-am", "feature")
    feature = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    (work / "train.py").write_text("import os\nprint('version two', os.environ['LAUNCHER_CONFIG'])\n")
    git(work, "commit", "-q", "-am", "two")
    second = git(work, "rev-parse", "HEAD")
    bare = tmp_path / "repo.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return SimpleNamespace(bare=bare, work=work, first=first, second=second, feature=feature)


#: Test folders whose tests share one expensive session resource (a Ray cluster; the test engines,
#: registries and SSH server): under pytest-xdist (`--dist loadgroup`) each such folder runs on one worker,
#: so the resource starts once, while the rest spread over the other workers.
_ONE_WORKER_FOLDERS = ("ray", "container")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    for item in items:
        relative = Path(item.path).relative_to(tests_root)
        if relative.parts and relative.parts[0] in _ONE_WORKER_FOLDERS:
            item.add_marker(pytest.mark.xdist_group(relative.parts[0]))
