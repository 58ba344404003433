"""The Docker endpoint is resolved as the real docker CLI resolves it: for each set-up, what
resolve_endpoint() returns is compared with what `docker context inspect` says (the CLI's own view of
the endpoint it would use), in the CLI's order: launch host/context, DOCKER_HOST, DOCKER_CONTEXT,
currentContext, default socket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from launcher.containers.endpoints import (
    DEFAULT_SOCKET,
    Endpoint,
    EndpointSource,
    TlsFiles,
    context_id,
    resolve_endpoint,
)
from tests.container.engines import CertificateAuthority, cert_path


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_view(*global_flags: str) -> tuple[str, str, set[str]]:
    """(context name, endpoint host, TLS file names) of the endpoint the docker CLI would use."""
    [context] = json.loads(docker(*global_flags, "context", "inspect"))
    return context["Name"], context["Endpoints"]["docker"]["Host"], set(context["TLSMaterial"].get("docker", []))


def tls_names(endpoint: Endpoint) -> set[str]:
    if endpoint.tls is None:
        return set()
    return {path.name for path in (endpoint.tls.ca, endpoint.tls.cert, endpoint.tls.key) if path is not None}


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A folder with ca.pem, cert.pem and key.pem made by openssl."""
    authority = CertificateAuthority.create(tmp_path, "resolution")
    cert, key = authority.issue("client", server=False)
    return cert_path(tmp_path / "certs", authority.cert, cert, key)


def test_nothing_set_is_the_default_socket(docker_config):
    endpoint = resolve_endpoint()

    assert endpoint == Endpoint(host=DEFAULT_SOCKET, source=EndpointSource.DEFAULT)
    assert cli_view() == ("default", DEFAULT_SOCKET, set())


@pytest.mark.parametrize(("given", "expected"), [
    ("tcp://127.0.0.1", "tcp://127.0.0.1:2375"),
    ("127.0.0.1:2999", "tcp://127.0.0.1:2999"),
    ("ssh://trainer@gpu-box:2200", "ssh://trainer@gpu-box:2200"),
    ("ssh://gpu-box", "ssh://gpu-box"),
    ("unix:///tmp/some/docker.sock", "unix:///tmp/some/docker.sock"),
])
def test_docker_host_wins_over_docker_context_and_current_context(docker_config, monkeypatch, given, expected):
    docker("context", "create", "other", "--docker", "host=tcp://10.1.2.3:2375")
    docker("context", "use", "other")
    monkeypatch.setenv("DOCKER_CONTEXT", "other")
    monkeypatch.setenv("DOCKER_HOST", given)

    endpoint = resolve_endpoint()

    assert (endpoint.host, endpoint.source, endpoint.context) == (expected, EndpointSource.DOCKER_HOST, None)
    assert cli_view() == ("default", expected, set())


def test_docker_context_wins_over_current_context(docker_config, monkeypatch):
    docker("context", "create", "chosen", "--docker", "host=tcp://10.9.9.9:2376")
    docker("context", "create", "current", "--docker", "host=tcp://10.1.1.1:2376")
    docker("context", "use", "current")
    monkeypatch.setenv("DOCKER_CONTEXT", "chosen")

    endpoint = resolve_endpoint()

    assert (endpoint.host, endpoint.source, endpoint.context) == ("tcp://10.9.9.9:2376",
                                                                   EndpointSource.DOCKER_CONTEXT, "chosen")
    assert cli_view() == ("chosen", "tcp://10.9.9.9:2376", set())


def test_docker_context_without_a_config_file(docker_config, monkeypatch):
    """`docker context create` writes no config.json; the contexts are still found under DOCKER_CONFIG.
    (The SDK's own reader then looks for contexts/ in the current folder.)"""
    docker("context", "create", "lonely", "--docker", "host=ssh://me@box")
    assert not (docker_config / "config.json").exists()
    monkeypatch.setenv("DOCKER_CONTEXT", "lonely")

    assert resolve_endpoint().host == "ssh://me@box"
    assert cli_view() == ("lonely", "ssh://me@box", set())


def test_current_context_from_docker_context_use(docker_config):
    docker("context", "create", "gpu", "--docker", "host=ssh://trainer@10.0.0.7")
    docker("context", "use", "gpu")

    endpoint = resolve_endpoint()

    assert endpoint == Endpoint(host="ssh://trainer@10.0.0.7", source=EndpointSource.CURRENT_CONTEXT, context="gpu")
    assert cli_view() == ("gpu", "ssh://trainer@10.0.0.7", set())


def test_context_tls_files_come_from_the_context_store(docker_config, certificates):
    docker("context", "create", "secure", "--docker",
           f"host=tcp://127.0.0.1:2376,ca={certificates / 'ca.pem'},cert={certificates / 'cert.pem'},"
           f"key={certificates / 'key.pem'}")
    docker("context", "use", "secure")

    endpoint = resolve_endpoint()

    stored = docker_config / "contexts" / "tls" / context_id("secure") / "docker"
    assert endpoint.tls == TlsFiles(ca=stored / "ca.pem", cert=stored / "cert.pem", key=stored / "key.pem",
                                    verify=True)
    assert stored.joinpath("cert.pem").read_bytes() == certificates.joinpath("cert.pem").read_bytes()
    assert cli_view() == ("secure", "tcp://127.0.0.1:2376", {"ca.pem", "cert.pem", "key.pem"})


