"""What the docker SDK costs a fresh process, per kind of endpoint, against baselines measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/bench_endpoints.py [--rounds 10]

1. `import docker` in a fresh interpreter, with paramiko (what the SDK does whenever paramiko is installed)
   and without (endpoints.import_sdk for a non-ssh endpoint), against the interpreter starting alone.
2. For each endpoint kind (the machine's socket, a TLS dockerd, SSH with paramiko, SSH with the ssh
   program, podman's socket): a fresh process that resolves the endpoint, connects and asks the engine's
   version (connect() + version()), against `docker version` of the real CLI on the same endpoint; and
   the same connect() + version() inside a process that has imported the SDK already (a long-lived owner).

Starts its own TLS dockerd, sshd and podman (tests/container/engines.py); needs `bash scripts/test-servers`."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launcher.containers.endpoints import connect, resolve_endpoint  # noqa: E402
from tests.container.engines import PodmanService, SshServer, TlsEngine, private_folder  # noqa: E402

CONNECT = ("import sys; from launcher.containers.endpoints import connect, resolve_endpoint; "
           "connect(resolve_endpoint(), check=False, openssh=sys.argv[1] == 'openssh').version()")


def median_seconds(argv: list[str], rounds: int, env: dict[str, str] | None = None) -> float:
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=120)  # warm caches
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=120)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def in_process(endpoint_env: dict[str, str], openssh: bool, rounds: int) -> float:
    saved = dict(os.environ)
    os.environ.update(endpoint_env)
    try:
        endpoint = resolve_endpoint()
        times = []
        for _ in range(rounds + 1):
            began = time.perf_counter()
            client = connect(endpoint, check=False, openssh=openssh)
            client.version()
            times.append(time.perf_counter() - began)
            client.close()
        return statistics.median(times[1:])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def imports(rounds: int) -> None:
    python = sys.executable
    bare = median_seconds([python, "-c", "pass"], rounds)
    full = median_seconds([python, "-c", "import docker"], rounds)
    lean = median_seconds([python, "-c", "from launcher.containers.endpoints import import_sdk; import_sdk(False)"],
                          rounds, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    print(f"python -c pass: {bare * 1000:.0f} ms (median of {rounds})")
    print(f"  import docker (with paramiko): {full * 1000:.0f} ms, {full / bare:.2f}x; "
          f"the import alone {(full - bare) * 1000:.0f} ms")
    print(f"  import_sdk(ssh=False) (no paramiko): {lean * 1000:.0f} ms, {lean / bare:.2f}x; "
          f"the import alone {(lean - bare) * 1000:.0f} ms")


def endpoints(rounds: int) -> None:
    roots = [private_folder("bte"), private_folder("bss", mode=0o755), private_folder("bpm")]
    tls, ssh, podman = TlsEngine(roots[0]), SshServer(roots[1]), PodmanService(roots[2])
    try:
        tls.start()
        ssh.start()
        podman.start()
        plain = {name: value for name, value in os.environ.items()
                 if not name.startswith("DOCKER_") and name != "SSH_AUTH_SOCK"}
        kinds = {
            "unix socket": (dict(plain, DOCKER_HOST="unix:///var/run/docker.sock"), "paramiko"),
            "TLS dockerd": (dict(plain, DOCKER_HOST=tls.host, DOCKER_TLS_VERIFY="1",
                                 DOCKER_CERT_PATH=str(tls.client_certs)), "paramiko"),
            "ssh (paramiko)": (dict(plain, DOCKER_HOST=ssh.docker_host, **ssh.client_env()), "paramiko"),
            "ssh (ssh program)": (dict(plain, DOCKER_HOST=ssh.docker_host, **ssh.client_env()), "openssh"),
            "podman socket": (dict(plain, DOCKER_HOST=podman.host), "paramiko"),
        }
        for name, (env, transport) in kinds.items():
            env = dict(env, PYTHONPATH=str(ROOT))
            ours = median_seconds([sys.executable, "-c", CONNECT, transport], rounds, env=env)
            cli = median_seconds(["docker", "version"], rounds, env=env)
            warm = in_process({key: env[key] for key in env if key.startswith(("DOCKER_", "HOME", "PATH"))},
                              transport == "openssh", rounds)
            print(f"{name}: fresh process connect()+version() {ours * 1000:.0f} ms vs `docker version` "
                  f"{cli * 1000:.0f} ms: {ours / cli:.2f}x; in a process with the SDK loaded {warm * 1000:.1f} ms "
                  f"({warm / cli:.2f}x the CLI)")
    finally:
        for server in (podman, ssh, tls):
            server.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    imports(args.rounds)
    endpoints(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
