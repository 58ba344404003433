"""Issue 10, finding 10: a file name that is not UTF-8 gave `internal error: UnicodeEncodeError`. The
policy refuses such names with one line that shows the name (its odd bytes as \\x escapes), for code and
git sources, and stores nothing. Refused rather than stored: a Ray package (zip) and the job's JSON facts
cannot carry such names, so storing them would only move the failure to one resource."""

from __future__ import annotations

import os
import subprocess

import pytest

from launcher.errors import SourceError
from tests.hardening.conftest import cli, make_repo

ODD = b"caf\xe9.txt"  # Latin-1, not UTF-8


def odd_path(root) -> bytes:
    return os.fsencode(root) + b"/" + ODD


def test_code_source_with_a_name_that_is_not_utf8_is_refused_in_one_line(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    with open(odd_path(src), "wb") as f:
        f.write(b"x")
    with pytest.raises(SourceError) as raised:
        api.create_job("code", str(src), entry_point=["python", "train.py"])
    message = str(raised.value)
    assert "the name 'caf\\xe9.txt' is not UTF-8" in message and "\n" not in message
    assert api.list_jobs() == []


def test_a_folder_name_that_is_not_utf8_is_refused_too(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    os.mkdir(os.fsencode(src) + b"/d\xff")
    with pytest.raises(SourceError, match=r"the name 'd\\xff' is not UTF-8"):
        api.create_job("code", str(src), entry_point=["python", "train.py"])


def test_cli_prints_one_line_and_exits_2(home, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    with open(odd_path(src), "wb") as f:
        f.write(b"x")
    result = cli(home, "job", "create", "code", str(src), "-e", "python train.py")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "caf\\xe9.txt" in result.stderr
    assert "internal error" not in result.stderr and "UnicodeEncodeError" not in result.stderr


def test_an_ignored_name_that_is_not_utf8_is_no_problem(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n", ".gitignore": "cache/\n"})
    os.mkdir(src / "cache")
    with open(os.fsencode(src / "cache") + b"/" + ODD, "wb") as f:
        f.write(b"x")
    assert api.create_job("code", str(src), entry_point=["python", "train.py"]).version == 0


def test_git_commit_with_a_name_that_is_not_utf8_is_refused(api, tmp_path):
    def build(work):
        (work / "train.py").write_text("print(1)\n")
        with open(odd_path(work), "wb") as f:
            f.write(b"x")

    repo = make_repo(tmp_path, build)
    listed = subprocess.run(["git", "ls-tree", "-r", "-z", "--name-only", "HEAD"], cwd=repo.work,
                            capture_output=True, check=True).stdout
    assert ODD in listed.split(b"\0")  # git keeps the name's bytes as they are
    with pytest.raises(SourceError, match=r"the name 'caf\\xe9.txt' is not UTF-8"):
        api.create_job("git", str(repo.bare), entry_point=["python", "train.py"])
    assert api.list_jobs() == []


def test_a_link_target_that_is_not_utf8_is_refused(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    os.symlink(ODD, os.fsencode(src) + b"/odd-link")
    with pytest.raises(SourceError, match=r"target of link 'odd-link' 'caf\\xe9.txt' is not UTF-8"):
        api.create_job("code", str(src), entry_point=["python", "train.py"])
