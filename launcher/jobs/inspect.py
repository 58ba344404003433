"""What a job's source says about itself: declared dependencies, MLproject entry points and
environment, entry point checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.envs.declared import DeclaredDependencies, read_declared
from launcher.errors import SourceError
from launcher.jobs import mlproject

PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class SourceFacts:
    """What describe_source reads from a source tree."""

    project: mlproject.MLProject | None  # the MLproject, when the source has one
    dependencies: DeclaredDependencies

    @property
    def entry_points(self) -> dict[str, dict[str, Any]] | None:
        """The MLproject's entry points in the form a job version records them; None without an MLproject."""
        return self.project.entry_points_data() if self.project is not None else None

    @property
    def docker_env(self) -> mlproject.DockerEnv | None:
        return self.project.docker_env if self.project is not None else None


def describe_source(read_file: Callable[[str], str | None]) -> SourceFacts:
    """Facts read through `read_file(relative_path) -> str | None`, so that a directory and a git commit
    are inspected the same way. SourceError (DependencyError for dependency files) for files that cannot
    be read as what they should be."""
    project = mlproject.read_project(read_file)
    return SourceFacts(project, read_declared(read_file, project))


def describe_tree(read_file: Callable[[str], str | None]) -> dict[str, Any]:
    """describe_source as the job code records it: "requirements" (the declared requirement strings),
    "entry_points", and the typed "dependencies" and "docker_env"."""
    facts = describe_source(read_file)
    return {
        "requirements": list(facts.dependencies.requirements),
        "entry_points": facts.entry_points,
        "dependencies": facts.dependencies,
        "docker_env": facts.docker_env,
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
