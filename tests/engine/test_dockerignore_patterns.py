""".dockerignore patterns with Docker's semantics, and the build context they shape. No Docker needed:
the expectations are those of Docker's documentation and of moby's patternmatcher."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from launcher.images import dockerignore
from launcher.images.dockerignore import DockerignoreError, Matcher, clean, read_patterns
from launcher.images.image import ImageError, context_matcher, tree_digest, write_context


def excluded(patterns: str, path: str) -> bool:
    return Matcher(read_patterns(patterns)).excluded(path)


def test_reading_comments_blank_lines_spaces_leading_slash_and_cleaning():
    text = "\ufeff# a comment\n\n  *.log  \n/build\n./a//b/../c/\n!  /keep.log\n #not-a-comment\n/\n"
    assert read_patterns(text) == ["*.log", "build", "a/c", "!keep.log", "#not-a-comment", "/"]


def test_clean_is_go_filepath_clean():
    assert [clean(p) for p in ("", "a/", "//a//b", "./x/./y", "a/../../b", "/..")] == [
        ".", "a", "/a/b", "x/y", "../b", "/"]


@pytest.mark.parametrize("pattern, path, expected", [
    # From Docker's .dockerignore documentation.
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp.txt", False),  # one level below the root only
    ("*/temp*", "a/b/temp.txt", False),
    ("*/*/temp*", "a/b/temp.txt", True),
    ("temp?", "temp1", True),
    ("temp?", "temp12", False),
    ("**/*.go", "main.go", True),
    ("**/*.go", "cmd/tool/main.go", True),
    ("**/*.go", "main.gox", False),
    # Anchored at the root (gitignore's `foo` would match at any depth).
    ("foo", "a/foo", False),
    ("foo", "foo", True),
    # A pattern that matches a directory excludes what is below it.
    ("build", "build/x/y.o", True),
    ("a/*", "a/b/c/d", True),
    # `**` spans any number of path elements, none included.
    ("a/**/z", "a/z", True),
    ("a/**/z", "a/b/c/z", True),
    ("a/**", "a/b", True),
    ("a/**", "ab", False),
    ("**", "anything/at/all", True),
    # `*` and `?` never cross a slash.
    ("a*", "a/b", True),  # via its parent a
    ("*b", "a/b", False),
    ("a?b", "a/b", False),
    # Character classes, escapes, literal regex characters.
    ("file[0-9].txt", "file7.txt", True),
    ("file[0-9].txt", "filex.txt", False),
    ("file[^0-9].txt", "filex.txt", True),
    ("\\*.txt", "*.txt", True),
    ("\\*.txt", "a.txt", False),
    ("a+b(c).txt", "a+b(c).txt", True),
    ("a.txt", "aXtxt", False),
    # The path asked about is cleaned too.
    ("a/b", "./a//b/", True),
])
def test_patterns_match_as_docker(pattern, path, expected):
    assert excluded(pattern, path) is expected


def test_exceptions_later_lines_win():
    patterns = "*.md\n!README*.md\nREADME-secret.md\n"
    assert excluded(patterns, "CHANGELOG.md")
    assert not excluded(patterns, "README.md")
    assert not excluded(patterns, "README-public.md")
    assert excluded(patterns, "README-secret.md")
    assert excluded("*\n!keep\n", "other") and not excluded("*\n!keep\n", "keep")
    # An exception for a file inside an excluded directory brings it back.
    assert not excluded("logs\n!logs/keep.txt\n", "logs/keep.txt")
    assert excluded("logs\n!logs/keep.txt\n", "logs/other.txt")


def test_malformed_patterns_are_one_line_errors():
    for bad, words in (("[a", "unclosed '['"), ("!", '"!" excludes nothing'), ("a\\", "ends with an escape"),
                       ("[]", "character class"), ("[z-a]", "range z-a")):
        with pytest.raises(DockerignoreError) as caught:
            Matcher(read_patterns(bad + "\n"))
        assert words in str(caught.value) and "\n" not in str(caught.value)


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_walk_skips_excluded_directories_unless_an_exception_names_a_path_inside(tmp_path):
    root = tree(tmp_path, {"a.py": "", "logs/keep.txt": "", "logs/x.log": "", "data/deep/keep": "",
                           "data/deep/big.bin": "", "notes/keep": ""})
    matcher = Matcher(read_patterns("logs\n!logs/keep.txt\ndata\n!data/deep/keep\nnotes\n!**/keep\n"))
    sent = list(dockerignore.walk(root, matcher))
    # Entered for the exception, but the excluded directory itself is not sent (the engine creates it).
    assert sent == ["a.py", "data/deep/keep", "logs/keep.txt"]
    # Docker does not enter an excluded directory for an exception that does not start with its path.
    assert "notes/keep" not in sent
    assert list(dockerignore.walk(root, None)) == [
        "a.py", "data", "logs", "notes", "data/deep", "data/deep/big.bin", "data/deep/keep", "logs/keep.txt",
        "logs/x.log", "notes/keep"]


def own_build(root: Path, dockerfile: str = "Dockerfile") -> dict:
    return {"context": str(root), "dockerfile": dockerfile, "generated": None, "requirements": []}


def generated_build(root: Path) -> dict:
    return {"context": str(root), "dockerfile": None, "generated": "FROM scratch\n", "requirements": [],
            "requirements_file": "requirements.launcher.txt", "source_dir": "src", "source_key": "snapshot:x"}


def tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_context_sends_the_dockerfile_and_dockerignore_even_when_matched(tmp_path):
    root = tree(tmp_path / "src", {"Dockerfile": "FROM scratch\n", "run.py": "", "secret.env": "",
                                   ".dockerignore": "Dockerfile\n.dockerignore\n*.env\n"})
    write_context(own_build(root), tmp_path / "context.tar")
    assert sorted(tar_names(tmp_path / "context.tar")) == [".dockerignore", "Dockerfile", "run.py"]

    # A Dockerfile in an excluded folder is sent too (the folder is entered for it).
    tree(root, {"docker/Dockerfile": "FROM scratch\n", "docker/other": "", ".dockerignore": "docker\n"})
    write_context(own_build(root, "docker/Dockerfile"), tmp_path / "context2.tar")
    names = tar_names(tmp_path / "context2.tar")
    assert "docker/Dockerfile" in names and "docker/other" not in names


def test_generated_context_applies_the_source_dockerignore_under_src(tmp_path):
    root = tree(tmp_path / "src", {"train.py": "", "cache/a.bin": "", ".dockerignore": "cache\n.dockerignore\n"})
    write_context(generated_build(root), tmp_path / "context.tar")
    assert sorted(tar_names(tmp_path / "context.tar")) == [
        "Dockerfile", "requirements.launcher.txt", "src", "src/train.py"]


def test_the_source_digest_covers_only_what_is_sent(tmp_path):
    from launcher.images.image import _source_digest

    root = tree(tmp_path / "src", {"train.py": "print(1)\n", "data.csv": "1\n", ".dockerignore": "*.csv\n"})
    build = generated_build(root)
    first = _source_digest(build)
    assert first.startswith("sent:")  # not the snapshot key: that changes with ignored files
    (root / "data.csv").write_text("2\n")
    assert _source_digest(build) == first
    (root / "train.py").write_text("print(2)\n")
    assert _source_digest(build) != first
    (root / ".dockerignore").unlink()
    assert _source_digest(build) == "snapshot:x"
    assert tree_digest(root) != tree_digest(root, Matcher(["*.csv"]))


def test_a_malformed_dockerignore_is_an_image_error_naming_the_file(tmp_path):
    root = tree(tmp_path / "src", {"train.py": "", ".dockerignore": "ok\n[broken\n"})
    with pytest.raises(ImageError) as caught:
        context_matcher(generated_build(root))
    message = str(caught.value)
    assert ".dockerignore" in message and "'[broken'" in message and "\n" not in message
