"""Which Docker engine to talk to, resolved as the docker CLI resolves it, and a docker SDK client for it.

The CLI's order (docker/cli, cli/command/cli.go resolveContextName and the default context's endpoint):
  1. a host or a context given for the launch (both at once is an error, as `-H` with `--context`);
  2. DOCKER_HOST (with TLS from DOCKER_TLS_VERIFY / DOCKER_TLS and DOCKER_CERT_PATH);
  3. DOCKER_CONTEXT;
  4. `currentContext` in config.json of the docker config folder (DOCKER_CONFIG, else ~/.docker), with the
     context's endpoint in contexts/meta/<sha256 of the name>/meta.json and its TLS files in
     contexts/tls/<sha256 of the name>/docker/;
  5. the default socket, unix:///var/run/docker.sock.
The context named "default" is 2 or 5. TLS without DOCKER_CERT_PATH reads the docker config folder, as the
CLI does (the SDK's kwargs_from_env reads ~/.docker whatever DOCKER_CONFIG says).

Resolution reads files and the environment only (standard library): `launcher resources` and the run
records need it without importing the SDK (~0.1 s). The SDK's own context reader (docker.context) is not
used because it differs from the CLI where users notice: it loads a context's TLS files only when all of
ca, cert and key are there (the CLI also uses a CA alone), takes a missing SkipTLSVerify as true, and with
no config.json looks for contexts/ in the current folder; an unknown context name silently becomes the
default socket.

`connect` makes the client with the SDK (TLSConfig for TLS, the SDK's paramiko transport for ssh://) and
turns every failure into one line naming the endpoint, what failed and what to do."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from launcher.errors import ResourceError

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_CONTEXT = "default"
#: The API version the launcher asks for: Docker 20.10 and every later engine, and podman 4, accept it.
#: Fixed, so that making a client costs no request (the SDK's "auto" asks the engine first).
API_VERSION = "1.41"
#: tcp:// without a port: the CLI (28) uses 2375 with and without TLS (docker version says so).
TCP_PORT, SSH_PORT = 2375, 22


class EndpointError(ResourceError):
    """A Docker endpoint that cannot be resolved or reached; the message names it and what to do."""


class BadEndpoint(EndpointError):
    """A host or context setting that is malformed or contradicts another."""


class UnknownContext(EndpointError):
    pass


class TlsFileMissing(EndpointError):
    pass


class EngineUnreachable(EndpointError):
    pass


class TlsRefused(EndpointError):
    """The TLS handshake failed: a certificate the other side does not accept."""


class SshHostKeyUnknown(EndpointError):
    pass


class SshHostKeyChanged(EndpointError):
    pass


class SshRefused(EndpointError):
    """The SSH server answered but the login or the remote docker command failed."""


class EndpointSource(StrEnum):
    """Where an endpoint came from, in the CLI's order of precedence."""

    LAUNCH_HOST = "launch_host"
    LAUNCH_CONTEXT = "launch_context"
    DOCKER_HOST = "docker_host"
    DOCKER_CONTEXT = "docker_context"
    CURRENT_CONTEXT = "current_context"
    DEFAULT = "default"

    @property
    def label(self) -> str:
        return _SOURCE_LABELS[self]


_SOURCE_LABELS = {
    EndpointSource.LAUNCH_HOST: "host given for the launch",
    EndpointSource.LAUNCH_CONTEXT: "context given for the launch",
    EndpointSource.DOCKER_HOST: "DOCKER_HOST",
    EndpointSource.DOCKER_CONTEXT: "DOCKER_CONTEXT",
    EndpointSource.CURRENT_CONTEXT: "currentContext of the docker config",
    EndpointSource.DEFAULT: "default socket",
}


class Transport(StrEnum):
    UNIX = "unix"
    TCP = "tcp"
    SSH = "ssh"


