"""Real engines and servers for the container tests, each started and stopped by PID, listening on
127.0.0.1 only: a second dockerd behind TLS, an sshd that reaches the machine's engine, registries with and
without basic auth, podman's Docker-compatible socket, and docker-credential-* helpers written by a test.

`bash scripts/test-servers` installs the programs and the SSH test user. Without them these fixtures skip
(in CI, CI=true, they fail, saying what to run). The classes work outside pytest too (bench/ uses them).

Folders live under /tmp/l*-PID: unix socket paths must stay short, and sshd's test user must be able to
traverse to its authorized_keys (pytest's own temporary folders are private to root)."""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.waiting import wait_for

SSH_TEST_USER = os.environ.get("LAUNCHER_SSH_TEST_USER", "launcher-test")
REGISTRY_BINARY = "/usr/bin/docker-registry"
SETUP_HINT = "bash scripts/test-servers"
TINY_IMAGE = "launcher-test/tiny:1"
#: The host programs (and, found with ldd, their libraries) that make the tiny image.
TINY_PROGRAMS = {"/bin/dash": "bin/sh", "/bin/sleep": "bin/sleep", "/bin/cat": "bin/cat",
                 "/bin/true": "bin/true", "/usr/bin/env": "usr/bin/env"}
_serial = itertools.count()


class MissingProgram(Exception):
    """A program an engine needs is not installed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_folder(kind: str, mode: int = 0o700) -> Path:
    """A new short folder /tmp/<kind>-<pid>-<n> (unix socket paths must stay under 108 bytes)."""
    root = Path(f"/tmp/{kind}-{os.getpid()}-{next(_serial)}")
    root.mkdir(mode=mode)
    root.chmod(mode)  # mkdir's mode is masked by the umask
    return root


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None and not os.path.exists(program):
            raise MissingProgram(f"{program} is not installed; run: {SETUP_HINT}")


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds: the process we started, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def descendants(pid: int) -> list[int]:
    """PIDs of the processes below `pid` (children first found, then theirs), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def tiny_rootfs(destination: Path) -> Path:
    """A root file system tar with sh, sleep, cat, true and env from the host: an image without a pull."""
    libraries: set[str] = set()
    for program in TINY_PROGRAMS:
        listing = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
        for line in listing.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                libraries.add(path)
    with tarfile.open(destination, "w") as tar:
        for source, target in TINY_PROGRAMS.items():
            tar.add(os.path.realpath(source), target)
        for library in sorted(libraries):
            tar.add(os.path.realpath(library), library.lstrip("/"))
    return destination


def import_tiny_image(base_url: str, root: Path, reference: str = TINY_IMAGE) -> str:
    """Import the tiny image into the engine at `base_url` through the docker SDK."""
    import docker

    repository, tag = reference.rsplit(":", 1)
    rootfs = tiny_rootfs(root / "tiny-rootfs.tar")
    client = docker.DockerClient(base_url=base_url)
    try:
        # Tagged in a second step: podman's compatible import ignores the `tag` parameter (stores :latest).
        client.api.import_image_from_file(str(rootfs), repository=repository)
        client.images.get(f"{repository}:latest").tag(repository, tag)
    finally:
        client.close()
    return reference


# --- TLS: certificates made with openssl, and a second dockerd that verifies its clients ---------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA made with openssl in `folder`; issues EC certificates (fast to make) signed by it."""

    folder: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.folder / f"{self.name}-ca.pem"

    @property
    def key(self) -> Path:
        return self.folder / f"{self.name}-ca-key.pem"

    @classmethod
    def create(cls, folder: Path, name: str) -> CertificateAuthority:
        authority = cls(folder, name)
        openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(authority.key), "-out", str(authority.cert), "-days", "3",
                "-subj", f"/CN={name} test CA", cwd=folder)
        return authority

    def issue(self, name: str, *, server: bool) -> tuple[Path, Path]:
        """(certificate, key) for a server on 127.0.0.1, or for a client."""
        key, request, cert = (self.folder / f"{name}-key.pem", self.folder / f"{name}.csr",
                              self.folder / f"{name}-cert.pem")
        extensions = self.folder / f"{name}.ext"
        extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                              if server else "extendedKeyUsage=clientAuth\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}", cwd=self.folder)
        openssl("x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
                "-CAcreateserial", "-out", str(cert), "-days", "3", "-extfile", str(extensions), cwd=self.folder)
        return cert, key


