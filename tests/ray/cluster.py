"""Start and stop a real Ray head node for tests and the bench, in a network namespace of its own.

Ray does not stay on loopback: whatever --node-ip-address says, its GCS, raylet, agents and client
server listen on every interface of the machine. So the head node runs inside a network namespace made
for it (tests/ray/netns.py) whose only way out is a veth pair on a private /30: nothing outside this
machine can reach it, and the tests reach its dashboard at the namespace's address. Inside the fresh
namespace every port is free, so Ray's usual ports are used.

`ray start` runs in a session of its own, so every Ray process it leaves behind is in that session or a
descendant of one that is (job drivers start sessions of their own under Ray's workers): stopping the
cluster signals exactly those processes by id. `ray stop` is not used: it kills every Ray process of the
user, including clusters that are not ours."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.ray.netns import ClusterNamespace, create_namespace, delete_namespace
from tests.waiting import wait_for

#: The cluster's limit on an uploaded working directory (Ray's default is 512 MiB); small here so that a
#: too-big source can be tested without writing half a gigabyte.
PACKAGE_LIMIT = 16 * 2**20
START_TIMEOUT = 180.0
#: How long Ray's processes get to exit after SIGTERM (GCS and the autoscaler may ignore it).
TERM_GRACE = 5.0
STOP_TIMEOUT = 60.0
DASHBOARD_PORT = 8265


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    session_id: int
    namespace: ClusterNamespace

    @property
    def host(self) -> str:
        return self.namespace.inner_ip

    @property
    def dashboard_port(self) -> int:
        return DASHBOARD_PORT


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for as long as the block lasts: bound, never listening,
    so no other server (nor this machine's own outgoing connections) can take it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def _jobs_api_answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(address + "/api/jobs/", timeout=5) as response:
            return response.status == 200 and isinstance(json.loads(response.read()), list)
    except (OSError, ValueError):
        return False


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id), for every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def cluster_processes(session_id: int) -> set[int]:
    """The processes of our cluster: its session, and everything they started."""
    table = _processes()
    members = {pid for pid, (_, sid) in table.items() if sid == session_id}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return members


def _stop(session_id: int) -> None:
    def signal_all(signum: int) -> set[int]:
        pids = cluster_processes(session_id)
        for pid in pids:
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        return pids

    signal_all(signal.SIGTERM)
    try:
        wait_for(lambda: not cluster_processes(session_id), timeout=TERM_GRACE, interval=0.2,
                 what="the Ray cluster's processes to exit")
    except AssertionError:
        signal_all(signal.SIGKILL)
        wait_for(lambda: not cluster_processes(session_id), timeout=STOP_TIMEOUT, interval=0.2,
                 what="the Ray cluster's processes to die")



def start_cluster(package_limit: int | None = None) -> RayCluster:
    """A head node whose Jobs API answers; package_limit lowers Ray's limit on an uploaded working dir."""
    ray_bin = Path(sys.executable).parent / "ray"
    # Short: Ray's socket paths live under the temp dir and are limited to 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="lr-", dir="/tmp"))
    namespace = create_namespace()
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    # Jobs run `python` from the PATH of the process that started the cluster, as on a real cluster.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if package_limit is not None:
        env["RAY_max_grpc_message_size"] = str(package_limit)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    argv = [*namespace.exec_prefix(), str(ray_bin), "start", "--head",
            f"--node-ip-address={namespace.inner_ip}", f"--dashboard-host={namespace.inner_ip}",
            f"--dashboard-port={DASHBOARD_PORT}", f"--temp-dir={temp_dir}", "--num-cpus=4",
            "--disable-usage-stats"]
    starter = subprocess.Popen(argv, env=env, cwd=temp_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    cluster = RayCluster(f"http://{namespace.inner_ip}:{DASHBOARD_PORT}", temp_dir, starter.pid, namespace)
    try:
        output, _ = starter.communicate(timeout=START_TIMEOUT)
        if starter.returncode != 0:
            raise RuntimeError(f"ray start failed ({starter.returncode}):\n{output.decode(errors='replace')[-3000:]}")
        wait_for(lambda: _jobs_api_answers(cluster.address), timeout=START_TIMEOUT, interval=0.2,
                 what=f"the Ray Jobs API at {cluster.address}")
    except BaseException:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: RayCluster) -> None:
    try:
        _stop(cluster.session_id)
    finally:
        delete_namespace(cluster.namespace)
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)


def processes_outside_namespace(cluster: RayCluster) -> list[int]:
    """The cluster's processes that are not in its network namespace (there should be none)."""
    inside = f"net:[{cluster.namespace.inode()}]"
    outside = []
    for pid in sorted(cluster_processes(cluster.session_id)):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != inside:
                outside.append(pid)
        except OSError:
            continue  # exited meanwhile
    return outside


def job_status(cluster: RayCluster, job_id: str) -> str:
    with urllib.request.urlopen(f"{cluster.address}/api/jobs/{job_id}", timeout=10) as response:
        return json.loads(response.read())["status"]
