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
            workspace.run(record["id"]).cancel(grace_period=0)
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
