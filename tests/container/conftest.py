"""Fixtures for the local-container tests: a real Docker engine (the machine's; a second, private one for
the engine-going-away tests), real registries on 127.0.0.1, and the docker SDK as an independent observer.

No engine answering: in CI (CI=true) every test here fails loudly; elsewhere they skip, saying how to
start one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from launcher.containers.engine import Engine, EngineUnavailable, docker_host
from launcher.containers.settings import LABEL_WORKSPACE
from launcher.runners.local_container import DEFAULT_BASE_IMAGE
from tests.container.engines import (  # noqa: F401 - fixtures: real engines and servers for any container test
    credential_helpers,
    docker_config,
    htpasswd_registry,
    plain_registry,
    podman_engine,
    ssh_client,
    ssh_server,
    tls_engine,
)
from tests.waiting import wait_for

HERE = Path(__file__).parent
#: The machine's engine, as the session found it (tests may point DOCKER_HOST elsewhere).
MAIN_HOST = docker_host()
REGISTRY_BINARY = "/usr/bin/docker-registry"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


def _engine_problem() -> str | None:
    try:
        Engine(MAIN_HOST).ping(timeout=3)
    except EngineUnavailable as error:
        return str(error)
    if Engine(MAIN_HOST).image(os.environ.get("LAUNCHER_BASE_IMAGE") or DEFAULT_BASE_IMAGE) is None:
        return f"the base image {DEFAULT_BASE_IMAGE} is missing; build it with: bash scripts/docker-up"
    return None


@pytest.fixture(scope="session")
def engine_ready() -> None:
    problem = _engine_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"container tests need a Docker engine in CI: {problem}", pytrace=False)
    pytest.skip(f"container tests skipped: {problem}")


#: Image names the tests (and the launcher runs they start) create.
OUR_IMAGES = ("launcher/", "launcher-test/", "127.0.0.1:")


@pytest.fixture(scope="session", autouse=True)
def _remove_new_images(engine_ready):
    """Images created during the session go at its end: the launcher's builds, the tests' own images and
    registry tags. Images that existed before (the base image above all) stay."""
    client = main_client()
    before_ids = {image.id for image in client.images.list(all=True)}
    before_tags = {tag for image in client.images.list(all=True) for tag in image.tags}
    yield
    import docker.errors

    for image in client.images.list(all=True):
        for tag in image.tags:
            if tag not in before_tags and tag.startswith(OUR_IMAGES):
                try:
                    client.images.remove(tag)  # the last tag of a new image: the image and its layers go
                except docker.errors.APIError:
                    pass  # gone already, or in use (by a container of another session on this engine)
    progress = True
    while progress:  # untagged images left by builds; children before their parents
        progress = False
        for image in client.images.list(all=True):
            if image.id not in before_ids and not image.tags:
                try:
                    client.images.remove(image.id)
                    progress = True
                except docker.errors.APIError:
                    pass  # still a parent of another image, or in use
    client.close()


@pytest.fixture(autouse=True)
def _needs_engine(engine_ready, home: Path, monkeypatch: pytest.MonkeyPatch):
    """Every container test: an engine, the default base image, and no container of its workspace left."""
    monkeypatch.delenv("LAUNCHER_BASE_IMAGE", raising=False)
    yield
    client = main_client()
    leftovers = client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={home.resolve()}"})
    for container in leftovers:
        container.remove(force=True)
    client.close()


def main_client():
    """The docker SDK on the machine's engine: an observer independent of the launcher's own client."""
    import docker

    return docker.DockerClient(base_url=MAIN_HOST)


@pytest.fixture
def docker_client():
    client = main_client()
    yield client
    client.close()


def workspace_containers(client, home: Path) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={home.resolve()}"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_registry(root: Path, readonly: bool):
    if not os.path.exists(REGISTRY_BINARY):
        pytest.fail(f"{REGISTRY_BINARY} is missing; bash scripts/docker-up installs it (Debian's docker-registry)",
                    pytrace=False)
    port = free_port()
    storage = root / "storage"
    storage.mkdir(parents=True)
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if readonly else ""
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n{maintenance}"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(root / "registry.log", "wb")
    process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as response:
                return response.status == 200
        except OSError:
            assert process.poll() is None, (root / "registry.log").read_text()
            return False

    wait_for(answers, timeout=20, what="the test registry to answer")
    return process, log, address


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def registry(tmp_path: Path):
    """A real registry (Debian's docker-registry) on 127.0.0.1; the engine allows plain HTTP there."""
    process, log, address = _start_registry(tmp_path / "registry", readonly=False)
    yield address
    _stop(process)
    log.close()


@pytest.fixture
def readonly_registry(tmp_path: Path):
    """A registry in read-only maintenance mode: it answers, and refuses every push."""
    process, log, address = _start_registry(tmp_path / "ro-registry", readonly=True)
    yield address
    _stop(process)
    log.close()


def registry_tags(address: str, repository: str) -> list[str]:
    import json

    with urllib.request.urlopen(f"http://{address}/v2/{repository}/tags/list", timeout=5) as response:
        return json.load(response).get("tags") or []


class PrivateEngine:
    """A second dockerd with its own socket, folders and bridge, which a test may kill and restart (the
    machine's engine is shared and must stay up). It must not use `--bridge none`: that makes a dockerd
    delete the machine's docker0."""

    IMAGE = "launcher-test/tiny:1"

    def __init__(self, root: Path, bridge: str) -> None:
        self.root = root
        self.bridge = bridge
        self.socket = root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.pidfile = root / "docker.pid"
        self.process: subprocess.Popen | None = None

    def create_bridge(self) -> None:
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
        subprocess.run(["ip", "addr", "add", "10.199.77.1/24", "dev", self.bridge], check=True, capture_output=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)

    def start(self) -> None:
        self.pidfile.unlink(missing_ok=True)  # left behind when the daemon was killed
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--host", self.host, "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.pidfile), "--bridge", self.bridge,
             "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--cgroup-parent", "/launcher-test"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

        def answers() -> bool:
            assert self.process.poll() is None, (self.root / "dockerd.log").read_text()[-2000:]
            try:
                Engine(self.host).ping(timeout=1)
                return True
            except EngineUnavailable:
                return False

        wait_for(answers, timeout=60, what="the private dockerd to answer")

    def kill(self) -> None:
        """Take the engine away as a crash would (its containers' processes are killed on restart)."""
        assert self.process is not None
        containerd = self._containerd_pid()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        if containerd is not None:  # a restart fails while the old containerd is still going away
            wait_for(lambda: not Path(f"/proc/{containerd}").exists(), timeout=20,
                     what="the private engine's containerd to exit")

    def _containerd_pid(self) -> int | None:
        try:
            return int((self.root / "exec" / "containerd" / "containerd.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.start()  # a killed engine's containers live on until it restarts and ends them
        if self.process is not None:
            engine = Engine(self.host)
            for container in engine.call("GET", "/containers/json", query={"all": 1}):
                engine.remove_container(container["Id"])
            _stop(self.process)
        for mount in ("exec", "data"):
            subprocess.run(["umount", "-R", str(self.root / mount)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def import_tiny_image(self) -> str:
        """A tiny image (sh and sleep from the host) imported into this engine: no pull, no base image."""
        rootfs = self.root / "tiny.tar"
        with tarfile.open(rootfs, "w") as tar:
            for source, target in (("/bin/dash", "bin/sh"), ("/bin/sleep", "bin/sleep"), ("/bin/cat", "bin/cat"),
                                   ("/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"),
                                   ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2")):
                tar.add(os.path.realpath(source), target)
        with open(rootfs, "rb") as body:
            subprocess.run(["docker", "-H", self.host, "import", "-", self.IMAGE], stdin=body, check=True,
                           capture_output=True)
        return self.IMAGE


@pytest.fixture
def private_engine():
    if shutil.which("dockerd") is None:
        pytest.skip("dockerd is not installed (bash scripts/docker-up installs it)")
    suffix = f"{os.getpid() % 10**5}{time.monotonic_ns() % 10**4}"
    root = Path(f"/tmp/ltd-{suffix}")  # unix socket paths must stay short
    root.mkdir()
    engine = PrivateEngine(root, bridge=f"ltd{suffix}"[:15])
    try:
        engine.create_bridge()
        engine.start()
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(root, ignore_errors=True)
