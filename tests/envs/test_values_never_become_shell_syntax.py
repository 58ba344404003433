"""A command that runs with bash -c quotes every value for the place it stands in (bare, inside the
template's double quotes, inside its single quotes): run for real, bash hands each value to the program
unchanged and nothing in a value runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.jobs.mlproject import parse_project, render_entry_point

HOSTILE = [
    "; touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "' ; touch pwned ; '",
    '" ; touch pwned ; "',
    "a'b\"c",
    "x && touch pwned",
    "| touch pwned",
    "$HOME ${HOME} $((1+1))",
    "line\ntouch pwned",
    "back\\slash\\",
    "*",
    "~",
    "{v}",
    "",
    "  spaced  ",
]


def project(printer: str) -> dict:
    text = f"""\
entry_points:
  bare:
    parameters: {{v: string}}
    command: "true && {printer} pre{{v}}post {{v}}"
  double:
    parameters: {{v: string}}
    command: "{printer} \\"in {{v}} side\\" && true"
  single:
    parameters: {{v: string}}
    command: "{printer} 'in {{v}} side'; true"
  escaped:
    parameters: {{v: string}}
    command: |
      {printer} "a\\\\{{v}}" \\{{{{v}}}} ; true
"""
    return parse_project(text).entry_points


@pytest.mark.parametrize("value", HOSTILE)
def test_each_value_reaches_the_program_unchanged(tmp_path: Path, value: str):
    printer = tmp_path / "printer.py"
    printer.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    entry_points = project(f"{sys.executable} {printer}")
    expected = {"bare": [f"pre{value}post", value], "double": [f"in {value} side"], "single": [f"in {value} side"],
                "escaped": [f"a\\{value}", "{v}"]}
    for name, entry in entry_points.items():
        rendered = render_entry_point(entry, {"v": value}, tmp_path)
        assert rendered.shell and rendered.argv[:2] == ("bash", "-c")
        completed = subprocess.run(rendered.argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert completed.returncode == 0, completed.stderr
        assert json.loads(completed.stdout) == expected[name], (name, rendered.argv[2])
    assert not (tmp_path / "pwned").exists()


def test_undeclared_values_are_quoted_too(tmp_path: Path):
    printer = tmp_path / "printer.py"
    printer.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    entry = project(f"{sys.executable} {printer}")["bare"]
    rendered = render_entry_point(entry, {"v": "x", "extra": "; touch pwned"}, tmp_path)
    completed = subprocess.run(rendered.argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert json.loads(completed.stdout) == ["prexpost", "x", "--extra", "; touch pwned"]
    assert not (tmp_path / "pwned").exists()


def test_a_plain_command_never_involves_a_shell(tmp_path: Path):
    entry = parse_project("entry_points:\n  main:\n    parameters: {v: string}\n"
                          "    command: python t.py --v={v} \"{v}\"\n").entry_points["main"]
    rendered = render_entry_point(entry, {"v": "$(touch pwned); x"}, tmp_path)
    assert rendered.argv == ("python", "t.py", "--v=$(touch pwned); x", "$(touch pwned); x")
    assert not rendered.shell


@pytest.mark.parametrize("command", ['python p.py "\\{v}"', "python p.py \\{v} | cat", "python p.py \\{v}"])
def test_a_backslash_escaping_a_value_is_refused(command):
    """`\\{v}` would escape the first quote of the quoted value (inside double quotes, the value would then
    expand): such a template is refused when the project is read."""
    from launcher.errors import SourceError

    text = f"entry_points:\n  main:\n    parameters: {{v: string}}\n    command: '{command}'\n"
    with pytest.raises(SourceError, match=r"cannot be read as bash would: a backslash stands right before \{v\}"):
        parse_project(text)