@dataclass(frozen=True)
class TlsFiles:
    """TLS material for a tcp:// endpoint. `verify` checks the engine's certificate (against `ca`, or
    the system's authorities without one); `cert` and `key` are the client's certificate, or None."""

    ca: Path | None
    cert: Path | None
    key: Path | None
    verify: bool


@dataclass(frozen=True)
class Endpoint:
    """A resolved Docker engine endpoint: `host` is a full URL (unix:///path, tcp://host:port or
    ssh://[user@]host[:port]); `tls` is set for TLS over tcp; `context` names the docker context it came
    from (None for DOCKER_HOST, a launch's host and the default socket)."""

    host: str
    source: EndpointSource
    tls: TlsFiles | None = None
    context: str | None = None

    @property
    def transport(self) -> Transport:
        return Transport(self.host.split("://", 1)[0])

    def describe(self) -> str:
        """`tcp://10.0.0.5:2376 (TLS, context gpu)` -- what messages and `launcher resources` show."""
        details = ["TLS"] if self.tls is not None else []
        details.append(f"context {self.context}" if self.context is not None else self.source.label)
        return f"{self.host} ({', '.join(details)})"

    def to_json(self) -> str:
        """The endpoint as a run records it: what was resolved, so that cancel, logs and reattach reach
        the same engine after a restart even if the environment or the current context changed."""
        tls = None
        if self.tls is not None:
            tls = {"ca": _text(self.tls.ca), "cert": _text(self.tls.cert), "key": _text(self.tls.key),
                   "verify": self.tls.verify}
        return json.dumps({"host": self.host, "source": self.source.value, "context": self.context, "tls": tls})

    @classmethod
    def from_json(cls, text: str) -> Endpoint:
        try:
            data = json.loads(text)
            tls = data.get("tls")
            return cls(host=data["host"], source=EndpointSource(data["source"]), context=data.get("context"),
                       tls=None if tls is None else TlsFiles(_path(tls["ca"]), _path(tls["cert"]),
                                                             _path(tls["key"]), bool(tls["verify"])))
        except (ValueError, KeyError, TypeError) as error:
            raise BadEndpoint(f"recorded Docker endpoint {text[:200]!r} is not readable ({error}); "
                              "expected the JSON that Endpoint.to_json writes") from None


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def docker_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The docker CLI's config folder: DOCKER_CONFIG, else ~/.docker."""
    env = os.environ if env is None else env
    configured = env.get("DOCKER_CONFIG")
    if configured:
        return Path(configured)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker"


def context_id(name: str) -> str:
    """The folder name the CLI keeps a context's files under."""
    return hashlib.sha256(name.encode()).hexdigest()


def resolve_endpoint(host: str | None = None, context: str | None = None,
                     env: Mapping[str, str] | None = None) -> Endpoint:
    """The engine endpoint for a launch, in the docker CLI's order (see the module's docstring)."""
    env = os.environ if env is None else env
    if host and context:
        raise BadEndpoint(f"a launch names both the Docker host {host!r} and the context {context!r}; "
                          "give one of them")
    if host:
        return _from_host(host, EndpointSource.LAUNCH_HOST, env)
    if context:
        return _from_context(context, EndpointSource.LAUNCH_CONTEXT, env)
    if env.get("DOCKER_HOST"):
        return _from_host(env["DOCKER_HOST"], EndpointSource.DOCKER_HOST, env)
    if env.get("DOCKER_CONTEXT"):
        return _from_context(env["DOCKER_CONTEXT"], EndpointSource.DOCKER_CONTEXT, env)
    current = _current_context(env)
    if current:
        return _from_context(current, EndpointSource.CURRENT_CONTEXT, env)
    return _from_host(DEFAULT_SOCKET, EndpointSource.DEFAULT, env)


def _current_context(env: Mapping[str, str]) -> str | None:
    config = docker_config_dir(env) / "config.json"
    try:
        text = config.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BadEndpoint(f"the docker config {config} cannot be read ({error.strerror}); "
                          "fix its permissions or point DOCKER_CONFIG elsewhere") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise BadEndpoint(f"the docker config {config} is not valid JSON ({error}); fix or remove it") from None
    current = data.get("currentContext") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


