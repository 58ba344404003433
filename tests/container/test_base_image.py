"""The base image's recipe, shared by `launcher images base` and scripts/docker-up: which Debian mirror
it uses, read from apt's sources as written on real machines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from launcher.images.base_image import DEFAULT_MIRROR, debian_mirror, host_debian_mirrors

ROOT = Path(__file__).resolve().parents[2]


def apt_dir(tmp_path: Path, sources_list: str = "", parts: dict[str, str] | None = None) -> Path:
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    (root / "sources.list").write_text(sources_list)
    for name, text in (parts or {}).items():
        (root / "sources.list.d" / name).write_text(text)
    return root


def test_one_line_entries_are_read(tmp_path, monkeypatch):
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    root = apt_dir(tmp_path, (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://sources.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian/ bookworm main contrib\n"
        "deb http://second.example/debian bookworm-updates main\n"))
    assert host_debian_mirrors(root) == ["http://mirror.example/debian", "http://second.example/debian"]
    assert debian_mirror(root) == "http://mirror.example/debian"


def test_deb822_sources_and_other_archives(tmp_path, monkeypatch):
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    root = apt_dir(tmp_path, parts={
        "a-cloud.list": "deb https://packages.example.com/apt cloud-sdk-bookworm main\n",
        "debian.sources": (
            "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
            "Types: deb deb-src\n# a comment\nURIs: http://deb822.example/debian\nSuites: bookworm bookworm-updates\n"
            "Components: main\n\n"
            "Types: deb\nURIs: http://deb822.example/debian-security\nSuites: bookworm-security\n"),
        "old.list.disabled": "deb http://disabled.example/debian bookworm main\n",
    })
    assert host_debian_mirrors(root) == ["http://deb822.example/debian"]
    assert debian_mirror(root) == "http://deb822.example/debian"
    assert debian_mirror(apt_dir(tmp_path / "empty")) == DEFAULT_MIRROR
    monkeypatch.setenv("DEBIAN_MIRROR", "http://chosen.example/debian")
    assert debian_mirror(root) == "http://chosen.example/debian"


def test_docker_up_and_the_cli_use_the_same_recipe():
    # scripts/docker-up runs the module with the system's python3, isolated from site-packages.
    script = (ROOT / "scripts" / "docker-up").read_text()
    assert "from launcher.images.base_image import main" in script
    assert "debootstrap --variant" not in script  # no second recipe in shell
    env = {k: v for k, v in os.environ.items() if k != "DEBIAN_MIRROR"}
    printed = subprocess.run(["python3", "-I", "-S", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1))\n"
                              "from launcher.images.base_image import main\nsys.exit(main())", str(ROOT),
                              "--print-mirror"], capture_output=True, text=True, env=env, timeout=30, check=True)
    assert printed.stdout.strip() == debian_mirror()
