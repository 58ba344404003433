"""`.dockerignore` at the root of a build context, with Docker's own semantics.

Why not pathspec (already a dependency, used for .gitignore): it implements gitwildmatch, and Docker's
rules differ in ways that change what ends up in an image. Docker (moby's patternmatcher) anchors every
pattern at the context root (`foo` does not match `a/foo`; gitignore's does), cleans paths (`./a//b/` is
`a/b`), has no trailing-slash "directories only" rule, lets a pattern that matches a directory exclude
everything below it, and reads `**` anywhere as "any number of path elements". So this module follows
moby's reading of the file (ignorefile.ReadAll), its matcher (patternmatcher.MatchesOrParentMatches) and
the walk of the docker CLI's context tar (an excluded directory is skipped unless the text of an
exception pattern starts with it), with one documented departure: a `\\c` escape always means a literal
`c`, as filepath.Match documents (moby's regexp translation turns `\\d` into a digit class).

Standard library only, and light (no dataclasses): the container run supervisor imports it."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from launcher.errors import LaunchError

FILE_NAME = ".dockerignore"
_UTF8_BOM = "\ufeff"


class DockerignoreError(LaunchError):
    """A .dockerignore pattern is malformed."""


def clean(path: str) -> str:
    """Go's filepath.Clean on a slash path: no empty or `.` elements, `..` resolved lexically, no
    trailing slash; "" becomes "."."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # POSIX keeps a leading "//"; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, as Docker reads them: a line starting with `#` is a comment,
    blank lines are skipped, surrounding spaces go, a leading `/` goes (patterns are relative to the
    context root), and each pattern is cleaned; a `!` prefix (an exception) is kept in front."""
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0 and line.startswith(_UTF8_BOM):
            line = line[len(_UTF8_BOM):]
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if exception else pattern)
    return patterns


class Pattern:
    """One compiled pattern: its cleaned text (without `!`), whether it is an exception, its regex."""

    __slots__ = ("text", "exception", "regex")

    def __init__(self, text: str, exception: bool, regex: re.Pattern[str]) -> None:
        self.text = text
        self.exception = exception
        self.regex = regex

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


def compile_pattern(pattern: str) -> Pattern:
    """One pattern as read by read_patterns (`!` for an exception); DockerignoreError if malformed."""
    text = clean(pattern.strip())
    exception = text.startswith("!")
    if exception:
        if len(text) == 1:
            raise DockerignoreError('.dockerignore pattern "!" excludes nothing; expected "!" followed by a pattern')
        text = text[1:]
    return Pattern(text, exception, re.compile(_translate(text), re.DOTALL))


def _translate(pattern: str) -> str:
    """The regular expression Docker builds for a pattern: `*` and `?` stay within one path element,
    `**` spans any number of elements (`**/` may match none), `[...]` is a character class."""
    out = ["^"]
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1  # "**/" reads as "**"
                out.append(".*" if i == end else "(?:.*/)?")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
            continue
        elif char == "\\":
            if i + 1 == end:
                raise DockerignoreError(f".dockerignore pattern {pattern!r} ends with an escape (\\); expected a "
                                        "character after it")
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return "".join(out)


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """`[...]` at start, as filepath.Match reads it ([^...] negates; ranges lo-hi; \\c escapes); returns
    the regex text and the index after the class."""
    i = start + 1
    negate = pattern.startswith("^", i)
    if negate:
        i += 1
    items: list[str] = []
    while True:
        if i >= len(pattern):
            raise DockerignoreError(f".dockerignore pattern {pattern!r} has an unclosed '['; expected a "
                                    "character class like [abc] or [a-z]")
        if pattern[i] == "]" and items:
            break
        low, i = _class_char(pattern, i)
        if pattern.startswith("-", i) and i + 1 < len(pattern) and pattern[i + 1] != "]":
            high, i = _class_char(pattern, i + 1)
            if high < low:
                raise DockerignoreError(f".dockerignore pattern {pattern!r} has the range {low}-{high}; "
                                        "expected its low end first")
            items.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            items.append(re.escape(low))
    return "[" + ("^" if negate else "") + "".join(items) + "]", i + 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if pattern[i] == "\\":
        i += 1
    if i >= len(pattern) or (pattern[i] == "]" and pattern[i - 1] != "\\"):
        raise DockerignoreError(f".dockerignore pattern {pattern!r} has an empty or unclosed character class; "
                                "expected a class like [abc] or [a-z]")
    return pattern[i], i + 1


class Matcher:
    """Decides which context paths a .dockerignore excludes. Later patterns win over earlier ones; a
    pattern that matches a directory matches everything below it."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [compile_pattern(p) for p in patterns if p.strip()]
        self.has_exceptions = any(p.exception for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether the file or directory at this context-relative slash path is left out."""
        path = clean(path)
        parents = posixpath.dirname(path).split("/") if "/" in path else []
        prefixes = ["/".join(parents[:n + 1]) for n in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            if pattern.exception != matched:
                continue  # an exclusion cannot change an excluded path, nor an exception an included one
            if pattern.matches(path) or any(pattern.matches(prefix) for prefix in prefixes):
                matched = not pattern.exception
        return matched

    def must_enter(self, directory: str) -> bool:
        """Whether an excluded directory is still walked: only when an exception's text starts with it
        (`!dir/keep`); an exception like `!**/keep` does not bring files back from an excluded directory,
        as in Docker."""
        if not self.has_exceptions:
            return False
        prefix = clean(directory) + "/"
        return any(p.exception and (p.text + "/").startswith(prefix) for p in self.patterns)


def load(root: Path, always: Iterable[str] = ()) -> Matcher | None:
    """The matcher of root/.dockerignore, or None when there is none. `always` are paths sent even when
    matched (Docker sends the Dockerfile and the .dockerignore itself: the engine reads them, then drops
    them from the context if they are excluded)."""
    path = root / FILE_NAME
    if not path.is_file():
        return None
    patterns = read_patterns(path.read_text(encoding="utf-8", errors="replace"))
    try:
        return Matcher([*patterns, *(f"!{clean(p)}" for p in always)])
    except DockerignoreError as error:
        raise DockerignoreError(f"{path}: {error}") from None
    except re.error as error:
        raise DockerignoreError(f"{path}: a pattern is malformed ({error}); expected Docker's "
                                ".dockerignore syntax") from None


def walk(root: Path, matcher: Matcher | None) -> Iterator[str]:
    """Context-relative slash paths of what is sent from root, in a stable order (a directory before its
    contents, names sorted): every file, directory and symlink not excluded. An excluded directory that is
    entered for an exception is not itself sent (its included contents are; the engine creates it)."""
    stack = [""]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(root / directory) if directory else os.scandir(root),
                             key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        below = []
        for entry in entries:
            relative = f"{directory}/{entry.name}" if directory else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if matcher is not None and matcher.excluded(relative):
                if is_dir and matcher.must_enter(relative):
                    below.append(relative)
                continue
            yield relative
            if is_dir:
                below.append(relative)
        stack.extend(reversed(below))
