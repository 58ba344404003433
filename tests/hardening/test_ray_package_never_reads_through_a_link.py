"""Finding 1 of issue 10: the Ray working directory was staged with its links kept, and Ray's packager
reads through links, so a link to a host file shipped the file. The staged tree now holds no link at all:
links inside the source arrive as copies of what they lead to, a link out stops the upload with one line.
Ray's own packager (the code that builds the zip it uploads) is the judge here; the real cluster's side is
in test_no_resource_gives_a_program_a_host_file.py."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from launcher.errors import SourceError
from launcher.runners.ray_package import stage_working_dir

packaging = pytest.importorskip("ray._private.runtime_env.packaging")


def ray_zip(staged: Path, out: Path) -> dict[str, bytes]:
    packaging._zip_files(str(staged), [], str(out), include_gitignore=True)
    with zipfile.ZipFile(out) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret\n")
    return secret


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text("{}")
    return path


@pytest.mark.parametrize("target", ["absolute", "dotdot", "chain"])
def test_a_link_out_of_the_source_stops_the_upload_and_names_the_link(tmp_path, host_secret, config, target):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    if target == "absolute":
        os.symlink(host_secret, src / "leak")
    elif target == "dotdot":
        os.symlink("../host/secret.txt", src / "leak")
    else:  # each link on its own stays inside; followed one after the other they leave
        (src / "sub").mkdir()
        os.symlink("..", src / "sub" / "up")
        os.symlink("sub/up/../host/secret.txt", src / "leak")
    with pytest.raises(SourceError, match="the link 'leak' points outside the source") as raised:
        stage_working_dir(src, config, tmp_path / "staged")
    assert "\n" not in str(raised.value)
    staged = tmp_path / "staged"
    assert not any(p.is_file() and p.read_bytes() == b"host secret\n" for p in staged.rglob("*"))


def test_links_inside_arrive_as_copies_and_ray_ships_no_host_file(tmp_path, config):
    src = tmp_path / "src"
    (src / "shared" / "data").mkdir(parents=True)
    (src / "train.py").write_text("print(1)\n")
    (src / "shared" / "data" / "rows.csv").write_text("a,b\n")
    os.symlink("train.py", src / "alias.py")
    os.symlink("shared/data", src / "data")  # a linked folder: its files arrive under the link's name
    os.symlink("..", src / "shared" / "up")  # a folder holding itself: left out, never a loop
    os.mkfifo(src / "pipe")
    notes: list[str] = []
    count, _ = stage_working_dir(src, config, tmp_path / "staged", notes.append)
    assert not [p for p in (tmp_path / "staged").rglob("*") if p.is_symlink()]
    shipped = ray_zip(tmp_path / "staged", tmp_path / "package.zip")
    assert shipped == {"train.py": b"print(1)\n", "alias.py": b"print(1)\n", "shared/data/rows.csv": b"a,b\n",
                       "data/rows.csv": b"a,b\n", ".launcher/config.json": b"{}"}
    assert count == len(shipped)
    assert any("'pipe'" in note and "FIFO" in note for note in notes)
    assert any("'shared/up'" in note for note in notes)
