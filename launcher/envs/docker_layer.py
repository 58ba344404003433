"""The Dockerfile steps that install a project's declared dependencies with uv in an image, in layers of
their own before the source is copied, so a code change does not reinstall them.

uv itself goes into a layer of its own (the same version as the launcher's, from the package index), so
that layer is shared by every image built on the same base. The index settings are the project's own and
the remote ones of this machine's pip configuration (a local folder or file:// index does not exist
inside the build)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

from launcher.envs.declared import DeclaredDependencies
from launcher.envs.pip_config import IndexSettings, read_pip_settings

UV_TOOL_DIR = "/opt/uv"
REQUIREMENTS_FILE = "requirements.launcher.txt"
BUILD_REQUIREMENTS_FILE = "build-requirements.launcher.txt"


@dataclass(frozen=True)
class DockerInstall:
    #: Files to put at the root of the build context: name -> content.
    files: Mapping[str, str]
    #: Dockerfile lines, to follow FROM and precede the COPY of the source.
    lines: tuple[str, ...]


def uv_version() -> str:
    return metadata.version("uv")


def dockerfile_install(declared: DeclaredDependencies, *, venv_dir: str = "/opt/venv",
                       settings: IndexSettings | None = None, uv: str | None = None) -> DockerInstall:
    """Steps that create `venv_dir` with the declared Python (`python3` when none is pinned: the base
    image's) and install the declared dependencies into it with uv. DependencyError for a conda-only
    package: it cannot be installed this way either."""
    declared.check_installable()
    settings = (read_pip_settings() if settings is None else settings).remote_only()
    python = declared.python or "python3"
    files: dict[str, str] = {}
    lines = [
        # uv in a layer of its own, from the package index, in its own virtualenv (no system pip needed)
        f"RUN python3 -m venv {UV_TOOL_DIR} && {UV_TOOL_DIR}/bin/pip install --no-cache-dir "
        f"{shlex.quote('uv==' + (uv or uv_version()))} && ln -s {UV_TOOL_DIR}/bin/uv /usr/local/bin/uv",
        "ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_NO_CACHE=1",
        f"RUN uv venv --python {shlex.quote(python)} {venv_dir}",
        f"ENV PATH={venv_dir}/bin:$PATH VIRTUAL_ENV={venv_dir} PYTHONUNBUFFERED=1",
    ]
    options = settings.uv_arguments(index_url=declared.index_url, extra_index_urls=declared.extra_index_urls)
    for requirements, name in ((declared.build_requirements, BUILD_REQUIREMENTS_FILE),
                               (declared.requirements, REQUIREMENTS_FILE)):
        if not requirements:
            continue
        files[name] = "".join(f"{line}\n" for line in requirements)
        command = ["uv", "pip", "install", "--python", f"{venv_dir}/bin/python", *options, "-r", f"/tmp/{name}"]
        lines += [f"COPY {name} /tmp/{name}", "RUN " + json.dumps(command)]
    return DockerInstall(files, tuple(lines))