def _from_context(name: str, source: EndpointSource, env: Mapping[str, str]) -> Endpoint:
    if name == DEFAULT_CONTEXT:  # the CLI's built-in context: DOCKER_HOST, else the default socket
        if env.get("DOCKER_HOST"):
            return _from_host(env["DOCKER_HOST"], EndpointSource.DOCKER_HOST, env)
        return _from_host(DEFAULT_SOCKET, EndpointSource.DEFAULT, env)
    store = docker_config_dir(env) / "contexts"
    meta_file = store / "meta" / context_id(name) / "meta.json"
    where = f"{source.label}" + (f" in {docker_config_dir(env) / 'config.json'}"
                                 if source is EndpointSource.CURRENT_CONTEXT else "")
    try:
        meta = json.loads(meta_file.read_text())
        endpoint = meta["Endpoints"]["docker"]
        host = endpoint.get("Host") or DEFAULT_SOCKET
        skip_verify = bool(endpoint.get("SkipTLSVerify", False))
    except FileNotFoundError:
        raise UnknownContext(f"Docker context {name!r} ({where}) does not exist; `docker context ls` lists "
                             "the contexts, `docker context use default` goes back to the default") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadEndpoint(f"Docker context {name!r} has an unreadable endpoint in {meta_file} ({error!r}); "
                          f"recreate it with `docker context rm {name}` and `docker context create`") from None
    tls_dir = store / "tls" / context_id(name) / "docker"
    files = {stem: tls_dir / f"{stem}.pem" for stem in ("ca", "cert", "key")}
    present = {stem: path for stem, path in files.items() if path.is_file()}
    tls = None
    if present or skip_verify:  # the CLI uses TLS when the context has TLS data or skips verification
        tls = TlsFiles(ca=present.get("ca"), cert=present.get("cert"), key=present.get("key"),
                       verify=not skip_verify)
        if (tls.cert is None) != (tls.key is None):
            missing = files["cert"] if tls.cert is None else files["key"]
            raise TlsFileMissing(f"Docker context {name!r} ({where}) has TLS material without {missing}; "
                                 f"recreate the context with both cert= and key= (docker context create)")
    parsed_host = _normalise_host(host, f"the host of Docker context {name!r}")
    return Endpoint(host=parsed_host, source=source, tls=tls if parsed_host.startswith("tcp://") else None,
                    context=name)


def _from_host(host: str, source: EndpointSource, env: Mapping[str, str]) -> Endpoint:
    tls = _env_tls(env, host, source)
    normalised = _normalise_host(host, source.label)
    return Endpoint(host=normalised, source=source, tls=tls if normalised.startswith("tcp://") else None)


def _env_tls(env: Mapping[str, str], host: str, source: EndpointSource) -> TlsFiles | None:
    """TLS as the CLI takes it from the environment: DOCKER_TLS_VERIFY (any non-empty value) verifies the
    engine against ca.pem, DOCKER_TLS alone encrypts without verifying; the files are in DOCKER_CERT_PATH,
    else the docker config folder. A missing ca.pem is an error; without cert.pem and key.pem no client
    certificate is offered (both as the CLI does)."""
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    if not verify and not env.get("DOCKER_TLS"):
        return None
    folder = Path(env["DOCKER_CERT_PATH"]) if env.get("DOCKER_CERT_PATH") else docker_config_dir(env)
    named = "DOCKER_CERT_PATH" if env.get("DOCKER_CERT_PATH") else "the docker config folder"
    ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    if verify and not ca.is_file():
        raise TlsFileMissing(f"TLS for the Docker engine {host} ({source.label}, DOCKER_TLS_VERIFY) needs the CA "
                             f"certificate {ca}, which does not exist; put ca.pem there or set DOCKER_CERT_PATH "
                             "to the folder with ca.pem, cert.pem and key.pem")
    if cert.is_file() != key.is_file():
        present, missing = (cert, key) if cert.is_file() else (key, cert)
        raise TlsFileMissing(f"TLS for the Docker engine {host} ({source.label}) found {present} but not {missing} "
                             f"in {named}; put both the client certificate and its key there")
    return TlsFiles(ca=ca if verify else None, cert=cert if cert.is_file() else None,
                    key=key if key.is_file() else None, verify=verify)