def test_context_with_only_a_ca_still_uses_tls(docker_config, certificates):
    """The CLI uses a context's CA alone (server verified, no client certificate); the SDK's reader drops
    TLS unless ca, cert and key are all there."""
    from docker.context import ContextAPI

    docker("context", "create", "ca-only", "--docker", f"host=tcp://127.0.0.1:2376,ca={certificates / 'ca.pem'}")
    docker("context", "use", "ca-only")

    endpoint = resolve_endpoint()

    assert endpoint.tls is not None and endpoint.tls.cert is None and endpoint.tls.verify
    assert tls_names(endpoint) == {"ca.pem"}
    assert cli_view() == ("ca-only", "tcp://127.0.0.1:2376", {"ca.pem"})
    assert ContextAPI.get_context("ca-only").TLSConfig is None  # why the SDK's reader is not used


def test_skip_tls_verify_context_encrypts_without_verifying(docker_config):
    docker("context", "create", "lax", "--docker", "host=tcp://127.0.0.1:2376,skip-tls-verify=true")

    endpoint = resolve_endpoint(context="lax")

    assert endpoint.tls == TlsFiles(ca=None, cert=None, key=None, verify=False)
    assert cli_view("--context", "lax")[1] == "tcp://127.0.0.1:2376"


def test_launch_host_and_launch_context_win_over_the_environment(docker_config, monkeypatch):
    docker("context", "create", "picked", "--docker", "host=tcp://10.2.2.2:2375")
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.3.3.3:2375")

    by_host = resolve_endpoint(host="tcp://10.4.4.4:2375")
    by_context = resolve_endpoint(context="picked")

    assert (by_host.host, by_host.source) == ("tcp://10.4.4.4:2375", EndpointSource.LAUNCH_HOST)
    assert cli_view("-H", "tcp://10.4.4.4:2375")[1] == "tcp://10.4.4.4:2375"
    assert (by_context.host, by_context.source, by_context.context) == (
        "tcp://10.2.2.2:2375", EndpointSource.LAUNCH_CONTEXT, "picked")
    assert cli_view("--context", "picked")[:2] == ("picked", "tcp://10.2.2.2:2375")


def test_the_context_named_default_is_docker_host_or_the_socket(docker_config, monkeypatch):
    assert resolve_endpoint(context="default").host == DEFAULT_SOCKET
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.5.5.5:2375")
    assert resolve_endpoint(context="default").host == "tcp://10.5.5.5:2375"
    assert cli_view("--context", "default")[1] == "tcp://10.5.5.5:2375"


def test_tls_from_the_environment(docker_config, monkeypatch, certificates):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certificates))

    endpoint = resolve_endpoint()

    assert endpoint.tls == TlsFiles(ca=certificates / "ca.pem", cert=certificates / "cert.pem",
                                    key=certificates / "key.pem", verify=True)
    assert cli_view() == ("default", "tcp://127.0.0.1:2376", {"ca.pem", "cert.pem", "key.pem"})


def test_tls_without_cert_path_reads_the_docker_config_folder(docker_config, monkeypatch, certificates):
    """Like the CLI, and unlike the SDK's kwargs_from_env (which reads ~/.docker whatever DOCKER_CONFIG is)."""
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (docker_config / name).write_bytes((certificates / name).read_bytes())
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")

    endpoint = resolve_endpoint()

    assert endpoint.tls is not None and endpoint.tls.ca == docker_config / "ca.pem"
    assert cli_view()[2] == {"ca.pem", "cert.pem", "key.pem"}


def test_docker_tls_alone_encrypts_without_verifying(docker_config, monkeypatch, certificates):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certificates))

    endpoint = resolve_endpoint()

    assert endpoint.tls == TlsFiles(ca=None, cert=certificates / "cert.pem", key=certificates / "key.pem",
                                    verify=False)


def test_tls_settings_do_not_apply_to_ssh_or_unix_endpoints(docker_config, monkeypatch, certificates):
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certificates))

    assert resolve_endpoint(host="ssh://me@box").tls is None
    assert resolve_endpoint().tls is None


def test_a_recorded_endpoint_reads_back_the_same(docker_config, certificates):
    docker("context", "create", "kept", "--docker",
           f"host=tcp://127.0.0.1:2376,ca={certificates / 'ca.pem'},cert={certificates / 'cert.pem'},"
           f"key={certificates / 'key.pem'}")
    endpoint = resolve_endpoint(context="kept")

    assert Endpoint.from_json(endpoint.to_json()) == endpoint
    assert endpoint.describe() == "tcp://127.0.0.1:2376 (TLS, context kept)"
