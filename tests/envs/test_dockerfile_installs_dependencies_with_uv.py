"""The Dockerfile steps install the declared dependencies with uv into the image's virtualenv, each in a
layer of its own: built for real on the machine's Docker engine from the launcher's base image, and a
second build with other code reuses every dependency layer."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from launcher.envs.declared import DeclaredDependencies, DependencySource
from launcher.envs.docker_layer import dockerfile_install
from launcher.envs.pip_config import IndexSettings

BASE_IMAGE = os.environ.get("LAUNCHER_BASE_IMAGE") or "launcher-base:bookworm"


@pytest.fixture
def client():
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as problem:  # noqa: BLE001 - any reason the engine cannot serve this test
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"this test needs a Docker engine and {BASE_IMAGE} in CI: {problem}", pytrace=False)
        pytest.skip(f"needs a Docker engine and {BASE_IMAGE}: {problem}")
    yield client
    client.close()


def build(client, context: Path, tag: str, program: str, declared: DeclaredDependencies) -> list[str]:
    install = dockerfile_install(declared, settings=IndexSettings())
    for name, content in install.files.items():
        (context / name).write_text(content)
    (context / "main.py").write_text(program)
    (context / "Dockerfile").write_text("\n".join([f"FROM {BASE_IMAGE}", *install.lines, "COPY main.py /app/main.py",
                                                   'CMD ["python", "/app/main.py"]']) + "\n")
    _, log = client.images.build(path=str(context), tag=tag, rm=True)
    return [entry["stream"] for entry in log if "stream" in entry]


@pytest.mark.docker
def test_dependencies_install_in_cached_layers(client, tmp_path):
    declared = DeclaredDependencies(DependencySource.REQUIREMENTS, "requirements.txt", requirements=("six",),
                                    build_requirements=("wheel",))
    tag = f"launcher-test/h2-envs-{secrets.token_hex(4)}"
    try:
        build(client, tmp_path, f"{tag}:1", "import six, sys\nprint(six.__name__, sys.prefix)\n", declared)
        output = client.containers.run(f"{tag}:1", remove=True).decode()
        assert output.strip() == "six /opt/venv"
        steps = build(client, tmp_path, f"{tag}:2", "import six\nprint('changed code')\n", declared)
        assert "changed code" in client.containers.run(f"{tag}:2", remove=True).decode()
        # every step before the code's COPY came from the cache
        install_steps = [line for line in steps if line.startswith("Step ") and "COPY main.py" not in line
                         and "CMD" not in line and "FROM" not in line]
        assert install_steps and steps.count(" ---> Using cache\n") >= len(install_steps)
    finally:
        for version in ("2", "1"):
            try:
                client.images.remove(f"{tag}:{version}", force=True)
            except Exception:  # noqa: BLE001 - not built
                pass