def _normalise_host(host: str, what: str) -> str:
    """A host URL as the CLI accepts it, with the CLI's defaults filled in: `host:port` is tcp, tcp
    without a port is 2375, `unix://path` is unix:///path."""
    text = host.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    scheme, rest = text.split("://", 1)
    bad = (f"{what} is {host!r}, not a Docker endpoint; expected unix:///path/to/docker.sock, "
           "tcp://HOST:PORT or ssh://USER@HOST[:PORT]")
    if scheme == "unix":
        path = "/" + rest.lstrip("/")
        if path == "/":
            raise BadEndpoint(bad)
        return f"unix://{path}"
    if scheme not in (Transport.TCP, Transport.SSH):
        raise BadEndpoint(bad)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadEndpoint(bad) from None
    if not parts.hostname or parts.query or parts.fragment or parts.password:
        raise BadEndpoint(bad)
    if parts.path not in ("", "/"):
        raise BadEndpoint(f"{what} is {host!r}: a path after the host is not supported; "
                          f"expected {scheme}://{parts.netloc}")
    address = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if scheme == Transport.SSH:
        user = f"{parts.username}@" if parts.username else ""
        return f"ssh://{user}{address}" + (f":{port}" if port else "")
    if parts.username:
        raise BadEndpoint(bad)
    return f"tcp://{address}:{port or TCP_PORT}"


# --- the docker SDK client ------------------------------------------------------------------------------


class EngineKind(StrEnum):
    DOCKER = "docker"
    PODMAN = "podman"  # its Docker-compatible API: see the podman notes where runs differ


@dataclass(frozen=True)
class EngineInfo:
    """What an engine says about itself (`docker version`)."""

    kind: EngineKind
    version: str
    api_version: str
    os: str
    arch: str


def import_sdk(ssh: bool) -> ModuleType:
    """The docker SDK module. A process that imports it first for a non-ssh endpoint imports it without
    paramiko: the SDK imports its ssh transport (paramiko, cryptography: ~80 ms of the SDK's ~180 ms)
    whenever paramiko is installed, and a run's owner process only ever talks to one endpoint. Such a
    process cannot open ssh:// endpoints later (connect() says so)."""
    if "docker" in sys.modules or ssh or "paramiko" in sys.modules:
        import docker

        return docker
    sys.modules["paramiko"] = None  # type: ignore[assignment] - makes `import paramiko` fail: the SDK skips ssh
    try:
        import docker
    finally:
        del sys.modules["paramiko"]
    return docker


def connect(endpoint: Endpoint, *, timeout: float = 60.0, check: bool = True,
            openssh: bool = False) -> docker.DockerClient:
    """A docker SDK client for `endpoint`. With `check`, one request (`/_ping`) proves the engine answers;
    every failure is an EndpointError in one line. `timeout` bounds each request (not streams the caller
    reads with its own timeout). `openssh` uses the ssh program instead of paramiko for ssh:// (all of
    ~/.ssh/config, ProxyJump included, but one ssh process per request and its errors on stderr)."""
    docker = import_sdk(ssh=endpoint.transport is Transport.SSH)
    if endpoint.transport is Transport.SSH and not hasattr(docker.transport, "SSHHTTPAdapter"):
        raise EndpointError(f"Docker engine {endpoint.describe()}: this process loaded the docker SDK without its "
                            "ssh transport (paramiko); install paramiko (docker[ssh]), or open ssh:// endpoints "
                            "from a process that has not used the SDK before")
    tls = _sdk_tls(endpoint)
    try:
        client = docker.DockerClient(base_url=endpoint.host, version=API_VERSION, timeout=timeout, tls=tls,
                                     use_ssh_client=openssh)
    except Exception as error:  # noqa: BLE001 - the SDK's ssh transport raises paramiko's and socket's errors
        raise explain(endpoint, error) from None
    if endpoint.transport is Transport.TCP:
        _ignore_environment_ca_bundle(client, endpoint)
    if check:
        try:
            client.ping()
        except Exception as error:  # noqa: BLE001 - requests', urllib3's, ssl's and paramiko's errors
            client.close()
            raise explain(endpoint, error) from None
    return client


