"""pip's requirements-file format: requirement lines, `-r` includes (relative to the including file,
never outside the source), `--index-url` and `--extra-index-url`. Lines this launcher does not honour
(editable installs, local paths, other options) are kept as notes, so nothing is dropped silently.

Files are read through `read_file(relative_path) -> str | None`, so a directory and a git commit are
read the same way."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from launcher.errors import DependencyError

ReadFile = Callable[[str], str | None]

#: pip's comment rule: a `#` at the start of a line or after white space.
_COMMENT = re.compile(r"(^|\s+)#.*$")
#: Options that may follow a requirement on its line (`--hash=...`); the requirement is what precedes.
_TRAILING_OPTIONS = re.compile(r"\s+--?[A-Za-z]")
_INCLUDE = ("-r", "--requirement")
_INDEX = ("-i", "--index-url")
_EXTRA_INDEX = ("--extra-index-url",)


@dataclass
class Requirements:
    """What a set of requirement lines declares, in order, without duplicates."""

    requirements: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, requirement: str) -> None:
        if requirement not in self.requirements:
            self.requirements.append(requirement)


@dataclass(frozen=True)
class Line:
    """One logical line and where it came from, for messages: `where` reads e.g. "requirements.txt line 3"."""

    text: str
    where: str


def normalize_path(relative: str, where: str) -> str:
    """A path inside the source, normalized; DependencyError for one that leaves it."""
    path = posixpath.normpath(relative)
    if posixpath.isabs(relative) or path == ".." or path.startswith("../"):
        raise DependencyError(f"{where}: {relative!r} points outside the job's source; expected a file inside it")
    return path


def read_requirements_file(path: str, read_file: ReadFile, into: Requirements | None = None, *,
                           where: str | None = None, chain: tuple[str, ...] = ()) -> Requirements:
    """Read the requirements file at `path` (relative to the source root), following its includes."""
    result = into if into is not None else Requirements()
    if path in chain:
        raise DependencyError(f"{where or path}: -r {path} includes itself (through {' -> '.join(chain)})")
    text = read_file(path)
    if text is None:
        raise DependencyError(f"{where or 'requirements'}: the source has no file {path!r}")
    parse_lines(file_lines(text, path), posixpath.dirname(path), read_file, result, chain=(*chain, path))
    return result


def file_lines(text: str, path: str) -> list[Line]:
    """Logical lines of a requirements file: continuations joined, comments and blank lines dropped."""
    lines: list[Line] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending += raw[:-1]
            continue
        logical = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if logical:
            lines.append(Line(logical, f"{path} line {start}"))
    if pending.strip():
        lines.append(Line(_COMMENT.sub("", pending).strip(), f"{path} line {start}"))
    return lines


def parse_lines(lines: Iterable[Line], base_dir: str, read_file: ReadFile, result: Requirements, *,
                chain: tuple[str, ...] = ()) -> Requirements:
    """Requirement lines (from a file, python_env's dependencies or conda's pip list). Includes are
    relative to `base_dir`, the folder of the file that holds the lines."""
    for line in lines:
        if line.text.startswith("-"):
            _option(line, base_dir, read_file, result, chain)
        else:
            _requirement(line, result)
    return result


def _option(line: Line, base_dir: str, read_file: ReadFile, result: Requirements, chain: tuple[str, ...]) -> None:
    try:
        words = shlex.split(line.text)
    except ValueError as error:
        raise DependencyError(f"{line.where}: {line.text!r} cannot be read: {error}") from None
    name, value = _split_option(words)
    if name in _INCLUDE and value:
        if "://" in value:
            raise DependencyError(f"{line.where}: -r {value} names a URL; expected a file in the job's source")
        target = normalize_path(posixpath.join(base_dir, value), line.where)
        read_requirements_file(target, read_file, result, where=line.where, chain=chain)
    elif name in _INDEX and value:
        result.index_url = value
    elif name in _EXTRA_INDEX and value:
        if value not in result.extra_index_urls:
            result.extra_index_urls.append(value)
    else:
        result.notes.append(f"{line.where}: {line.text!r} is not honoured (the launcher installs requirements, "
                            "-r includes and index URLs)")


def _split_option(words: list[str]) -> tuple[str, str | None]:
    """("-r", "x.txt") from `-r x.txt`, `-rx.txt`, `--requirement=x.txt`, `--requirement x.txt`."""
    first = words[0]
    if first.startswith("--") and "=" in first:
        name, value = first.split("=", 1)
        return name, value
    if first.startswith("--"):
        return first, words[1] if len(words) > 1 else None
    if len(first) > 2:
        return first[:2], first[2:]
    return first, words[1] if len(words) > 1 else None


def _requirement(line: Line, result: Requirements) -> None:
    text = _TRAILING_OPTIONS.split(line.text, maxsplit=1)[0].strip()
    if text.startswith((".", "/", "~")) or text.startswith("file:"):
        result.notes.append(f"{line.where}: {text!r} is a local path, not honoured: an environment is shared "
                            "between jobs; install it from the entry point instead")
        return
    if "://" in text and "@" not in text.split("://", 1)[0]:
        result.add(text)  # a direct URL to an archive: uv installs it as it is
        return
    from packaging.requirements import InvalidRequirement, Requirement  # imported when a file has lines

    try:
        Requirement(text)
    except InvalidRequirement as error:
        raise DependencyError(f"{line.where}: {text!r} is not a requirement ({str(error).splitlines()[0]}); "
                              "expected e.g. 'numpy>=1.24'") from None
    result.add(text)
