"""What a project declares it needs, from the first of these places it has:

1. the MLproject's `python_env` file (`python:`, `build_dependencies:`, `dependencies:`), as MLflow reads it;
2. the MLproject's `conda_env` file (conda.py: its pip list, conda packages PyPI also has, `python=` pin);
   an MLproject naming neither uses `python_env.yaml`, then `conda.yaml`, at the source root, as MLflow does;
3. `requirements.txt` (with `-r` includes and index URLs);
4. `pyproject.toml` `[project].dependencies`.

An MLproject with `docker_env` declares nothing: its image is its environment. Files are read through
`read_file(relative_path) -> str | None`, so a directory and a git commit are read the same way."""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from launcher.envs.conda import parse_conda_env
from launcher.envs.requirements_file import (
    Line,
    ReadFile,
    Requirements,
    normalize_path,
    parse_lines,
    read_requirements_file,
)
from launcher.errors import DependencyError

if TYPE_CHECKING:
    from launcher.jobs.mlproject import MLProject

PYTHON_ENV_DEFAULT = "python_env.yaml"
CONDA_ENV_DEFAULT = "conda.yaml"
REQUIREMENTS_TXT = "requirements.txt"
PYPROJECT_TOML = "pyproject.toml"


class DependencySource(StrEnum):
    """Which kind of place the dependencies came from."""

    PYTHON_ENV = "python_env"
    CONDA_ENV = "conda_env"
    REQUIREMENTS = "requirements"
    PYPROJECT = "pyproject"
    DOCKER_ENV = "docker_env"
    NONE = "none"


