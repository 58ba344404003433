"""A network namespace for the test cluster: loopback plus one veth pair on a private /30 whose other
end stays on this machine, so what runs inside is reachable from the tests and from nothing else.

Named after the test process (launcher-ray-test-PID); namespaces left by test processes that died
without cleaning up are removed when the next one is made. Needs root (CAP_NET_ADMIN) and `ip`."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

PREFIX = "launcher-ray-test-"


@dataclass(frozen=True)
class ClusterNamespace:
    name: str
    host_link: str
    host_ip: str
    inner_ip: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def inode(self) -> int:
        return os.stat(f"/run/netns/{self.name}").st_ino


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _address_in_use(ip: str) -> bool:
    return f" {ip}/" in _ip("-o", "-4", "addr", "show").stdout


def _remove_stale() -> None:
    for line in _ip("netns", "list").stdout.splitlines():
        match = re.match(re.escape(PREFIX) + r"(\d+)\b", line)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            _ip("link", "del", f"lrt{match.group(1)}", check=False)
            _ip("netns", "del", match.group(0), check=False)


def create_namespace() -> ClusterNamespace:
    _remove_stale()
    pid = os.getpid()
    # A /30 in 10.213.0.0/16 chosen from the pid, so that test sessions side by side do not collide.
    for step in range(64):
        block = ((pid + step) % 16384) * 4
        host_ip = f"10.213.{block // 256}.{block % 256 + 1}"
        if not _address_in_use(host_ip):
            break
    else:
        raise RuntimeError("no free /30 in 10.213.0.0/16 for the test cluster's network namespace")
    inner_ip = f"10.213.{block // 256}.{block % 256 + 2}"
    namespace = ClusterNamespace(f"{PREFIX}{pid}", f"lrt{pid}", host_ip, inner_ip)
    inner_link = f"lrn{pid}"
    try:
        _ip("netns", "add", namespace.name)
        _ip("link", "add", namespace.host_link, "type", "veth", "peer", "name", inner_link)
        _ip("link", "set", inner_link, "netns", namespace.name)
        _ip("addr", "add", f"{host_ip}/30", "dev", namespace.host_link)
        _ip("link", "set", namespace.host_link, "up")
        _ip("-n", namespace.name, "addr", "add", f"{inner_ip}/30", "dev", inner_link)
        _ip("-n", namespace.name, "link", "set", inner_link, "up")
        _ip("-n", namespace.name, "link", "set", "lo", "up")
    except BaseException:
        delete_namespace(namespace)
        raise
    return namespace


def delete_namespace(namespace: ClusterNamespace) -> None:
    # Deleting the namespace removes the veth pair too, but asynchronously: remove our end first.
    _ip("link", "del", namespace.host_link, check=False)
    _ip("netns", "del", namespace.name, check=False)


def listeners(namespace: ClusterNamespace) -> list[str]:
    """The local address:port of every listening TCP socket inside the namespace."""
    out = subprocess.run([*namespace.exec_prefix(), "ss", "-ltnH"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def addresses(namespace: ClusterNamespace) -> list[str]:
    """Every address of every interface inside the namespace, as CIDR."""
    out = _ip("-n", namespace.name, "-o", "addr", "show").stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]