def engine_info(endpoint: Endpoint, client: docker.DockerClient) -> EngineInfo:
    try:
        version = client.version(api_version=False)
    except Exception as error:  # noqa: BLE001 - as in connect
        raise explain(endpoint, error) from None
    names = [str(component.get("Name", "")) for component in version.get("Components") or []]
    kind = EngineKind.PODMAN if any("podman" in name.lower() for name in names) else EngineKind.DOCKER
    return EngineInfo(kind=kind, version=str(version.get("Version", "")),
                      api_version=str(version.get("ApiVersion", "")), os=str(version.get("Os", "")),
                      arch=str(version.get("Arch", "")))


def _sdk_tls(endpoint: Endpoint):
    if endpoint.tls is None:
        return False
    from docker.tls import TLSConfig

    files = endpoint.tls
    for path in (files.ca, files.cert, files.key):
        if path is not None and not path.is_file():  # recorded endpoints: the files may have gone since
            raise TlsFileMissing(f"TLS for the Docker engine {endpoint.describe()} needs {path}, which does not "
                                 "exist any more; put it back or set the engine up again")
    client_cert = (str(files.cert), str(files.key)) if files.cert is not None and files.key is not None else None
    return TLSConfig(client_cert=client_cert, ca_cert=None if files.ca is None else str(files.ca),
                     verify=files.verify)


