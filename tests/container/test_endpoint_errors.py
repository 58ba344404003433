"""Bad Docker endpoints: each fails with one line (a ResourceError) that names the endpoint, what failed
and what to do; against real engines, real sshd and the real docker CLI where it has a say."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from launcher.containers.endpoints import (
    BadEndpoint,
    Endpoint,
    EngineUnreachable,
    SshHostKeyChanged,
    SshHostKeyUnknown,
    SshRefused,
    TlsFileMissing,
    TlsRefused,
    UnknownContext,
    connect,
    resolve_endpoint,
)
from launcher.errors import ResourceError
from tests.container.engines import CertificateAuthority, cert_path, free_port


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert isinstance(error.value, ResourceError)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def cli_fails(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    return done.stderr


def test_unreachable_docker_host(docker_config, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")

    with pytest.raises(EngineUnreachable) as caught:
        connect(resolve_endpoint(), timeout=5)

    assert one_line(caught) == (f"Docker engine tcp://127.0.0.1:{port} (DOCKER_HOST) does not answer (connection "
                                "refused); start the engine, or point DOCKER_HOST or the context at one that runs")


def test_missing_socket(docker_config, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/gone.sock")

    with pytest.raises(EngineUnreachable) as caught:
        connect(resolve_endpoint(), timeout=5)

    assert one_line(caught).startswith(f"Docker engine unix://{tmp_path}/gone.sock (DOCKER_HOST) does not answer "
                                       "(no such file or directory)")


def test_tls_verify_without_a_ca_file(docker_config, monkeypatch, tmp_path):
    empty = tmp_path / "no-certs"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(empty))

    with pytest.raises(TlsFileMissing) as caught:
        resolve_endpoint()

    message = one_line(caught)
    assert f"needs the CA certificate {empty / 'ca.pem'}, which does not exist" in message
    assert "DOCKER_CERT_PATH" in message
    assert "ca.pem" in cli_fails("version")  # the CLI refuses too


def test_tls_client_certificate_without_its_key(docker_config, monkeypatch, tls_engine, tmp_path):
    folder = tmp_path / "half"
    shutil.copytree(tls_engine.client_certs, folder)
    (folder / "key.pem").unlink()
    monkeypatch.setenv("DOCKER_HOST", tls_engine.host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(folder))

    with pytest.raises(TlsFileMissing) as caught:
        resolve_endpoint()

    assert f"found {folder / 'cert.pem'} but not {folder / 'key.pem'}" in one_line(caught)


def test_recorded_tls_endpoint_whose_files_went_away(docker_config, tls_engine, tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    shutil.copytree(tls_engine.client_certs, folder)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(folder))
    recorded = resolve_endpoint(host=tls_engine.host).to_json()
    (folder / "cert.pem").unlink()

    with pytest.raises(TlsFileMissing) as caught:
        connect(Endpoint.from_json(recorded))

    assert f"needs {folder / 'cert.pem'}, which does not exist any more" in one_line(caught)


def test_wrong_client_certificate(docker_config, monkeypatch, tls_engine):
    monkeypatch.setenv("DOCKER_HOST", tls_engine.host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tls_engine.wrong_client_certs))

    with pytest.raises(TlsRefused) as caught:
        connect(resolve_endpoint())

    message = one_line(caught)
    assert message.startswith(f"Docker engine {tls_engine.host} (TLS, DOCKER_HOST) ended the TLS handshake")
    assert f"it did not accept the client certificate {tls_engine.wrong_client_certs / 'cert.pem'}" in message
    assert "bad certificate" in cli_fails("version")  # dockerd refuses the CLI the same way


def test_no_client_certificate_for_an_engine_that_wants_one(docker_config, monkeypatch, tls_engine, tmp_path):
    folder = tmp_path / "ca-only"
    folder.mkdir()
    shutil.copyfile(tls_engine.client_certs / "ca.pem", folder / "ca.pem")
    monkeypatch.setenv("DOCKER_HOST", tls_engine.host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(folder))

    with pytest.raises(TlsRefused) as caught:
        connect(resolve_endpoint())

    assert "no client certificate was offered (no cert.pem and key.pem)" in one_line(caught)


def test_engine_certificate_from_another_ca(docker_config, monkeypatch, tls_engine, tmp_path):
    stranger = CertificateAuthority.create(tmp_path, "other")
    folder = cert_path(tmp_path / "other-ca", stranger.cert, tls_engine.client_certs / "cert.pem",
                       tls_engine.client_certs / "key.pem")
    monkeypatch.setenv("DOCKER_HOST", tls_engine.host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(folder))

    with pytest.raises(TlsRefused) as caught:
        connect(resolve_endpoint())

    assert f"its certificate is not trusted by the CA {folder / 'ca.pem'}" in one_line(caught)


def test_unknown_ssh_host_key_is_never_accepted(docker_config, ssh_client):
    ssh_client.forget_host_key()

    with pytest.raises(SshHostKeyUnknown) as caught:
        connect(resolve_endpoint(host=ssh_client.docker_host))

    message = one_line(caught)
    assert f"the SSH host key of [127.0.0.1]:{ssh_client.port} is not in ~/.ssh/known_hosts" in message
    assert "add it to known_hosts" in message
    assert ssh_client.known_hosts.read_text() == ""  # nothing was added behind the user's back


def test_changed_ssh_host_key(docker_config, ssh_client, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    key_type, key = Path(f"{other}.pub").read_text().split()[:2]
    ssh_client.known_hosts.write_text(f"{ssh_client.known_hosts_name} {key_type} {key}\n")

    with pytest.raises(SshHostKeyChanged) as caught:
        connect(resolve_endpoint(host=ssh_client.docker_host))

    assert "is not the one in ~/.ssh/known_hosts" in one_line(caught)


def test_ssh_key_the_server_does_not_know(docker_config, ssh_client, monkeypatch, tmp_path):
    """A home with the right known_hosts but another key: the login is refused."""
    home = tmp_path / "stranger-home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copyfile(ssh_client.known_hosts, home / ".ssh" / "known_hosts")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh" / "id_ed25519")],
                   check=True, timeout=30)
    monkeypatch.setenv("HOME", str(home))

    with pytest.raises(SshRefused) as caught:
        connect(resolve_endpoint(host=ssh_client.docker_host))

    assert "the SSH login was refused" in one_line(caught)


@pytest.mark.parametrize("how", ["DOCKER_CONTEXT", "currentContext", "launch"])
def test_unknown_context(docker_config, monkeypatch, how):
    if how == "DOCKER_CONTEXT":
        monkeypatch.setenv("DOCKER_CONTEXT", "nowhere")
    elif how == "currentContext":
        (docker_config / "config.json").write_text('{"currentContext": "nowhere"}')

    with pytest.raises(UnknownContext) as caught:
        resolve_endpoint(context="nowhere" if how == "launch" else None)

    message = one_line(caught)
    assert message.startswith("Docker context 'nowhere' (")
    assert "does not exist; `docker context ls` lists the contexts" in message
    expected_source = {"DOCKER_CONTEXT": "(DOCKER_CONTEXT)",
                       "currentContext": f"(currentContext of the docker config in {docker_config / 'config.json'})",
                       "launch": "(context given for the launch)"}[how]
    assert expected_source in message
    assert "context not found" in cli_fails(*(["--context", "nowhere"] if how == "launch" else []), "version")


@pytest.mark.parametrize(("host", "expected"), [
    ("foo://x", "DOCKER_HOST is 'foo://x', not a Docker endpoint; expected unix:///path/to/docker.sock, "
                "tcp://HOST:PORT or ssh://USER@HOST[:PORT]"),
    ("tcp://:2375", "not a Docker endpoint"),
    ("tcp://127.0.0.1:notaport", "not a Docker endpoint"),
    ("ssh://me@box/some/path", "a path after the host is not supported; expected ssh://me@box"),
])
def test_malformed_docker_host(docker_config, monkeypatch, host, expected):
    monkeypatch.setenv("DOCKER_HOST", host)

    with pytest.raises(BadEndpoint) as caught:
        resolve_endpoint()

    assert expected in one_line(caught)


def test_host_and_context_both_given_for_a_launch(docker_config):
    with pytest.raises(BadEndpoint) as caught:
        resolve_endpoint(host="tcp://10.0.0.1:2375", context="gpu")

    assert one_line(caught) == ("a launch names both the Docker host 'tcp://10.0.0.1:2375' and the context 'gpu'; "
                                "give one of them")


def test_docker_config_that_is_not_json(docker_config):
    (docker_config / "config.json").write_text("{not json")

    with pytest.raises(BadEndpoint) as caught:
        resolve_endpoint()

    assert f"the docker config {docker_config / 'config.json'} is not valid JSON" in one_line(caught)


def test_unreadable_recorded_endpoint():
    with pytest.raises(BadEndpoint) as caught:
        Endpoint.from_json('{"host": "tcp://x:1"}')

    assert "is not readable" in one_line(caught)
