"""uv installs from where pip is configured to install from: pip's files in pip's order, then PIP_*
variables; proven with a package that exists only in a local find-links folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from launcher.envs.declared import DeclaredDependencies, DependencySource
from launcher.envs.pip_config import read_pip_settings
from launcher.envs.uv_env import ensure_environment, uv_binary


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def probe_wheels(tmp_path: Path) -> Path:
    """A wheel of a package no index has, built with uv into its own folder."""
    project = tmp_path / "probe"
    write(project / "pyproject.toml", '[project]\nname = "launcher-h2-probe"\nversion = "1.0"\n\n'
          '[build-system]\nrequires = ["uv_build>=0.8,<0.14"]\nbuild-backend = "uv_build"\n')
    write(project / "src" / "launcher_h2_probe" / "__init__.py", "VALUE = 42\n")
    wheels = tmp_path / "wheels"
    subprocess.run([uv_binary(), "build", "--wheel", "-o", str(wheels), str(project)], check=True,
                   capture_output=True, timeout=300)
    return wheels


def pip_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environ.update(HOME=str(tmp_path / "home"), XDG_CONFIG_DIRS=str(tmp_path / "xdg"),
                   XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"), **variables)
    return environ


def test_files_are_read_in_pips_order_and_variables_win(tmp_path):
    write(tmp_path / "xdg" / "pip" / "pip.conf",
          "[global]\nindex-url = https://global.invalid/simple\nfind-links = /global/wheels\n")
    write(tmp_path / "home" / ".pip" / "pip.conf", "[global]\nextra-index-url = https://legacy.invalid/simple\n")
    write(tmp_path / "home" / ".config" / "pip" / "pip.conf",
          "[global]\nextra_index_url =\n  https://user.invalid/simple\n  file:///srv/simple\n"
          "[install]\nfind-links = /user/wheels\n")
    settings = read_pip_settings(pip_environment(tmp_path, PIP_TRUSTED_HOST="mirror.invalid"))
    assert settings.index_url == "https://global.invalid/simple"
    assert settings.extra_index_urls == ("https://user.invalid/simple", "file:///srv/simple")
    assert settings.find_links == ("/user/wheels",)  # [install] beats [global], the user file the global one
    assert settings.trusted_hosts == ("mirror.invalid",)
    assert settings.uv_arguments(index_url="https://project.invalid/simple") == [
        "--default-index", "https://project.invalid/simple",
        "--index", "https://user.invalid/simple", "--index", "file:///srv/simple",
        "--index-strategy", "unsafe-best-match", "--find-links", "/user/wheels",
        "--allow-insecure-host", "mirror.invalid"]
    assert settings.remote_only().extra_index_urls == ("https://user.invalid/simple",)

    quiet = read_pip_settings(pip_environment(tmp_path, PIP_CONFIG_FILE=os.devnull,
                                              PIP_EXTRA_INDEX_URL="https://a.invalid https://b.invalid"))
    assert (quiet.index_url, quiet.extra_index_urls, quiet.find_links) == (
        None, ("https://a.invalid", "https://b.invalid"), ())


def test_a_package_only_pips_find_links_has_is_installed(tmp_path):
    wheels = probe_wheels(tmp_path)
    write(tmp_path / "home" / ".config" / "pip" / "pip.conf", f"[global]\nfind-links = {wheels}\nno-index = true\n")
    settings = read_pip_settings(pip_environment(tmp_path))
    assert settings.no_index and settings.find_links == (str(wheels),)
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt",
                                    requirements=("launcher-h2-probe==1.0",))
    environment = ensure_environment(declared, tmp_path / "envs", settings=settings)
    value = subprocess.run([str(environment.python), "-c", "import launcher_h2_probe as p; print(p.VALUE)"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert value == "42"
