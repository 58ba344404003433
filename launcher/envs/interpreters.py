"""Choosing the Python interpreter for an environment among those installed on this machine.

uv finds them (`uv python list --only-installed`): on PATH, and the ones uv manages. Version managers'
shims (pyenv's, asdf's) fail for any version but the selected one, so their folders are left out and the
managers' installed versions are searched instead. uv is never allowed to download an interpreter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import DependencyError

_PLAIN_VERSION = re.compile(r"\d+(\.\d+){0,2}")


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.12.1"
    implementation: str  # "cpython"

    @property
    def label(self) -> str:
        return f"{self.implementation} {self.version} at {self.path}"


@dataclass(frozen=True)
class Choice:
    interpreter: Interpreter
    note: str | None  # said before the build, e.g. when a patch release stands in for another


def current_interpreter() -> Interpreter:
    """The interpreter the launcher runs on (its base, when the launcher runs in a virtualenv)."""
    info = sys.version_info
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Interpreter(base, f"{info.major}.{info.minor}.{info.micro}", sys.implementation.name)


def uv_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment uv runs with: no interpreter downloads, and a PATH without version-manager shims
    but with the versions those managers installed."""
    environ = dict(os.environ if environ is None else environ)
    home = Path(environ.get("HOME") or Path.home())
    managed = []
    for root, versions in ((environ.get("PYENV_ROOT") or home / ".pyenv", "versions"),
                           (environ.get("ASDF_DATA_DIR") or home / ".asdf", "installs/python")):
        folder = Path(root) / versions
        if folder.is_dir():
            managed += sorted(str(path / "bin") for path in folder.iterdir() if (path / "bin").is_dir())
    path = [entry for entry in environ.get("PATH", "").split(os.pathsep) if entry and Path(entry).name != "shims"]
    environ["PATH"] = os.pathsep.join([*path, *managed])
    environ["UV_PYTHON_DOWNLOADS"] = "never"
    environ["NO_COLOR"] = "1"
    return environ


def installed_interpreters(uv: str, environ: Mapping[str, str]) -> list[Interpreter]:
    try:
        completed = subprocess.run([uv, "python", "list", "--only-installed", "--output-format", "json"],
                                   env=dict(environ), capture_output=True, text=True, timeout=120,
                                   stdin=subprocess.DEVNULL)
        entries = json.loads(completed.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        raise DependencyError(f"cannot list the Python interpreters installed here with uv: {error}") from None
    found: dict[tuple[str, str], Interpreter] = {}
    for entry in entries:
        if entry.get("symlink"):
            continue  # the same interpreter under another name
        interpreter = Interpreter(entry["path"], entry["version"], entry.get("implementation", "cpython"))
        found.setdefault((interpreter.implementation, interpreter.version), interpreter)
    return list(found.values())


def choose(request: str | None, installed: list[Interpreter], current: Interpreter, *, origin: str) -> Choice:
    """The interpreter for a version `request` ("3.11", "3.11.7", ">=3.10"; None: the current one).

    The current interpreter wins when it fits, then the newest CPython that fits. A release pinned to
    the patch level (MLflow writes `python: 3.10.12`) that is not installed is stood in for by the
    newest installed release of the same minor version, with a note: uv may not download one."""
    if request is None:
        return Choice(current, None)
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    text = request.strip()
    plain = _PLAIN_VERSION.fullmatch(text) is not None
    try:
        if plain and text.count(".") == 2:
            attempts = [SpecifierSet(f"=={text}"), SpecifierSet(f"=={text.rsplit('.', 1)[0]}.*")]
        elif plain:
            attempts = [SpecifierSet(f"=={text}.*")]
        else:
            attempts = [SpecifierSet(text)]
    except InvalidSpecifier:
        raise DependencyError(f"python version {request!r} in {origin} is not a version; expected e.g. 3.11, "
                              "3.11.7 or >=3.10") from None
    candidates = [current, *sorted(installed, key=lambda i: (i.implementation == "cpython", _version(i)),
                                   reverse=True)]
    for attempt, specifier in enumerate(attempts):
        for interpreter in candidates:
            try:
                fits = Version(interpreter.version) in specifier
            except InvalidVersion:
                continue
            if fits:
                note = None if attempt == 0 else (f"python {text} (from {origin}) is not installed here; using "
                                                  f"{interpreter.version}, the same minor release")
                return Choice(interpreter, note)
    versions = sorted({i.version for i in candidates}, key=lambda v: _version(Interpreter("", v, "")))
    raise DependencyError(f"python {text} (from {origin}) is not installed on this machine; installed: "
                          f"{', '.join(versions) or 'none'} (install it, e.g. with pyenv, or change the pin)")


def _version(interpreter: Interpreter) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", interpreter.version)[:3])