def cert_path(folder: Path, ca: Path, cert: Path | None, key: Path | None) -> Path:
    """A DOCKER_CERT_PATH folder: ca.pem, cert.pem and key.pem (the names the docker CLI looks for)."""
    folder.mkdir(parents=True)
    shutil.copyfile(ca, folder / "ca.pem")
    if cert is not None and key is not None:
        shutil.copyfile(cert, folder / "cert.pem")
        shutil.copyfile(key, folder / "key.pem")
    return folder


class TlsEngine:
    """A second dockerd on tcp://127.0.0.1:PORT with --tlsverify: it only answers clients with a
    certificate signed by its CA.

    Why a real second dockerd rather than a TLS proxy in front of the machine's engine: the TLS handshake,
    the client-certificate check and their error messages are then dockerd's own, exactly what a user's
    TLS engine does. It is cheap: it starts in about a second, and the tiny image (a few host binaries,
    under 3 MB) is imported through the SDK; a bigger image can be copied from the machine's engine with
    `copy_image_from`. It has its own data, exec and pid paths, its own bridge (`--bridge none` would make
    it delete the machine's docker0) and never touches iptables, so the shared engine is not disturbed."""

    SUBNET = "10.199.78.1/24"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"tcp://127.0.0.1:{self.port}"
        self.admin_host = f"unix://{root / 'admin.sock'}"  # for set-up and clean-up only, no TLS
        self.bridge = f"lte{os.getpid() % 10**6}{next(_serial)}"[:15]
        self.process: subprocess.Popen | None = None
        authority = CertificateAuthority.create(root, "engine")
        self._server_cert, self._server_key = authority.issue("server", server=True)
        client_cert, client_key = authority.issue("client", server=False)
        #: DOCKER_CERT_PATH with a client certificate the engine accepts.
        self.client_certs = cert_path(root / "client", authority.cert, client_cert, client_key)
        stranger = CertificateAuthority.create(root, "stranger")
        wrong_cert, wrong_key = stranger.issue("wrong-client", server=False)
        #: DOCKER_CERT_PATH with the right CA but a client certificate the engine does not trust.
        self.wrong_client_certs = cert_path(root / "wrong-client", authority.cert, wrong_cert, wrong_key)
        self._ca = authority.cert

    def start(self) -> None:
        need("dockerd", "ip")
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
        subprocess.run(["ip", "addr", "add", self.SUBNET, "dev", self.bridge], check=True, capture_output=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--host", self.host, "--host", self.admin_host,
             "--tlsverify", "--tlscacert", str(self._ca), "--tlscert", str(self._server_cert),
             "--tlskey", str(self._server_key),
             "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "--bridge", self.bridge,
             "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--cgroup-parent", "/launcher-test-tls"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=60, what="the TLS dockerd to answer")

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        return _pings(self.admin_host)

    def log_tail(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-2000:]

    def import_tiny_image(self) -> str:
        return import_tiny_image(self.admin_host, self.root)

    def copy_image_from(self, source_base_url: str, reference: str) -> str:
        """Copy an image from another engine (`docker save` piped into `docker load`, through the SDK)."""
        import docker

        source = docker.DockerClient(base_url=source_base_url)
        target = docker.DockerClient(base_url=self.admin_host)
        try:
            target.images.load(source.images.get(reference).save(named=True))
        finally:
            source.close()
            target.close()
        return reference

    def stop(self) -> None:
        if self.process is not None:
            _remove_all_containers(self.admin_host)
            stop_process(self.process, grace=20)
        for mount in ("exec", "data"):
            subprocess.run(["umount", "-R", str(self.root / mount)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def _pings(base_url: str) -> bool:
    import docker
    import docker.errors

    try:
        client = docker.DockerClient(base_url=base_url, version="1.41", timeout=2)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


def _remove_all_containers(base_url: str) -> None:
    import docker
    import docker.errors

    try:
        client = docker.DockerClient(base_url=base_url, version="1.41", timeout=30)
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
    except (docker.errors.DockerException, OSError):
        pass  # an engine that no longer answers has nothing left to remove


# --- SSH: an sshd on 127.0.0.1 whose test user reaches the machine's engine -----------------------------


class SshServer:
    """OpenSSH's sshd on 127.0.0.1:PORT, key-only, for the test user (group docker): with the client files
    from `client_env()`, DOCKER_HOST=`self.docker_host` reaches the machine's engine through
    `docker system dial-stdio`, as it would a remote GPU box.

    The client side is a home folder (HOME) with .ssh/id_ed25519, .ssh/known_hosts and .ssh/config: the
    docker SDK (paramiko) reads them through HOME. OpenSSH's own ssh ignores HOME (it uses the passwd
    entry's home), so `client_env()` also puts first on PATH an `ssh` that runs the real one with `-F`
    this config: the docker CLI's ssh:// and the SDK's use_ssh_client=True go through it."""

    def __init__(self, root: Path, user: str = SSH_TEST_USER) -> None:
        self.root = root
        self.user = user
        self.port = free_port()
        self.docker_host = f"ssh://{user}@127.0.0.1:{self.port}"
        self.known_hosts_name = f"[127.0.0.1]:{self.port}"
        self.process: subprocess.Popen | None = None
        self.home = root / "client-home"
        self._write_files()

    def _write_files(self) -> None:
        need("/usr/sbin/sshd", "ssh-keygen", "ssh")
        try:
            import pwd

            pwd.getpwnam(self.user)
        except KeyError:
            raise MissingProgram(f"the SSH test user {self.user} does not exist; run: {SETUP_HINT}") from None
        host_key = self.root / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "launcher-test-host",
                        "-f", str(host_key)], check=True, capture_output=True)
        dot_ssh = self.home / ".ssh"
        dot_ssh.mkdir(parents=True, mode=0o700)
        self.identity = dot_ssh / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "launcher-test-client",
                        "-f", str(self.identity)], check=True, capture_output=True)
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.identity}.pub").read_text())
        authorized.chmod(0o644)  # read by sshd as the test user
        self.host_public_key = Path(f"{host_key}.pub").read_text().split()[:2]
        self.known_hosts = dot_ssh / "known_hosts"
        self.trust_host_key()
        self.client_config = dot_ssh / "config"
        self.client_config.write_text(textwrap.dedent(f"""\
            Host *
              IdentityFile {self.identity}
              IdentitiesOnly yes
              UserKnownHostsFile {self.known_hosts}
              GlobalKnownHostsFile /dev/null
              StrictHostKeyChecking yes
              BatchMode yes
            """))
        bin_dir = self.home / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {self.client_config} "$@"\n')
        wrapper.chmod(0o755)
        self.config = self.root / "sshd_config"
        self.config.write_text(textwrap.dedent(f"""\
            Port {self.port}
            ListenAddress 127.0.0.1
            HostKey {host_key}
            PidFile {self.root / 'sshd.pid'}
            AuthorizedKeysFile {authorized}
            StrictModes no
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin no
            AllowUsers {self.user}
            X11Forwarding no
            AllowAgentForwarding no
            PrintMotd no
            MaxStartups 200
            MaxSessions 100
            LogLevel ERROR
            """))

    def trust_host_key(self) -> None:
        self.known_hosts.write_text(f"{self.known_hosts_name} {' '.join(self.host_public_key)}\n")

    def forget_host_key(self) -> None:
        """An empty known_hosts: the next connection meets an unknown host key."""
        self.known_hosts.write_text("")

    def client_env(self) -> dict[str, str]:
        """Environment changes for a client: HOME with the key and known_hosts, `ssh` with them first on
        PATH, and no agent (only the test key is offered)."""
        return {"HOME": str(self.home), "PATH": f"{self.home / 'bin'}:{os.environ.get('PATH', '')}"}

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.client_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        log = open(self.root / "sshd.log", "ab")
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.config)],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

        def listening() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            return port_answers(self.port)

        wait_for(listening, timeout=20, what="sshd to listen")

    def stop(self, drop_sessions: bool = True) -> None:
        """Stop listening; with `drop_sessions`, also end the open sessions (the connections drop, as when
        a network goes away), else they go on as sshd leaves them."""
        if self.process is None or self.process.poll() is not None:
            return
        sessions = descendants(self.process.pid) if drop_sessions else []
        stop_process(self.process)
        for pid in sessions:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # ended with the listener

    def log_tail(self) -> str:
        return (self.root / "sshd.log").read_text(errors="replace")[-2000:]


