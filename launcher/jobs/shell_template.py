"""MLproject command templates, read as MLflow runs them, without handing values to a shell.

MLflow fills a template with `str.format` (each value through `shlex.quote`) and runs the result with
`bash -c`. Here the template is read once, as bash would read it after the substitution: quotes,
backslash escapes and backslash-newline continuations, with every `{name}` field noted in the quoting it
stands in. A template that uses nothing but words (the common case) becomes an argv list with each value
put inside its word as plain text. A template that uses shell syntax (`|`, `>`, `&&`, `;`, a line break,
`$`, globs, ...) runs with `bash -c`, every value quoted for the place it stands in: a value can never
become shell syntax, even inside the template's own quotes (where MLflow's quoting would break)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

#: A `{name}` field. Names may hold dots and dashes (MLflow's parameter names do).
FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_OPERATOR_CHARACTERS = "|&;<>()"
_EXPANSION_CHARACTERS = "$`"
_GLOB_CHARACTERS = "*?["
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class TemplateError(ValueError):
    """A template that cannot be read safely: an unclosed quote, a backslash escaping a field."""


class Quoting(StrEnum):
    NONE = "none"
    SINGLE = "single"
    DOUBLE = "double"


@dataclass(frozen=True)
class Field:
    """A `{name}` in the template: where it stands (`start`..`end` in the command) and in which quotes."""

    name: str
    quoting: Quoting
    start: int
    end: int


Part = str | Field


@dataclass(frozen=True)
class CommandTemplate:
    #: The command as written, without the trailing white space (and trailing continuation) that YAML's
    #: `|` blocks leave, so that appended options join its last line.
    command: str
    #: The words bash would make of it, each a sequence of literal text and fields.
    words: tuple[tuple[Part, ...], ...]
    fields: tuple[Field, ...]
    #: Why the command needs bash, e.g. "'|'" (None: it is plain words and runs as argv).
    shell_syntax: str | None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(field.name for field in self.fields)

    def argv(self, texts: Mapping[str, str]) -> list[str]:
        """The words with each field replaced by its value's text (only for templates without shell syntax)."""
        return ["".join(part if isinstance(part, str) else texts[part.name] for part in word) for word in self.words]

    def shell_command(self, texts: Mapping[str, str]) -> str:
        """The command for `bash -c`, each field replaced by its value quoted for the quotes it stands in."""
        by_start = {field.start: field for field in self.fields}
        out: list[str] = []
        position = 0
        command = self.command
        while position < len(command):
            field = by_start.get(position)
            if field is not None:
                out.append(_quoted(texts[field.name], field.quoting))
                position = field.end
            elif command.startswith(("{{", "}}"), position):
                out.append(command[position])  # str.format's escapes, as MLflow's format reads them
                position += 2
            else:
                out.append(command[position])
                position += 1
        return "".join(out)


def _quoted(text: str, quoting: Quoting) -> str:
    quoted = shlex.quote(text)
    if quoting is Quoting.SINGLE:
        return f"'{quoted}'"  # close the template's single quotes around the value, then reopen them
    if quoting is Quoting.DOUBLE:
        return f'"{quoted}"'
    return quoted


def _strip_end(command: str) -> str:
    """Drop trailing white space, and a backslash that continued the last line into nothing."""
    stripped = command.rstrip()
    if len(stripped) < len(command) and "\n" in command[len(stripped):]:
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2 == 1 and command[len(stripped)] == "\n":
            stripped = stripped[:-1].rstrip()
    return stripped


def parse(command: str) -> CommandTemplate:
    """Read a template as bash reads it; TemplateError when it cannot (an unclosed quote)."""
    return _Reader(_strip_end(command)).read()


