"""What cannot be built says so in one line, and leaves no environment behind: a requirement the index
does not have (uv's own line naming it), a Python version not installed (naming what is), a conda-only
package (refused before uv runs at all)."""

from __future__ import annotations

import pytest

from launcher.envs.declared import DeclaredDependencies, DependencySource
from launcher.envs.uv_env import ensure_environment, failure_line
from launcher.errors import DependencyError
from tests.envs.conftest import leftovers

MISSING = "launcher-h2-no-such-package-7f3k"


# uv wraps its message at the width COLUMNS gives (80 under pytest-xdist's workers): unwrapped, it is one line
@pytest.mark.parametrize("columns", [None, "60"])
def test_a_requirement_the_index_lacks_is_uvs_line_naming_it(tmp_path, monkeypatch, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six", MISSING))
    chunks: list[bytes] = []
    with pytest.raises(DependencyError) as raised:
        ensure_environment(declared, tmp_path / "envs", on_output=chunks.append)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("uv could not install the requirements: Because ")
    assert f"{MISSING} was not found in the package registry" in message
    assert MISSING in b"".join(chunks).decode()  # the whole of uv's output went to the log
    assert leftovers(tmp_path / "envs") == []


def test_a_python_version_not_installed_names_what_is(tmp_path):
    declared = DeclaredDependencies(DependencySource.CONDA_ENV, "conda.yaml", python="3.4", requirements=("six",))
    with pytest.raises(DependencyError) as raised:
        ensure_environment(declared, tmp_path / "envs")
    message = str(raised.value)
    assert message.startswith("python 3.4 (from conda.yaml) is not installed on this machine; installed: 3.")
    assert "\n" not in message
    assert leftovers(tmp_path / "envs") == []


def test_an_unreadable_python_pin_is_one_line(tmp_path):
    declared = DeclaredDependencies(DependencySource.PYTHON_ENV, "python_env.yaml", python="three", requirements=("six",))
    with pytest.raises(DependencyError, match="python version 'three' in python_env.yaml is not a version"):
        ensure_environment(declared, tmp_path / "envs")


def test_a_patch_release_not_installed_uses_the_same_minor_and_says_so(tmp_path):
    from launcher.envs import interpreters

    current = interpreters.current_interpreter()
    minor = current.version.rsplit(".", 1)[0]
    choice = interpreters.choose(f"{minor}.999", [], current, origin="python_env.yaml")
    assert choice.interpreter == current
    assert choice.note == (f"python {minor}.999 (from python_env.yaml) is not installed here; using "
                           f"{current.version}, the same minor release")


def test_conda_only_packages_are_refused_before_anything_runs(tmp_path):
    declared = DeclaredDependencies(DependencySource.CONDA_ENV, "conda.yaml", requirements=("numpy",),
                                    conda_only=("cudatoolkit", "mkl"))
    with pytest.raises(DependencyError, match="conda.yaml lists conda-only packages cudatoolkit, mkl"):
        ensure_environment(declared, tmp_path / "envs")
    assert not (tmp_path / "envs").exists()


def test_failure_line_prefers_the_line_naming_a_requirement():
    output = ("Using Python 3.11.7 environment at: .tmp\n"
              "  × No solution found when resolving dependencies:\n"
              "  ╰─▶ Because torchx==99 has no wheels with a matching platform tag and you require torchx==99, "
              "we can conclude that your requirements are unsatisfiable.\n"
              "help: Try `--python-platform`\n")
    assert failure_line(output, ("six", "torchx==99"), "pip") == (
        "uv could not install the requirements: Because torchx==99 has no wheels with a matching platform tag and "
        "you require torchx==99, we can conclude that your requirements are unsatisfiable.")
    assert failure_line("error: Failed to spawn\n", ("six",), "venv") == "uv venv failed: Failed to spawn"