def _ignore_environment_ca_bundle(client: docker.DockerClient, endpoint: Endpoint) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own CA (psf/requests#3829):
    with either set, as on machines behind a TLS-inspecting proxy, the SDK would check the engine against
    the system's authorities instead of DOCKER_CERT_PATH's ca.pem and fail. The docker CLI ignores those
    variables, so the session stops reading the environment; proxies, which the CLI does honour for tcp://
    engines, are taken from it once here."""
    import requests.utils

    session = client.api
    session.trust_env = False
    scheme = "https" if endpoint.tls is not None else "http"
    session.proxies = requests.utils.get_environ_proxies(f"{scheme}://{endpoint.host.split('://', 1)[1]}")


def explain(endpoint: Endpoint, error: BaseException) -> EndpointError:
    """One line for a failure to reach `endpoint`: what failed, and what to do."""
    import ssl

    where = f"Docker engine {endpoint.describe()}"
    chain = _causes(error)
    ssh = _ssh_failure(endpoint, where, chain)
    if ssh is not None:
        return ssh
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return _tls_failure(endpoint, where, cause)
        if isinstance(cause, TimeoutError) or type(cause).__name__ in ("ReadTimeoutError", "ConnectTimeoutError"):
            return EngineUnreachable(f"{where} did not answer in time; check that it runs and that the "
                                     "network reaches it")
    system_errors = [cause for cause in chain if isinstance(cause, OSError) and cause.strerror]
    if system_errors:  # the innermost says it best: "connection refused", "no such file or directory"
        hint = ("start the engine, or point DOCKER_HOST or the context at one that runs"
                if endpoint.transport is not Transport.SSH else "check that the machine and its sshd are up")
        return EngineUnreachable(f"{where} does not answer ({system_errors[-1].strerror.lower()}); {hint}")
    if endpoint.transport is Transport.SSH:
        return SshRefused(f"{where}: the SSH login worked but `docker system dial-stdio` gave no engine "
                          f"({_last_words(error)}); install the docker CLI there and let the user use the engine "
                          "(group docker)")
    return EngineUnreachable(f"{where} failed: {_last_words(error)}")


def _tls_failure(endpoint: Endpoint, where: str, cause: BaseException) -> EndpointError:
    import ssl

    files = endpoint.tls
    if isinstance(cause, ssl.SSLCertVerificationError):
        authority = f"the CA {files.ca}" if files is not None and files.ca is not None else "the system's CAs"
        return TlsRefused(f"{where}: its certificate is not trusted by {authority} ({cause.verify_message}); "
                          "use the ca.pem of the CA that signed the engine's certificate")
    if files is not None and files.cert is None:
        offered = "no client certificate was offered (no cert.pem and key.pem)"
    else:
        offered = f"it did not accept the client certificate {files.cert if files else '(none)'}"
    if isinstance(cause, ssl.SSLEOFError):  # TLS 1.3: a refused client certificate shows as a closed connection
        reason = "the engine closed the connection"
    else:
        reason = getattr(cause, "reason", None) or _last_words(cause)
    return TlsRefused(f"{where} ended the TLS handshake ({reason}): {offered}; use a client certificate "
                      "signed by the engine's CA (--tlscacert of its dockerd)")


def _ssh_failure(endpoint: Endpoint, where: str, chain: list[BaseException]) -> EndpointError | None:
    try:
        import paramiko
    except ImportError:  # pragma: no cover - paramiko comes with the launcher (docker[ssh])
        return None
    parts = urlsplit(endpoint.host)
    login = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
    for cause in chain:
        if isinstance(cause, paramiko.BadHostKeyException):
            return SshHostKeyChanged(
                f"{where}: the SSH host key of {_known_hosts_name(endpoint)} is not the one in ~/.ssh/known_hosts (it changed, "
                "or something is in between); check the machine, then replace its line in known_hosts")
        if isinstance(cause, paramiko.AuthenticationException):
            return SshRefused(f"{where}: the SSH login was refused ({_last_words(cause)}); add your public key to "
                              "the user's ~/.ssh/authorized_keys there, or name the key in ~/.ssh/config")
        # paramiko's RejectPolicy (what the SDK sets) says "Server '[host]:port' not found in known_hosts".
        if isinstance(cause, paramiko.SSHException) and "known_hosts" in str(cause):
            return SshHostKeyUnknown(
                f"{where}: the SSH host key of {_known_hosts_name(endpoint)} is not in ~/.ssh/known_hosts, and an "
                "unknown key is never accepted; check the key and add it to known_hosts (run "
                f"`ssh -p {parts.port or SSH_PORT} {login} true` once and compare the fingerprint it shows)")
        if isinstance(cause, paramiko.SSHException):
            return SshRefused(f"{where}: the SSH connection failed ({_last_words(cause)}); check the machine's sshd")
    return None


def _known_hosts_name(endpoint: Endpoint) -> str:
    parts = urlsplit(endpoint.host)
    port = parts.port or SSH_PORT
    return parts.hostname if port == SSH_PORT else f"[{parts.hostname}]:{port}"


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps, outermost first: __cause__/__context__, urllib3's `reason`, the
    arguments requests wraps urllib3's errors in, paramiko's per-address errors."""
    found: list[BaseException] = []
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop(0)
        if current in found:
            continue
        found.append(current)
        wrapped = getattr(current, "errors", None)  # paramiko's NoValidConnectionsError: address -> error
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None),
                       *getattr(current, "args", ()), *(wrapped.values() if isinstance(wrapped, dict) else ())):
            if isinstance(linked, BaseException) and linked not in found:
                todo.append(linked)
    return found


def _last_words(error: BaseException) -> str:
    """The innermost message of an error chain, on one line."""
    chain = _causes(error)
    for cause in reversed(chain):
        text = " ".join(str(cause).split())
        if text:
            return text[:300]
    return type(error).__name__