class _Reader:
    def __init__(self, command: str) -> None:
        self.command = command
        self.words: list[tuple[Part, ...]] = []
        self.current: list[Part] | None = None  # None: between words
        self.fields: list[Field] = []
        self.shell_syntax: str | None = None

    def add(self, part: Part) -> None:
        if self.current is None:
            self.current = []
        if isinstance(part, str) and self.current and isinstance(self.current[-1], str):
            self.current[-1] += part
        else:
            self.current.append(part)

    def end_word(self) -> None:
        if self.current is not None:
            self.words.append(tuple(self.current))
            self.current = None

    def needs_shell(self, why: str) -> None:
        if self.shell_syntax is None:
            self.shell_syntax = why

    def read(self) -> CommandTemplate:
        text = self.command
        state = Quoting.NONE
        position = 0
        while position < len(text):
            char = text[position]
            # str.format runs before the shell, so braces mean the same in every quoting.
            if text.startswith(("{{", "}}"), position):
                self.add(char)
                if state is Quoting.NONE:
                    self.needs_shell(f"{char!r}")  # a bare brace is bash's brace expansion or grouping
                position += 2
                continue
            match = FIELD.match(text, position)
            if match is not None:
                field = Field(match.group(1), state, position, match.end())
                self.fields.append(field)
                self.add(field)
                position = match.end()
                continue
            if state is Quoting.SINGLE:
                if char == "'":
                    state = Quoting.NONE
                else:
                    self.add(char)
                position += 1
            elif state is Quoting.DOUBLE:
                position, state = self._double_quoted(text, position, char)
            else:
                position, state = self._unquoted(text, position, char)
        if state is not Quoting.NONE:
            raise TemplateError(f"its {state.value} quote is never closed")
        self.end_word()
        first = self.words[0] if self.words else ()
        if first and isinstance(first[0], str) and _ASSIGNMENT.match(first[0]):
            self.needs_shell("a variable assignment")
        return CommandTemplate(text, tuple(self.words), tuple(self.fields), self.shell_syntax)

    def _double_quoted(self, text: str, position: int, char: str) -> tuple[int, Quoting]:
        if char == '"':
            return position + 1, Quoting.NONE
        if char == "\\":
            self._no_escaped_field(text, position)
        following = text[position + 1] if position + 1 < len(text) else ""
        if char == "\\" and following and following in '$`"\\\n':
            if following != "\n":  # backslash-newline is a continuation inside double quotes too
                self.add(following)
            return position + 2, Quoting.DOUBLE
        if char in _EXPANSION_CHARACTERS:
            self.needs_shell(repr(char))
        self.add(char)
        return position + 1, Quoting.DOUBLE

    @staticmethod
    def _no_escaped_field(text: str, position: int) -> None:
        """A backslash right before a field would escape the quoting its value gets: refused."""
        match = FIELD.match(text, position + 1)
        if match is not None:
            raise TemplateError(f"a backslash stands right before {match.group(0)}; remove it")

    def _unquoted(self, text: str, position: int, char: str) -> tuple[int, Quoting]:
        following = text[position + 1] if position + 1 < len(text) else ""
        if char == "\\":
            self._no_escaped_field(text, position)
            if following == "\n":
                return position + 2, Quoting.NONE  # a continuation: the line goes on
            if following in ("", "{", "}"):
                # At the very end, or before an escaped brace (`\{{`): bash decides.
                self.needs_shell("a backslash before a brace" if following else "a trailing backslash")
                self.add(char)
                return position + 1, Quoting.NONE
            self.add(following)
            return position + 2, Quoting.NONE
        if char in " \t":
            self.end_word()
            return position + 1, Quoting.NONE
        if char == "\n":
            self.needs_shell("a line break")
            self.end_word()
            return position + 1, Quoting.NONE
        if char == "'":
            self.add("")  # the word has begun, even if the quotes hold nothing
            return position + 1, Quoting.SINGLE
        if char == '"':
            self.add("")
            return position + 1, Quoting.DOUBLE
        if char in _OPERATOR_CHARACTERS:
            end = position
            while end < len(text) and text[end] in _OPERATOR_CHARACTERS:
                end += 1
            self.needs_shell(repr(text[position:end]))
        elif char in _EXPANSION_CHARACTERS or char in _GLOB_CHARACTERS:
            self.needs_shell(repr(char))
        elif char in "#~" and self.current is None:
            self.needs_shell(repr(char))  # a comment, or a home directory
        self.add(char)
        return position + 1, Quoting.NONE
