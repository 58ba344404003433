"""Benchmarks of the local-container resource against the Docker engine used directly, in the same run.

    /tmp/venv0/bin/python bench/bench_container.py [--rounds 10] [--lines 1000000]

1. Launch overhead: a synchronous launch of a trivial container (`true` on the base image), start to
   finish, against `docker run --rm` of the same image and command (targets: <= 1.15x).
2. Cached relaunch: launching a code job whose image is already built (no build), against 1.
3. Log throughput: a container printing a million lines (`seq`) into the run's log, against the docker
   SDK attached to the same program (create, attach, start, read to the end: the fast path, target:
   >= 0.8x), and against the SDK reading the launcher's container's logs with logs(stream, follow).

Needs a Docker engine and the base image: bash scripts/docker-up."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import Api, launch  # noqa: E402

BASE = "launcher-base:bookworm"
RESOURCE = "local-container"


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def launch_overhead(api: Api, rounds: int) -> tuple[float, float]:
    def ours() -> None:
        launch(api, docker_image=BASE, entry_point=["true"])

    def raw() -> None:
        subprocess.run(["docker", "run", "--rm", BASE, "true"], check=True)

    ours(), raw()  # warm both paths
    mine, theirs = [], []
    for _ in range(rounds):  # interleaved, so both see the same machine
        mine.append(timed(ours))
        theirs.append(timed(raw))
    return statistics.median(mine), statistics.median(theirs)


def cached_relaunch(api: Api, workdir: Path, rounds: int) -> tuple[float, float]:
    source = workdir / "job"
    source.mkdir()
    (source / "main.py").write_text("print('hi')\n")
    job = api.create_job("code", str(source), name="bench-relaunch", entry_point=["python", "main.py"])
    first = timed(lambda: launch(api, job=job.ref, resource=RESOURCE))  # builds, unless built before
    times = [timed(lambda: launch(api, job=job.ref, resource=RESOURCE)) for _ in range(rounds)]
    return first, statistics.median(times)


def log_throughput(api: Api, lines: int) -> dict[str, float]:
    import docker

    client = docker.from_env()
    command = ["seq", str(lines)]

    began = time.perf_counter()
    run = launch(api, docker_image=BASE, entry_point=command, resource_args={RESOURCE: {"keep": True}})
    ours = time.perf_counter() - began
    got = sum(1 for line in run.log_lines() if line.stream == "stdout")
    assert got == lines, f"the run's log has {got} lines, expected {lines}"

    container = client.containers.get(run.record.handle["container_id"])
    began = time.perf_counter()
    count = sum(chunk.count(b"\n") for chunk in container.logs(stream=True, follow=True))
    sdk_logs = time.perf_counter() - began
    assert count == lines
    container.remove(force=True)

    began = time.perf_counter()
    raw = client.api.create_container(BASE, command)
    stream = client.api.attach(raw, stream=True, stdout=True, stderr=True)
    client.api.start(raw)
    count = sum(chunk.count(b"\n") for chunk in stream)
    client.api.wait(raw)
    sdk_attach = time.perf_counter() - began
    client.api.remove_container(raw, force=True)
    assert count == lines
    client.close()
    return {"ours": ours, "sdk_attach": sdk_attach, "sdk_logs": sdk_logs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        api = Api(Path(workdir) / "workspace")
        reason = next(r["reason"] for r in api.resources() if r.name == RESOURCE)
        if reason:
            print(f"bench_container: {reason}", file=sys.stderr)
            return 1

        ours, raw = launch_overhead(api, args.rounds)
        print(f"launch overhead: launcher {ours * 1000:.0f} ms, docker run --rm {raw * 1000:.0f} ms "
              f"(median of {args.rounds}): {ours / raw:.2f}x (target <= 1.15x)")

        first, again = cached_relaunch(api, Path(workdir), args.rounds)
        print(f"cached relaunch of a code job: {again * 1000:.0f} ms (median of {args.rounds}; first launch "
              f"{first:.1f} s); {again / ours:.2f}x a docker_image launch")

        result = log_throughput(api, args.lines)
        rate = args.lines / result["ours"]
        print(f"log capture of {args.lines} lines: launcher {result['ours']:.2f} s ({rate / 1000:.0f}k lines/s "
              f"into the run log)")
        print(f"  vs docker SDK attach to the same program: {result['sdk_attach']:.2f} s "
              f"({args.lines / result['sdk_attach'] / 1000:.0f}k lines/s): "
              f"{result['sdk_attach'] / result['ours']:.2f}x its throughput (target >= 0.8x)")
        print(f"  vs docker SDK logs(stream, follow) of the same container: {result['sdk_logs']:.2f} s "
              f"({args.lines / result['sdk_logs'] / 1000:.0f}k lines/s): "
              f"{result['sdk_logs'] / result['ours']:.2f}x its throughput")
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