# --- Registries -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str


class RegistryServer:
    """Debian's docker-registry on 127.0.0.1:PORT with its own storage folder, optionally behind htpasswd
    basic auth. The engine allows plain HTTP to 127.0.0.0/8 registries, so no TLS is needed."""

    def __init__(self, root: Path, login: RegistryLogin | None = None) -> None:
        self.root = root
        self.login = login
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.storage = root / "storage"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        need(REGISTRY_BINARY)
        self.storage.mkdir(exist_ok=True)
        auth = ""
        if self.login is not None:
            need("htpasswd")
            htpasswd = self.root / "htpasswd"
            subprocess.run(["htpasswd", "-B", "-b", "-c", str(htpasswd), self.login.username, self.login.password],
                           check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: launcher-test\n    path: {htpasswd}\n"
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"{auth}http:\n  addr: {self.address}\n")
        log = open(self.root / "registry.log", "ab")
        self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()
        wait_for(self._answers, timeout=20, what="the test registry to answer")

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, \
            (self.root / "registry.log").read_text(errors="replace")[-2000:]
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1):
                return True
        except urllib.error.HTTPError as error:
            return error.code == 401 and self.login is not None  # answers, and asks for credentials
        except OSError:
            return False

    def empty(self) -> None:
        """Forget every image: stop, empty the storage folder, start again on the same port."""
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The registry's own Docker-Content-Digest for repository:tag (None when it has no such tag)."""
        import base64

        request = urllib.request.Request(
            f"http://{self.address}/v2/{repository}/manifests/{tag}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                               "application/vnd.oci.image.manifest.v1+json"})
        if self.login is not None:
            token = base64.b64encode(f"{self.login.username}:{self.login.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.headers["Docker-Content-Digest"]
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


# --- podman's Docker-compatible socket ------------------------------------------------------------------


class PodmanService:
    """`podman system service --time=0 unix://ROOT/podman.sock` with its own storage, run and tmp folders.

    Containers get no network by default (containers.conf netns="none"): podman's default bridge would
    add iptables rules and a cni-podman0 bridge to the machine, which the tests do not need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "podman.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None
        self.containers_conf = root / "containers.conf"
        # podman as root gives containers 1048576 open files unless told otherwise, which fails ("error
        # setting rlimit type 7") where it lacks CAP_SYS_RESOURCE, as here; and it lowers its own processes
        # limit to 32768 at start, so a container asking for more fails too (type 6). Ask for what it has.
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
        limits = f'"nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"'
        self.containers_conf.write_text(
            f'[containers]\nnetns = "none"\ndefault_ulimits = [{limits}]\n\n'
            # runc, as dockerd uses: crun (podman's first choice when installed) refuses hybrid cgroups.
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')

    def podman_argv(self) -> list[str]:
        return ["podman", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run"),
                "--tmpdir", str(self.root / "tmp"), "--storage-driver", "overlay", "--runtime", "runc",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def env(self) -> dict[str, str]:
        return dict(os.environ, CONTAINERS_CONF=str(self.containers_conf))

    def start(self) -> None:
        need("podman")
        log = open(self.root / "podman.log", "ab")
        self.process = subprocess.Popen([*self.podman_argv(), "system", "service", "--time=0", self.host],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env(),
                                        start_new_session=True)
        log.close()

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, \
                (self.root / "podman.log").read_text(errors="replace")[-2000:]
            return self.socket.exists() and _pings(self.host)

        wait_for(answers, timeout=60, what="podman's socket to answer")

    def import_tiny_image(self) -> str:
        return import_tiny_image(self.host, self.root)

    def stop(self) -> None:
        if self.process is not None:
            _remove_all_containers(self.host)
            stop_process(self.process, grace=20)
            self.process = None
        # podman leaves its overlay mounts behind; unmount them before the folder goes.
        subprocess.run([*self.podman_argv(), "system", "reset", "--force"], capture_output=True,
                       env=self.env(), timeout=120)
        subprocess.run(["umount", "-R", str(self.root / "storage")], capture_output=True)


# --- docker-credential-* helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialHelper:
    """A docker-credential-<name> executable in `bin_dir`, keeping its secrets in `store_file` (JSON)."""

    name: str
    bin_dir: Path
    store_file: Path

    @property
    def path(self) -> Path:
        return self.bin_dir / f"docker-credential-{self.name}"

    def stored(self) -> dict[str, dict[str, str]]:
        return json.loads(self.store_file.read_text()) if self.store_file.exists() else {}


HELPER_PROGRAM = '''\
#!{python}
"""docker-credential-{name}: the docker-credential-helpers protocol (get, store, erase, list) over a JSON
file, written by a test."""
import json, sys
from pathlib import Path

STORE = Path({store!r})
FAIL_WITH = {fail_with!r}
NOT_FOUND = "credentials not found in native keychain"


def load():
    return json.loads(STORE.read_text()) if STORE.exists() else {{}}


def main():
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if FAIL_WITH is not None:
        print(FAIL_WITH)
        return 1
    data = sys.stdin.read()
    entries = load()
    if action == "store":
        entry = json.loads(data)
        entries[entry["ServerURL"]] = {{"Username": entry["Username"], "Secret": entry["Secret"]}}
        STORE.write_text(json.dumps(entries))
        return 0
    if action == "get":
        server = data.strip()
        if server not in entries:
            print(NOT_FOUND)
            return 1
        print(json.dumps({{"ServerURL": server, **entries[server]}}))
        return 0
    if action == "erase":
        server = data.strip()
        if server not in entries:
            print(NOT_FOUND)
            return 1
        del entries[server]
        STORE.write_text(json.dumps(entries))
        return 0
    if action == "list":
        print(json.dumps({{server: entry["Username"] for server, entry in entries.items()}}))
        return 0
    print(f"unknown action {{action!r}}: expected get, store, erase or list")
    return 1


sys.exit(main())
'''


def write_credential_helper(bin_dir: Path, name: str, fail_with: str | None = None) -> CredentialHelper:
    """Write docker-credential-<name> into `bin_dir`; with `fail_with`, it prints that and exits 1 for
    every action (a locked keychain, say)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    helper = CredentialHelper(name, bin_dir, bin_dir / f"{name}-store.json")
    helper.path.write_text(HELPER_PROGRAM.format(python=sys.executable, name=name, store=str(helper.store_file),
                                                 fail_with=fail_with))
    helper.path.chmod(0o755)
    return helper


# --- fixtures -------------------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _serve(server, cleanup_root: Path, prepare: Callable[[], object] | None = None) -> Iterator:
    try:
        server.start()
    except MissingProgram as missing:
        shutil.rmtree(cleanup_root, ignore_errors=True)
        _unavailable(str(missing))
    try:
        if prepare is not None:
            prepare()
        yield server
    finally:
        server.stop()
        shutil.rmtree(cleanup_root, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_engine() -> Iterator[TlsEngine]:
    """A second dockerd with --tlsverify on tcp://127.0.0.1:PORT, with the tiny image; `client_certs` and
    `wrong_client_certs` are DOCKER_CERT_PATH folders."""
    root = private_folder("lte")
    try:
        engine = TlsEngine(root)
    except MissingProgram as missing:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(str(missing))
    yield from _serve(engine, root, prepare=engine.import_tiny_image)


@pytest.fixture(scope="session")
def ssh_server() -> Iterator[SshServer]:
    """sshd on 127.0.0.1 for the test user; `apply(monkeypatch)` makes this process its client."""
    root = private_folder("lss", mode=0o755)
    try:
        server = SshServer(root)
    except MissingProgram as missing:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(str(missing))
    yield from _serve(server, root)


@pytest.fixture
def ssh_client(ssh_server: SshServer, monkeypatch: pytest.MonkeyPatch) -> SshServer:
    """This test is the SSH server's client (HOME, PATH), with its host key known; sshd is listening."""
    ssh_server.trust_host_key()
    if ssh_server.process is None or ssh_server.process.poll() is not None:
        ssh_server.start()  # a test before stopped it
    ssh_server.apply(monkeypatch)
    return ssh_server


@pytest.fixture(scope="session")
def htpasswd_registry() -> Iterator[RegistryServer]:
    """A registry that asks for basic auth (user `tester`); `login` has the credentials."""
    root = private_folder("lrg")
    yield from _serve(RegistryServer(root, RegistryLogin("tester", "s3cret-pass")), root)


@pytest.fixture(scope="session")
def plain_registry() -> Iterator[RegistryServer]:
    """A registry without auth."""
    root = private_folder("lrp")
    yield from _serve(RegistryServer(root), root)


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[PodmanService]:
    """podman's Docker-compatible socket with the tiny image."""
    root = private_folder("lpm")
    service = PodmanService(root)
    yield from _serve(service, root, prepare=service.import_tiny_image)


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty docker CLI config folder, as DOCKER_CONFIG (the machine's ~/.docker is never touched)."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def credential_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """make(name, fail_with=None) -> CredentialHelper, its folder first on PATH."""
    bin_dir = tmp_path / "credential-helpers"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")

    def make(name: str, fail_with: str | None = None) -> CredentialHelper:
        return write_credential_helper(bin_dir, name, fail_with)

    return make

