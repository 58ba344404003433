"""The default base image, built locally from Debian packages: no image registry is needed.

The one recipe for it (scripts/docker-up runs this module too, with the system's python3, before the
launcher is installed: standard library only): debootstrap a minimal bookworm with python3, pip, venv,
git and CA certificates from the host's Debian mirror; copy this machine's CA bundle in, so that pip
inside builds trusts the same authorities as the host (networks that inspect TLS); point pip at the
host's package index when it names a remote one; `docker import` the tree.

    python3 -m launcher.images.base_image [--tag TAG] [--mirror URL] [--print-mirror]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.containers.engine import Engine, split_tag
from launcher.errors import LaunchError

DEFAULT_TAG = "launcher-base:bookworm"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-pip", "python3-venv", "git", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PIP_CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
    "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
    'CMD ["python3"]',
)


APT_DIR = Path("/etc/apt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class BaseImageError(LaunchError):
    """The base image cannot be built here."""


def describe(engine: Engine, tag: str = DEFAULT_TAG) -> dict[str, Any] | None:
    """The image's id, size and creation time, or None when the engine does not have it."""
    info = engine.image(tag)
    if info is None:
        return None
    return {"tag": tag, "id": info["Id"], "size": info.get("Size", 0), "created": info.get("Created")}


def build(engine: Engine, tag: str = DEFAULT_TAG, *, mirror: str | None = None,
          progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Build the base image from scratch and import it under `tag`; returns describe()."""
    if shutil.which("debootstrap") is None:
        raise BaseImageError("debootstrap is not installed; install it with: apt-get install debootstrap "
                             "(or run: bash scripts/docker-up)")
    if os.geteuid() != 0:
        raise BaseImageError("building the base image needs root (debootstrap creates device files); "
                             "run it as root, or use: sudo bash scripts/docker-up")
    engine.ping(timeout=5)
    mirror = mirror or debian_mirror()
    rootfs = Path(tempfile.mkdtemp(prefix="launcher-rootfs-"))
    try:
        progress(f"debootstrap {SUITE} from {mirror} (about a minute)")
        result = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE,
                                 str(rootfs), mirror], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BaseImageError(f"debootstrap failed (exit code {result.returncode}): {last[0]}")
        if HOST_CA_BUNDLE.is_file():
            shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        (rootfs / "etc/pip.conf").write_text(pip_config())
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        progress(f"importing the tree as {tag}")
        _import(engine, rootfs, tag)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    described = describe(engine, tag)
    if described is None:
        raise BaseImageError(f"the import finished but the engine has no image {tag}")
    return described


def debian_mirror(apt_dir: Path = APT_DIR) -> str:
    """Where debootstrap gets packages: $DEBIAN_MIRROR, else the host's own Debian mirror (apt's sources,
    one-line `deb URL suite components` entries and deb822 `URIs:` stanzas), else deb.debian.org."""
    return os.environ.get("DEBIAN_MIRROR") or next(iter(host_debian_mirrors(apt_dir)), DEFAULT_MIRROR)


def host_debian_mirrors(apt_dir: Path = APT_DIR) -> list[str]:
    """The host's enabled Debian archive URLs (not security ones), in apt's order of its files."""
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    found: list[str] = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        entries = _deb822_uris(text) if path.suffix == ".sources" else _one_line_uris(text)
        found += [uri.rstrip("/") for uri in entries if _is_debian_archive(uri)]
    return list(dict.fromkeys(found))


def _one_line_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if words:
            uris.append(words[0])
    return uris


def _deb822_uris(text: str) -> list[str]:
    uris = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            uris += fields.get("uris", "").split()
    return uris


def _is_debian_archive(uri: str) -> bool:
    return uri.startswith(("http://", "https://")) and uri.rstrip("/").endswith("/debian")


def pip_config() -> str:
    """pip's settings inside the image: the image's CA bundle (a copy of the host's), and the host's
    index when it is a remote one (file:// indexes do not exist inside containers)."""
    index = os.environ.get("PIP_INDEX_URL") or _host_pip_value("index-url")
    extra = os.environ.get("PIP_EXTRA_INDEX_URL") or _host_pip_value("extra-index-url")
    lines = ["[global]", "cert = /etc/ssl/certs/ca-certificates.crt"]
    if index and index.startswith(("http://", "https://")):
        lines.append(f"index-url = {index}")
    remote = [url for url in (extra or "").split() if url.startswith(("http://", "https://"))]
    if remote:
        lines.append("extra-index-url = " + " ".join(remote))
    return "\n".join(lines) + "\n"


def _host_pip_value(key: str) -> str | None:
    import configparser

    value = None
    for name in PIP_CONFIG_FILES:
        parser = configparser.ConfigParser()
        try:
            parser.read(os.path.expanduser(name))
        except configparser.Error:
            continue
        if parser.has_option("global", key):
            value = parser.get("global", key)
    return value


def _import(engine: Engine, rootfs: Path, tag: str) -> None:
    repo, version = split_tag(tag)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        messages = engine.stream_json("POST", "/images/create", body=tar.stdout, timeout=None,
                                      query={"fromSrc": "-", "repo": repo, "tag": version, "changes": list(IMAGE_CHANGES)},
                                      headers={"Content-Type": "application/x-tar"})
        for message in messages:
            if "error" in message:
                raise BaseImageError(f"importing {tag} failed: {message['error']}")
    finally:
        tar.stdout.close()
        tar.wait()


def main(argv: list[str] | None = None) -> int:
    """Build the base image unless the engine has it (scripts/docker-up runs this)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python3 -m launcher.images.base_image", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default=os.environ.get("LAUNCHER_BASE_IMAGE") or DEFAULT_TAG)
    parser.add_argument("--mirror", help="Debian mirror (default: $DEBIAN_MIRROR, the host's, deb.debian.org)")
    parser.add_argument("--rebuild", action="store_true", help="build it even when it exists")
    parser.add_argument("--print-mirror", action="store_true", help="print the mirror it would use and exit")
    args = parser.parse_args(argv)
    if args.print_mirror:
        print(args.mirror or debian_mirror())
        return 0
    engine = Engine()
    try:
        engine.ping(timeout=5)
        present = describe(engine, args.tag)
        if present is not None and not args.rebuild:
            print(f"base image {args.tag} is present", file=sys.stderr)
            return 0
        built = build(engine, args.tag, mirror=args.mirror,
                      progress=lambda line: print(f"building {args.tag}: {line}", file=sys.stderr, flush=True))
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"built {args.tag} ({built['id'][7:19]}, {built['size'] / 1e6:.0f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
