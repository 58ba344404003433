"""The package index settings pip uses on this machine, read as pip reads them, and given to uv, so that
an environment built with uv installs from the same places as `pip install` would.

pip's order (later wins): the global files (`$XDG_CONFIG_DIRS/pip/pip.conf`, then `/etc/pip.conf`), the
user files (`~/.pip/pip.conf`, then the user config dir's `pip/pip.conf`), the site file
(`sys.prefix/pip.conf`), the file `PIP_CONFIG_FILE` names, then `PIP_*` variables. In each file the
`[install]` section overrides `[global]`. Only the settings that choose where packages come from are
read: index-url, extra-index-url, find-links, no-index, constraint, trusted-host, cert."""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_KEYS = ("index-url", "extra-index-url", "find-links", "no-index", "constraint", "trusted-host", "cert")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class IndexSettings:
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    constraints: tuple[str, ...] = ()  # constraint files
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None  # a CA bundle

    def uv_arguments(self, *, index_url: str | None = None, extra_index_urls: tuple[str, ...] = ()) -> list[str]:
        """`uv pip install` options for these settings, with a project's own index (which replaces the
        default one, as an `--index-url` line in a requirements file does for pip) and extra indexes."""
        arguments: list[str] = []
        default = index_url or self.index_url
        if default:
            arguments += ["--default-index", default]
        extras = [*self.extra_index_urls, *(url for url in extra_index_urls if url not in self.extra_index_urls)]
        for url in extras:
            arguments += ["--index", url]
        if extras:
            # pip takes the best version found on any index; uv's default stops at the first index that
            # has the package. Resolve as pip does.
            arguments += ["--index-strategy", "unsafe-best-match"]
        for location in self.find_links:
            arguments += ["--find-links", location]
        if self.no_index:
            arguments.append("--no-index")
        for constraint in self.constraints:
            arguments += ["--constraints", constraint]
        for host in self.trusted_hosts:
            arguments += ["--allow-insecure-host", host]
        return arguments

    def uv_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Variables to add to uv's environment: pip's CA bundle, unless one is chosen already."""
        if self.cert and "SSL_CERT_FILE" not in environ:
            return {"SSL_CERT_FILE": self.cert}
        return {}

    def remote_only(self) -> IndexSettings:
        """The settings that also work on another machine or in a container: remote indexes only."""
        def remote(url: str) -> bool:
            return url.startswith(("http://", "https://"))
        return IndexSettings(self.index_url if self.index_url and remote(self.index_url) else None,
                             tuple(filter(remote, self.extra_index_urls)), tuple(filter(remote, self.find_links)),
                             self.no_index, (), self.trusted_hosts, None)

    def fingerprint(self) -> dict[str, object]:
        """What an environment built with these settings depends on (for its cache key)."""
        return {"index_url": self.index_url, "extra": list(self.extra_index_urls), "find_links": list(self.find_links),
                "no_index": self.no_index, "constraints": [_file_identity(path) for path in self.constraints]}


def config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files in the order pip loads them (later wins)."""
    chosen = environ.get("PIP_CONFIG_FILE")
    if chosen == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(folder) / "pip" / "pip.conf" for folder in xdg_dirs.split(os.pathsep) if folder]
    files.append(Path("/etc/pip.conf"))
    home = Path(environ.get("HOME") or Path.home())
    user_config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    # pip skips the user files when PIP_CONFIG_FILE names a file that exists
    if not (chosen and Path(chosen).exists()):
        files += [home / ".pip" / "pip.conf", user_config / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if chosen:
        files.append(Path(chosen))
    return files


def read_pip_settings(environ: Mapping[str, str] | None = None) -> IndexSettings:
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for path in config_files(environ):
        values.update(_read_file(path))
    for key in _KEYS:
        variable = "PIP_" + key.upper().replace("-", "_")
        if environ.get(variable):
            values[key] = environ[variable]
    return IndexSettings(
        index_url=values.get("index-url") or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        no_index=values.get("no-index", "").strip().lower() in _TRUE,
        constraints=tuple(values.get("constraint", "").split()),
        trusted_hosts=tuple(values.get("trusted-host", "").split()),
        cert=values.get("cert") or None,
    )


def _read_file(path: Path) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    try:
        if not parser.read(path, encoding="utf-8"):
            return {}
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}  # pip would refuse such a file; uv is left to its own defaults for it
    found: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            for key, value in parser.items(section):
                key = key.replace("_", "-")
                if key in _KEYS:
                    found[key] = value.strip()
    return found


def _file_identity(path: str) -> str:
    try:
        return f"{path}:{Path(path).read_text(errors='replace')}"
    except OSError:
        return path
