"""A client made by connect() reaches the same engine the docker CLI reaches, over every kind of
endpoint: the machine's socket, a TLS dockerd, SSH (paramiko and OpenSSH), a context, podman's socket.
"Same engine" is the engine's data folder (`docker info`'s DockerRootDir), which no two engines share (the
engine ID does not tell them apart: dockerds on one machine share /etc/docker/key.json)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from launcher.containers.endpoints import (
    Endpoint,
    EndpointSource,
    EngineKind,
    Transport,
    connect,
    engine_info,
    resolve_endpoint,
)
from launcher.runners.local_container import DEFAULT_BASE_IMAGE
from tests.container.conftest import MAIN_HOST
from tests.container.engines import TINY_IMAGE

ROOT = Path(__file__).resolve().parents[2]


def cli_engine_root(*global_flags: str) -> str:
    done = subprocess.run(["docker", *global_flags, "info", "--format", "{{.DockerRootDir}}"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def main_engine_root() -> str:
    return cli_engine_root("-H", MAIN_HOST)


def run_tiny(client, command: str, **options) -> bytes:
    return client.containers.run(TINY_IMAGE, ["sh", "-c", command], remove=True, **options)


def test_the_machines_socket(docker_config):
    endpoint = resolve_endpoint()
    client = connect(endpoint)
    try:
        info = engine_info(endpoint, client)
        assert client.info()["DockerRootDir"] == cli_engine_root() == main_engine_root()
    finally:
        client.close()
    assert info.kind is EngineKind.DOCKER and info.api_version >= "1.41" and info.os == "linux"


def test_tls_engine_through_docker_host(docker_config, tls_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", tls_engine.host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tls_engine.client_certs))
    # As on machines behind a TLS-inspecting proxy: requests would check the engine against this bundle.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")

    endpoint = resolve_endpoint()
    client = connect(endpoint)
    try:
        assert endpoint.transport is Transport.TCP and endpoint.tls is not None
        assert client.info()["DockerRootDir"] == cli_engine_root() != main_engine_root()
        assert run_tiny(client, "echo over TLS") == b"over TLS\n"
    finally:
        client.close()


def test_tls_engine_through_a_context(docker_config, tls_engine):
    certs = tls_engine.client_certs
    subprocess.run(["docker", "context", "create", "tls-box", "--docker",
                    f"host={tls_engine.host},ca={certs / 'ca.pem'},cert={certs / 'cert.pem'},key={certs / 'key.pem'}"],
                   check=True, capture_output=True, timeout=30)
    subprocess.run(["docker", "context", "use", "tls-box"], check=True, capture_output=True, timeout=30)

    endpoint = resolve_endpoint()
    client = connect(endpoint)
    try:
        assert (endpoint.source, endpoint.context) == (EndpointSource.CURRENT_CONTEXT, "tls-box")
        assert client.info()["DockerRootDir"] == cli_engine_root() != main_engine_root()
    finally:
        client.close()


def test_ssh_reaches_the_machines_engine(docker_config, ssh_client, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", ssh_client.docker_host)

    endpoint = resolve_endpoint()
    client = connect(endpoint)
    try:
        assert endpoint.transport is Transport.SSH
        assert client.info()["DockerRootDir"] == cli_engine_root() == main_engine_root()
        output = client.containers.run(DEFAULT_BASE_IMAGE, ["echo", "over SSH"], remove=True, network_mode="none")
        assert output == b"over SSH\n"
    finally:
        client.close()


def test_ssh_with_the_openssh_program(docker_config, ssh_client):
    """use_ssh_client: the ssh program (with the user's whole ~/.ssh/config) instead of paramiko."""
    endpoint = resolve_endpoint(host=ssh_client.docker_host)
    client = connect(endpoint, openssh=True)
    try:
        assert client.info()["DockerRootDir"] == main_engine_root()
    finally:
        client.close()


def test_ssh_through_a_context(docker_config, ssh_client):
    subprocess.run(["docker", "context", "create", "gpu-box", "--docker", f"host={ssh_client.docker_host}"],
                   check=True, capture_output=True, timeout=30)

    endpoint = resolve_endpoint(context="gpu-box")
    client = connect(endpoint)
    try:
        assert endpoint == Endpoint(host=ssh_client.docker_host, source=EndpointSource.LAUNCH_CONTEXT,
                                    context="gpu-box")
        assert client.info()["DockerRootDir"] == cli_engine_root("--context", "gpu-box") == main_engine_root()
    finally:
        client.close()


def test_ssh_survives_sshd_going_away_and_coming_back(docker_config, ssh_client):
    """A dropped connection fails in one line; once sshd is back a new client works."""
    from launcher.containers.endpoints import EngineUnreachable

    endpoint = resolve_endpoint(host=ssh_client.docker_host)
    connect(endpoint).close()
    ssh_client.stop(drop_sessions=True)
    with pytest.raises(EngineUnreachable) as caught:
        connect(endpoint)
    assert "connection refused" in str(caught.value) and "\n" not in str(caught.value)
    ssh_client.start()
    client = connect(endpoint)
    try:
        assert client.info()["DockerRootDir"] == main_engine_root()
    finally:
        client.close()


def test_podman_socket(docker_config, podman_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", podman_engine.host)

    endpoint = resolve_endpoint()
    client = connect(endpoint)
    try:
        info = engine_info(endpoint, client)
        # podman's default network is its own bridge (it adds iptables rules); the tests need none.
        output = run_tiny(client, "echo from podman", network_mode="none")
    finally:
        client.close()
    assert info.kind is EngineKind.PODMAN
    assert output == b"from podman\n"


def test_a_process_for_a_local_engine_does_not_load_paramiko(docker_config, ssh_client):
    """connect() on a non-ssh endpoint in a fresh process leaves paramiko out (~80 ms of the SDK's import);
    ssh:// from such a process is refused in one line rather than failing inside the SDK."""
    code = textwrap.dedent(f"""
        import sys
        from launcher.containers.endpoints import EndpointError, connect, resolve_endpoint
        connect(resolve_endpoint()).close()
        print("paramiko" in sys.modules)
        try:
            connect(resolve_endpoint(host={ssh_client.docker_host!r}))
        except EndpointError as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))

    assert done.returncode == 0, done.stderr
    loaded, refusal = done.stdout.splitlines()
    assert loaded == "False"
    assert refusal.startswith(f"Docker engine {ssh_client.docker_host} (host given for the launch): this process "
                              "loaded the docker SDK without its ssh transport")