@dataclass(frozen=True)
class DeclaredDependencies:
    source: DependencySource
    file: str | None = None  # the file they were read from, relative to the source root
    python: str | None = None  # the version wanted, as written: "3.11", "3.11.7", ">=3.10"; None: any
    requirements: tuple[str, ...] = ()  # PEP 508 strings (or direct URLs)
    build_requirements: tuple[str, ...] = ()  # installed first (python_env's build_dependencies)
    index_url: str | None = None  # replaces the default index
    extra_index_urls: tuple[str, ...] = ()
    conda_only: tuple[str, ...] = ()  # conda packages that cannot be installed without conda
    notes: tuple[str, ...] = ()  # lines not honoured, assumptions made: shown before an install

    @property
    def declares_environment(self) -> bool:
        """True when the project asks for something the current interpreter may not have."""
        return bool(self.python or self.requirements or self.build_requirements or self.conda_only)

    def check_installable(self) -> None:
        """DependencyError, one line, before anything runs, naming each conda-only package."""
        if self.conda_only:
            names = ", ".join(self.conda_only)
            raise DependencyError(f"{self.file} lists conda-only package{'s' if len(self.conda_only) > 1 else ''} "
                                  f"{names}, which cannot be installed without conda; remove "
                                  f"{'them' if len(self.conda_only) > 1 else 'it'} or run the project in an image "
                                  "that has them (docker_env)")

    def describe(self) -> str:
        """One line for `job describe`: where they came from and what they are."""
        if self.source is DependencySource.NONE:
            return "none declared"
        if self.source is DependencySource.DOCKER_ENV:
            return f"the docker_env image of {self.file}"
        parts = [f"from {self.file}"]
        if self.python:
            parts.append(f"python {self.python}")
        if self.build_requirements:
            parts.append("build: " + " ".join(self.build_requirements))
        parts.append(" ".join(self.requirements) if self.requirements else "no packages")
        if self.index_url:
            parts.append(f"index {self.index_url}")
        if self.extra_index_urls:
            parts.append("extra index " + " ".join(self.extra_index_urls))
        if self.conda_only:
            parts.append("conda-only: " + " ".join(self.conda_only))
        return "; ".join(parts)

    def to_data(self) -> dict[str, Any]:
        """The form a job version records (JSON)."""
        return {"source": self.source.value, "file": self.file, "python": self.python,
                "requirements": list(self.requirements), "build_requirements": list(self.build_requirements),
                "index_url": self.index_url, "extra_index_urls": list(self.extra_index_urls),
                "conda_only": list(self.conda_only), "notes": list(self.notes)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> DeclaredDependencies:
        return cls(DependencySource(data["source"]), data.get("file"), data.get("python"),
                   tuple(data.get("requirements") or ()), tuple(data.get("build_requirements") or ()),
                   data.get("index_url"), tuple(data.get("extra_index_urls") or ()),
                   tuple(data.get("conda_only") or ()), tuple(data.get("notes") or ()))

    @classmethod
    def from_requirements(cls, requirements: list[str] | tuple[str, ...]) -> DeclaredDependencies:
        """Plain requirement strings (a job version recorded before this record existed, or Ray's `pip`)."""
        if not requirements:
            return cls(DependencySource.NONE)
        return cls(DependencySource.REQUIREMENTS, REQUIREMENTS_TXT, requirements=tuple(requirements))


def read_declared(read_file: ReadFile, project: MLProject | None = None) -> DeclaredDependencies:
    """The dependencies the source declares, by the precedence above; DependencyError (one line naming the
    file and the problem) for a file that cannot be read as what it should be."""
    if project is not None:
        if project.docker_env is not None:
            return DeclaredDependencies(DependencySource.DOCKER_ENV, project.origin)
        if project.python_env is not None:
            return _python_env(_named_file(read_file, project.origin, "python_env", project.python_env), read_file)
        if project.conda_env is not None:
            return _conda_env(_named_file(read_file, project.origin, "conda_env", project.conda_env), read_file)
        if read_file(PYTHON_ENV_DEFAULT) is not None:
            return _python_env(PYTHON_ENV_DEFAULT, read_file)
        if read_file(CONDA_ENV_DEFAULT) is not None:
            return _conda_env(CONDA_ENV_DEFAULT, read_file)
    if read_file(REQUIREMENTS_TXT) is not None:
        found = read_requirements_file(REQUIREMENTS_TXT, read_file)
        return _record(DependencySource.REQUIREMENTS, REQUIREMENTS_TXT, found)
    text = read_file(PYPROJECT_TOML)
    if text is not None:
        return _pyproject(text)
    return DeclaredDependencies(DependencySource.NONE)


def _named_file(read_file: ReadFile, origin: str, key: str, name: str) -> str:
    path = normalize_path(name, f"{origin}: {key}")
    if read_file(path) is None:
        raise DependencyError(f"{origin} names {key} file {name!r}, but the source has no such file")
    return path


def _python_env(path: str, read_file: ReadFile) -> DeclaredDependencies:
    import yaml

    try:
        document = yaml.safe_load(read_file(path) or "")
    except yaml.YAMLError as error:
        raise DependencyError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise DependencyError(f"{path} must be a mapping with python, build_dependencies and dependencies, "
                              f"got {type(document).__name__}")
    unknown = sorted(set(map(str, document)) - {"python", "build_dependencies", "dependencies"})
    if unknown:
        raise DependencyError(f"{path} has unknown key {unknown[0]!r}; expected python, build_dependencies, "
                              "dependencies")
    python = document.get("python")
    if python is not None and not isinstance(python, str):
        raise DependencyError(f"{path}: python must be a version string such as \"3.10\" (quoted: YAML reads "
                              f"3.10 as the number 3.1), got {python!r}")
    lists = {}
    for key in ("build_dependencies", "dependencies"):
        value = document.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DependencyError(f"{path}: {key} must be a list of requirement strings, got {value!r}")
        lists[key] = [Line(item.strip(), f"{path} {key} entry {n}") for n, item in enumerate(value, start=1)
                      if item.strip()]
    base = posixpath.dirname(path)
    build = parse_lines(lists["build_dependencies"], base, read_file, Requirements())
    found = parse_lines(lists["dependencies"], base, read_file, Requirements())
    found.notes[:0] = build.notes
    return _record(DependencySource.PYTHON_ENV, path, found, python=python.strip() if python else None,
                   build_requirements=tuple(build.requirements))


def _conda_env(path: str, read_file: ReadFile) -> DeclaredDependencies:
    conda = parse_conda_env(read_file(path) or "", path, read_file)
    return DeclaredDependencies(DependencySource.CONDA_ENV, path, conda.python, conda.requirements,
                                conda.build_requirements, conda.index_url, conda.extra_index_urls,
                                conda.conda_only, conda.notes)


def _pyproject(text: str) -> DeclaredDependencies:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DependencyError(f"{PYPROJECT_TOML} is not valid TOML: {error}") from None
    dependencies = document.get("project", {}).get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(item, str) for item in dependencies):
        raise DependencyError(f"{PYPROJECT_TOML}: [project].dependencies must be a list of requirement strings")
    found = parse_lines([Line(item.strip(), f"{PYPROJECT_TOML} dependency {n}")
                         for n, item in enumerate(dependencies, start=1) if item.strip()],
                        "", lambda _path: None, Requirements())
    if not found.requirements:
        return DeclaredDependencies(DependencySource.NONE, notes=tuple(found.notes))
    return _record(DependencySource.PYPROJECT, PYPROJECT_TOML, found)


def _record(source: DependencySource, path: str, found: Requirements, *, python: str | None = None,
            build_requirements: tuple[str, ...] = ()) -> DeclaredDependencies:
    return DeclaredDependencies(source, path, python, tuple(found.requirements), build_requirements,
                                found.index_url, tuple(found.extra_index_urls), (), tuple(found.notes))
