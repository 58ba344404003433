"""Overhead of a trivial run through the `ray` resource, against Ray's own ways to run the same entrypoint
with the same working directory, measured in the same run on the same cluster:

  launcher  launch(api, job, resource="ray", synchronous=True): validate, stage, submit, follow the log
            into the run folder, record the end in the store, return
  cli       `ray job submit --working-dir DIR -- python trivial.py` (waits, prints the logs)
  sdk       JobSubmissionClient.submit_job(...) then get_job_status every 50 ms until the job has ended,
            then get_job_logs (in this process: Ray's import is not counted)

    python bench/bench_ray.py [--repeat 5] [--address http://HOST:8265]

Without --address it starts a Ray head node for the bench, in a network namespace of its own as the tests
do (tests/ray/cluster.py), and stops it at the end; it then also prints how long the head node took to
start and what making and removing the namespace costs of that.
Prints each way's median, and the ratios launcher/sdk and launcher/cli."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import Api, launch  # noqa: E402

TRIVIAL = "print('ok')\n"


def via_launcher(api: Api, job: str) -> float:
    started = time.perf_counter()
    run = launch(api, job=job, resource="ray", synchronous=True)
    elapsed = time.perf_counter() - started
    assert run.get_log_bytes() == b"ok\n", run.get_log_bytes()
    return elapsed


def via_cli(address: str, source: Path) -> float:
    ray = str(Path(sys.executable).parent / "ray")
    started = time.perf_counter()
    result = subprocess.run([ray, "job", "submit", "--address", address, "--working-dir", str(source),
                             "--", "python", "trivial.py"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
    return elapsed


def via_sdk(client, source: Path) -> float:
    from ray.job_submission import JobStatus

    started = time.perf_counter()
    job_id = client.submit_job(entrypoint="python trivial.py", runtime_env={"working_dir": str(source)})
    while client.get_job_status(job_id) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        time.sleep(0.05)
    logs = client.get_job_logs(job_id)
    elapsed = time.perf_counter() - started
    assert client.get_job_status(job_id) == JobStatus.SUCCEEDED and "ok" in logs, logs
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--address", help="an existing cluster's dashboard (default: start a local head node)")
    options = parser.parse_args()

    cluster = None
    setup: dict[str, float] = {}
    if options.address:
        address = options.address
    else:
        from tests.ray.cluster import start_cluster
        from tests.ray.netns import create_namespace, delete_namespace

        namespace_costs = []
        for _ in range(5):
            started = time.perf_counter()
            delete_namespace(create_namespace())
            namespace_costs.append(time.perf_counter() - started)
        setup["network namespace (make + remove)"] = statistics.median(namespace_costs)
        print("starting a local Ray head node ...", flush=True)
        started = time.perf_counter()
        cluster = start_cluster()
        setup["head node start (namespace included)"] = time.perf_counter() - started
        address = cluster.address
    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        source = scratch / "src"
        source.mkdir()
        (source / "trivial.py").write_text(TRIVIAL)
        os.environ.pop("RAY_ADDRESS", None)
        api = Api(scratch / "workspace")
        api.set_setting("ray_address", address)
        api.create_job("code", str(source), name="trivial", entry_point=["python", "trivial.py"])
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(address)
        # One untimed round each: the first upload of a package and the first job warm the cluster.
        via_launcher(api, "trivial")
        via_sdk(client, source)
        times: dict[str, list[float]] = {"launcher": [], "sdk": [], "cli": []}
        for _ in range(options.repeat):  # interleaved, so load from other work hits each way alike
            times["launcher"].append(via_launcher(api, "trivial"))
            times["sdk"].append(via_sdk(client, source))
            times["cli"].append(via_cli(address, source))
        api.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if cluster is not None:
            from tests.ray.cluster import stop_cluster

            started = time.perf_counter()
            stop_cluster(cluster)
            setup["head node stop (namespace included)"] = time.perf_counter() - started

    for name, seconds in setup.items():
        print(f"{name}: {seconds:.3f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"trivial run, median of {options.repeat} (seconds, end to end):")
    for name, values in times.items():
        print(f"  {name:9s} {medians[name]:6.2f}   [{', '.join(f'{v:.2f}' for v in values)}]")
    print(f"ratio launcher / sdk submit-and-poll: {medians['launcher'] / medians['sdk']:.2f}")
    print(f"ratio launcher / ray job submit:      {medians['launcher'] / medians['cli']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
