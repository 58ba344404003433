"""What a job's source says about itself: requirements, MLproject entry points, entry point checks."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.errors import SourceError
from launcher.jobs import mlproject

PYTHON_NAMES = ("python", "python3")


def requirements_from_text(requirements_txt: str | None, pyproject_toml: str | None) -> list[str]:
    if requirements_txt is not None:
        lines = [line.split(" #", 1)[0].strip() for line in requirements_txt.splitlines()]
        return [line for line in lines if line and not line.startswith(("#", "-"))]
    if pyproject_toml is not None:
        try:
            document = tomllib.loads(pyproject_toml)
        except tomllib.TOMLDecodeError:
            return []
        dependencies = document.get("project", {}).get("dependencies", [])
        return [str(d) for d in dependencies if isinstance(d, str)]
    return []


def describe_tree(read_file) -> dict[str, Any]:
    """Facts read through `read_file(relative_path) -> str | None`, so that a directory and a git commit
    are inspected the same way."""
    entry_points = None
    text = None
    for name in ("MLproject", "MLProject", "mlproject"):
        text = read_file(name)
        if text is not None:
            entry_points = mlproject.parse_text(text, name)
            break
    return {
        "requirements": requirements_from_text(read_file("requirements.txt"), read_file("pyproject.toml")),
        "entry_points": entry_points,
    }


def read_from_dir(root: Path):
    def read(relative: str) -> str | None:
        path = root / relative
        return path.read_text(errors="replace") if path.is_file() else None
    return read


def script_of(argv: list[str] | tuple[str, ...]) -> str | None:
    """The file in the source that an entry point runs, when it names one."""
    if not argv:
        return None
    program = argv[0]
    if PurePosixPath(program).name.startswith(PYTHON_NAMES):
        for position, word in enumerate(argv[1:], start=1):
            if word in ("-m", "-c") or word == "-":
                return None
            if word.startswith("-"):
                continue
            return argv[position]
        return None
    if "/" in program and not program.startswith("/"):
        return program
    return None


def check_entry_point(argv: list[str] | tuple[str, ...], exists) -> None:
    """Fail before anything starts when the entry point names a file the source does not have."""
    script = script_of(argv)
    if script is not None and not exists(script):
        raise SourceError(f"entry point file {script!r} does not exist in the job's source "
                          f"(entry point {list(argv)!r})")
