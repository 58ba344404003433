"""Reading a file the user names (a config, a sweep definition) as UTF-8 text, with one-line errors."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import LaunchError


def read_text_file(path: Path, what: str, expected: str, error: type[LaunchError]) -> str:
    """The file's text, or `error` saying why it cannot be had: `what` names the file ("config file
    'x.toml'"), `expected` what it should be ("a TOML file")."""
    if path.is_dir():
        raise error(f"{what} is a directory; expected {expected}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{what} is not UTF-8 text (byte {problem.object[problem.start]:#04x} at offset "
                    f"{problem.start}); expected {expected}") from None
    except OSError as problem:
        raise error(f"{what} cannot be read: {problem.strerror or problem}") from None
