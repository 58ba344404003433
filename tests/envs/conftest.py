"""Helpers for the environment tests: a package index on 127.0.0.1 that accepts connections and never
answers (so a build is still at work when a test cancels or kills it), and uv processes found by the
folder they work in."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def silent_index() -> Iterator[str]:
    """The URL of an index that never answers: the kernel completes each connection, nobody replies."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    finally:
        server.close()


def processes_working_in(folder: Path) -> list[int]:
    """Ids of the processes whose current directory is `folder` (the builder runs uv there)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                found.append(int(entry))
        except OSError:
            continue
    return found


def processes_in_groups(groups: set[int]) -> list[int]:
    """Ids of the processes in one of the process `groups` that still have a live thread. (A killed
    process's first thread can be a zombie while its other threads still exit, holding its files.)"""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            states = []
            for task in os.listdir(f"/proc/{entry}/task"):
                with open(f"/proc/{entry}/task/{task}/stat") as stat:
                    states.append(stat.read().rsplit(")", 1)[1].split())
        except OSError:
            continue
        if states and int(states[0][2]) in groups and any(fields[0] not in "ZX" for fields in states):
            found.append(int(entry))
    return found


def leftovers(envs_dir: Path) -> list[str]:
    """Everything in envs_dir but lock files: environments and temporary folders."""
    if not envs_dir.exists():
        return []
    return sorted(path.name for path in envs_dir.iterdir() if not path.name.endswith(".lock"))
