"""The ray resource against a real Ray head node started for the session (tests/ray/conftest.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from launcher import Api, launch
from launcher.errors import ExecutionError, ResourceError
from launcher.logfile import LAUNCHER, STDOUT
from launcher.runners import ray as ray_runner
from launcher.runners.ray_owner import GIVE_UP_ENV, REATTACH_PAUSE_ENV
from tests.ray.cluster import (
    PACKAGE_LIMIT,
    cluster_processes,
    job_status,
    processes_outside_namespace,
    refusing_port,
)
from tests.ray.netns import addresses, listeners
from tests.ray.proxy import Relay
from tests.waiting import wait_for

pytestmark = pytest.mark.ray

TRAIN = """\
import json, os, sys
with open(os.environ["LAUNCHER_CONFIG_FILE"]) as f:
    print("file", json.dumps(json.load(f), sort_keys=True))
print("env", json.dumps(json.loads(os.environ["LAUNCHER_CONFIG"]), sort_keys=True))
print("abs", os.path.isabs(os.environ["LAUNCHER_CONFIG_FILE"]))
print("args", json.dumps(sys.argv[1:]))
print("run", os.environ["LAUNCHER_RUN_ID"], os.environ["WANDB_RUN_ID"], os.environ["EXTRA"])
print("files", sorted(os.listdir(".")))
print("to stderr", file=sys.stderr)
"""
FAIL = "print('about to fail', flush=True)\nraise SystemExit(3)\n"
# Waits on a file of the test's (the cluster runs on this machine) so the test can hold it mid-run.
WAIT = """\
import os, sys, time
print("first", flush=True)
deadline = time.time() + 120
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.05)
print("second")
sys.stdout.write("tail")
"""
SLEEP = "import time\nprint('ready', flush=True)\ntime.sleep(300)\n"
# Bytes that are not UTF-8, after a first line; with an argument, only once that file exists.
NOT_UTF8 = """\
import os, sys, time
def wait(path):
    deadline = time.time() + 120
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
print("before", flush=True)
if len(sys.argv) > 1:
    wait(sys.argv[1])
sys.stdout.buffer.write(b"caf\\xe9 \\xff\\n")
if len(sys.argv) > 2:  # then more output while the run goes on
    sys.stdout.buffer.flush()
    print("after", flush=True)
    wait(sys.argv[2])
"""
IGNORES = {".gitignore": "*.json\n.launcher/\nbuild/\n", ".rayignore": "notes.txt\n"}


@pytest.fixture
def code_job(ray_api, make_code_dir):
    src = make_code_dir({"train.py": TRAIN, "fail.py": FAIL, "wait.py": WAIT, "sleep.py": SLEEP, "bytes.py": NOT_UTF8,
                         "build/out.bin": b"\0" * 10, "notes.txt": "not for the cluster", **IGNORES})
    ray_api.create_job("code", str(src), name="scripts", entry_point=["python", "train.py"])
    return "scripts"


def program_lines(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == STDOUT]


def test_successful_run_gets_its_config_and_quoted_args(ray_api, code_job, ray_cluster):
    args = ["a b", "$HOME", "it's", "; echo injected", "*", "two\nlines"]
    run = launch(ray_api, job=code_job, resource="ray", run_id="ray-ok-1",
                 resource_args={"ray": {"env_vars": {"EXTRA": "x y"}, "num_cpus": 0.5}},
                 config={"overrides": {"run_config": {"lr": 0.25, "layers": [1, 2]}, "args": args}})
    status = run.get_status()
    assert (status.state, status.exit_code) == ("finished", 0)
    assert job_status(ray_cluster, "ray-ok-1") == "SUCCEEDED"  # the submission id is the run id
    config = json.loads((run.dir / "config.json").read_text())
    lines = program_lines(run)
    assert lines[:5] == [f"file {json.dumps(config, sort_keys=True)}", f"env {json.dumps(config, sort_keys=True)}",
                         "abs True", f"args {json.dumps(args)}", "run ray-ok-1 ray-ok-1 x y"]
    # .gitignore and .rayignore are respected; the config travels although .gitignore matches it; the
    # entry point makes the run's outputs folder (LAUNCHER_OUTPUT_DIR) in the working directory.
    assert lines[5] == "files ['.launcher', 'bytes.py', 'fail.py', 'outputs', 'sleep.py', 'train.py', 'wait.py']"
    assert "to stderr" in lines  # Ray merges stderr into the job's one log
    notes = [line.text for line in run.log_lines() if line.stream == LAUNCHER]
    assert any(n.startswith("ray: Running entrypoint for job ray-ok-1") for n in notes)
    assert not any("Running entrypoint" in line for line in lines)
    assert not (run.dir / "ray-working-dir").exists()


def test_failing_run_raises_with_exit_code(ray_api, code_job):
    with pytest.raises(ExecutionError) as caught:
        launch(ray_api, job=code_job, entry_point=["python", "fail.py"], resource="ray", run_id="ray-fail-1")
    error = caught.value
    assert (error.state, error.exit_code) == ("failed", 3)
    assert "about to fail" in str(error)
    assert ray_api.run("ray-fail-1").get_status().message == "exit code 3"


def test_missing_program_fails_with_shell_exit_code(ray_api, code_job):
    run = launch(ray_api, job=code_job, entry_point=["no-such-command-here", "x"], resource="ray", synchronous=False)
    assert run.wait(timeout=120) is False
    assert run.get_status().exit_code == 127


def test_cancel_stops_the_ray_job(ray_api, code_job, ray_cluster):
    run = launch(ray_api, job=code_job, entry_point=["python", "sleep.py"], resource="ray", synchronous=False)
    wait_for(lambda: "ready" in program_lines(run), timeout=120, what="the program to start")
    assert run.state == "running"
    status = run.cancel()
    assert status.state == "stopped"
    assert job_status(ray_cluster, run.id) == "STOPPED"


def test_logs_stream_while_the_run_is_going(ray_api, code_job, tmp_path):
    go = tmp_path / "go"
    run = launch(ray_api, job=code_job, entry_point=["python", "wait.py", str(go)], resource="ray",
                 synchronous=False)
    wait_for(lambda: "first" in program_lines(run), timeout=120, what="the first line in the run's log")
    assert run.state == "running" and "second" not in program_lines(run)
    go.touch()
    assert run.wait(timeout=120)
    assert run.get_log_bytes() == b"first\nsecond\ntail"  # byte-exact, unfinished last line included


def test_reopened_workspace_reattaches_without_repeating_logs(ray_api, code_job, tmp_path, ray_cluster):
    go = tmp_path / "go"
    run = launch(ray_api, job=code_job, entry_point=["python", "wait.py", str(go)], resource="ray",
                 synchronous=False)
    wait_for(lambda: "first" in program_lines(run), timeout=120, what="the first line in the run's log")
    # The run's owner is killed outright, and the job goes on and ends on the cluster.
    owner_pid = run.folder.owner_pid()
    os.kill(owner_pid, signal.SIGKILL)
    wait_for(lambda: not run.folder.owner_alive(), timeout=30, what="the owner to be gone")
    go.touch()
    wait_for(lambda: job_status(ray_cluster, run.id) == "SUCCEEDED", timeout=120, what="the Ray job to end")
    assert run.state == "running" and "second" not in program_lines(run)
    # A new process opens the workspace: the run is found on the cluster by its id.
    with Api(ray_api.home) as reopened:
        again = reopened.run(run.id)
        assert again.wait(timeout=120)
        assert again.get_log_bytes() == b"first\nsecond\ntail"
        headers = [line for line in again.log_lines() if "Running entrypoint" in line.text]
        assert len(headers) == 1


def test_run_outlives_the_process_that_launched_it(ray_api, code_job, tmp_path):
    go = tmp_path / "go"
    # Submitted as the CLI does (no waiting at exit), from a process that then ends.
    script = ("import sys; from launcher import Api; from launcher.launching import submit; "
              "from launcher.spec import merge_request; "
              "run = submit(Api(sys.argv[1]).workspace, merge_request(job='scripts', resource='ray', "
              "entry_point=['python', 'wait.py', sys.argv[2]])); print(run.id)")
    launched = subprocess.run([sys.executable, "-c", script, str(ray_api.home), str(go)],
                              capture_output=True, text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.strip()
    log = ray_api.workspace.run_dir(run_id) / "output.log"
    wait_for(lambda: log.exists() and b"O first" in log.read_bytes(), timeout=120, what="the first line")
    go.touch()
    # Read the store directly (no reconcile from this process): the detached owner records the end.
    wait_for(lambda: ray_api.workspace.store.get_run(run_id).state == "finished", timeout=120, what="the run's end")
    assert ray_api.run(run_id).get_log_bytes() == b"first\nsecond\ntail"


def launch_behind(relay: Relay, ray_api, code_job, go):
    """A run reaching the cluster through the relay, whose program waits for the file `go`; returns it
    once its first line is in the run's log."""
    run = launch(ray_api, job=code_job, entry_point=["python", "wait.py", str(go)], resource="ray",
                 resource_args={"ray": {"address": relay.address}}, synchronous=False)
    wait_for(lambda: "first" in program_lines(run), timeout=120, what="the first line in the run's log")
    return run


def test_dropped_connection_is_reported_retried_and_not_success(ray_api, code_job, tmp_path, ray_cluster):
    relay = Relay(ray_cluster.host, ray_cluster.dashboard_port)
    relay.start()
    go = tmp_path / "go"
    try:
        run = launch_behind(relay, ray_api, code_job, go)
        relay.cut()
        wait_for(lambda: any("lost connection to the Ray cluster" in line.text for line in run.log_lines()),
                 timeout=60, what="the lost connection to be reported")
        go.touch()
        wait_for(lambda: job_status(ray_cluster, run.id) == "SUCCEEDED", timeout=120, what="the Ray job to end")
        assert run.state == "running"  # the owner cannot know yet, and does not guess
        relay.start()  # the same port again
        assert run.wait(timeout=120)
    finally:
        relay.cut()
    assert run.get_log_bytes() == b"first\nsecond\ntail"
    assert any("reconnected to the Ray cluster" in line.text for line in run.log_lines())


def test_cluster_that_does_not_answer_is_a_one_line_error(ray_api, code_job):
    with refusing_port() as port, pytest.raises(ResourceError) as caught:
        launch(ray_api, job=code_job, resource="ray", run_id="nobody-home",
               resource_args={"ray": {"address": f"127.0.0.1:{port}"}})
    message = str(caught.value)
    assert "\n" not in message
    assert f"the Ray cluster at http://127.0.0.1:{port} (resource_args ray.address) does not answer" in message
    assert "connection refused" in message
    assert ray_api.run("nobody-home").state == "start_failed"


def test_address_from_environment(ray_api, code_job, ray_cluster, monkeypatch):
    ray_api.set_setting("ray_address", "http://127.0.0.1:9")  # RAY_ADDRESS wins over the setting
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    run = launch(ray_api, job=code_job, entry_point=["python", "fail.py"], resource="ray", synchronous=False)
    assert run.wait(timeout=120) is False
    assert run.record.handle["address"] == ray_cluster.address


def test_too_big_source_is_a_clear_error(ray_api, make_code_dir):
    # The upload is the owner's set-up work: the run ends start_failed with one line saying why.
    src = make_code_dir({"train.py": "print(1)", "weights.bin": os.urandom(PACKAGE_LIMIT + 2**20)})
    ray_api.create_job("code", str(src), name="big", entry_point=["python", "train.py"])
    with pytest.raises(ExecutionError):
        launch(ray_api, job="big", resource="ray", run_id="too-big")
    status = ray_api.run("too-big").get_status()
    assert status.state == "start_failed"
    assert "\n" not in status.message
    assert "the job's source is too big for the Ray cluster" in status.message and ".rayignore" in status.message


@pytest.mark.parametrize("args, expected", [
    ({"adress": "x"}, "unknown resource_args key 'adress' for ray; expected one of: address, num_cpus, num_gpus, "
                      "memory, resources, pip, env_vars"),
    ({"num_cpus": -1}, "resource_args ray.num_cpus -1 is not valid; expected a number from 0 to 1e+06"),
    ({"num_gpus": float("nan")}, "resource_args ray.num_gpus nan is not valid; expected a number from 0 to 1e+06"),
    ({"pip": "numpy"}, "resource_args ray.pip 'numpy' is not valid"),
    ({"env_vars": {"A": None}}, "resource_args ray.env_vars {'A': None} is not valid"),
    ({"address": "ray://head:10001"}, "resource_args ray.address 'ray://head:10001' is not a Ray dashboard address"),
])
def test_bad_resource_args_are_refused_before_anything_is_stored(ray_api, code_job, args, expected):
    with pytest.raises(ResourceError, match="^" + re.escape(expected)):
        launch(ray_api, job=code_job, resource="ray", resource_args={"ray": args})
    assert ray_api.runs() == []


def test_docker_image_is_refused_with_the_reason(ray_api):
    with pytest.raises(ResourceError, match="docker_image 'python:3.11'"):
        launch(ray_api, docker_image="python:3.11", resource="ray")
    assert ray_api.runs() == []


def test_without_ray_installed_the_error_says_how_to_install(api, make_code_dir, monkeypatch):
    from launcher.runners import get_runner

    monkeypatch.setitem(sys.modules, "ray", None)  # how Python marks a module as not importable
    runner = get_runner("ray")
    assert runner.unavailable_reason() == ("the ray resource needs Ray, which is not installed: "
                                           "pip install 'launcher[ray]'")
    src = make_code_dir({"train.py": "print(1)"})
    api.create_job("code", str(src), name="t", entry_point=["python", "train.py"])
    with pytest.raises(ResourceError, match=r"pip install 'launcher\[ray\]'"):
        launch(api, job="t", resource="ray")
    assert api.runs() == []
    assert {r.name: r.available for r in api.resources()}["ray"] is False


def test_git_job_requirements_go_to_the_runtime_env(ray_api, git_repo, ray_cluster, tmp_path):
    from tests.conftest import git

    # A tracked file that .gitignore matches is still part of a git job's source, and goes up.
    (git_repo.work / ".gitignore").write_text("*.cfg\n")
    (git_repo.work / "tracked.cfg").write_text("kept\n")
    (git_repo.work / "requirements.txt").write_text("PyYAML\n")
    (git_repo.work / "uses_yaml.py").write_text(
        "import sys, yaml\nprint(yaml.safe_load('a: 1'), open('tracked.cfg').read().strip(), sys.prefix != sys.base_prefix)\n")
    git(git_repo.work, "add", "-A")
    git(git_repo.work, "add", "-f", "tracked.cfg")
    git(git_repo.work, "commit", "-q", "-m", "yaml")
    git(git_repo.work, "push", "-q", str(git_repo.bare), "main")
    ray_api.create_job("git", str(git_repo.bare), name="gitjob", entry_point=["python", "uses_yaml.py"])
    run = launch(ray_api, job="gitjob", resource="ray", resource_args={"ray": {"pip": ["pathspec"]}},
                 synchronous=False)
    assert run.wait(timeout=240), run.tail()
    assert program_lines(run) == ["{'a': 1} kept True"]  # in the virtualenv Ray made for the job
    with urllib.request.urlopen(f"{ray_cluster.address}/api/jobs/{run.id}", timeout=10) as response:
        runtime_env = json.loads(response.read())["runtime_env"]
    assert "PyYAML" in json.dumps(runtime_env["pip"]) and "pathspec" in json.dumps(runtime_env["pip"])


def lost_connection_notes(run) -> list[str]:
    return [line.text for line in run.log_lines() if "lost connection" in line.text]


def test_output_that_is_not_utf8_is_kept_byte_for_byte_and_the_run_ends(ray_api, code_job):
    # Ray's Jobs API reads the job's log as UTF-8: its logs endpoint answers 500 and its tail stops at
    # the first byte that is not. The run must end all the same, with the bytes the program wrote.
    run = launch(ray_api, job=code_job, entry_point=["python", "bytes.py"], resource="ray", synchronous=False)
    assert run.wait(timeout=120), run.tail()
    assert run.get_status().state == "finished"
    assert run.get_log_bytes() == b"before\ncaf\xe9 \xff\n"
    assert not lost_connection_notes(run)


def test_output_after_bytes_that_are_not_utf8_still_arrives_while_the_run_goes_on(ray_api, code_job, tmp_path):
    # Ray's stream stops at the bad bytes and would stop there again at every reconnection: the owner
    # reads the raw log instead, so "after" shows up before the run ends.
    go, end = tmp_path / "go", tmp_path / "end"
    go.touch()
    run = launch(ray_api, job=code_job, entry_point=["python", "bytes.py", str(go), str(end)], resource="ray",
                 synchronous=False)
    wait_for(lambda: "after" in program_lines(run), timeout=60, what="the line after the bytes, live")
    assert run.state == "running"
    end.touch()
    assert run.wait(timeout=120), run.tail()
    assert run.get_log_bytes() == b"before\ncaf\xe9 \xff\nafter\n"
    assert not lost_connection_notes(run)
    assert sum("not UTF-8 text" in line.text for line in run.log_lines()) == 1


def test_log_that_cannot_be_fetched_at_the_end_keeps_what_the_tail_gave(ray_api, code_job, ray_cluster, tmp_path):
    # The cluster fails every request for the whole log (the Jobs API's and the raw file's), as it
    # might for a log it cannot read: the run still ends, with what the tail delivered and a note.
    relay = Relay(ray_cluster.host, ray_cluster.dashboard_port,
                  refuse=lambda path: path.split("?")[0].endswith("/logs") or path.startswith("/api/v0/logs"))
    relay.start()
    try:
        go = tmp_path / "go"
        run = launch(ray_api, job=code_job, entry_point=["python", "bytes.py", str(go)], resource="ray",
                     resource_args={"ray": {"address": relay.address}}, synchronous=False)
        wait_for(lambda: "before" in program_lines(run), timeout=120, what="the first line in the run's log")
        go.touch()
        assert run.wait(timeout=120), run.tail()
    finally:
        relay.cut()
    assert run.get_log_bytes() == b"before\n"
    notes = [line.text for line in run.log_lines() if "could not be fetched" in line.text]
    assert len(notes) == 1 and "HTTP 500" in notes[0], run.tail()


def test_pending_and_quiet_jobs_are_not_lost_connections_and_pending_cancel_stops(ray_api, code_job, ray_cluster):
    pending = launch(ray_api, job=code_job, entry_point=["python", "sleep.py"], resource="ray",
                     resource_args={"ray": {"num_cpus": 100}}, synchronous=False)  # the cluster has 4
    quiet = launch(ray_api, job=code_job, entry_point=["python", "sleep.py"], resource="ray", synchronous=False)
    wait_for(lambda: "ready" in program_lines(quiet), timeout=120, what="the quiet program to start")
    # Submitted, waiting for the cluster to schedule it: still being prepared, not running.
    assert job_status(ray_cluster, pending.id) == "PENDING" and pending.state == "preparing"
    # Ray's log tail never answers a websocket ping: a heartbeat would have broken both streams after
    # 15 s + 7.5 s of quiet. Watch for longer than that, stopping early if a note appears.
    window_end = time.monotonic() + 25
    wait_for(lambda: time.monotonic() > window_end or lost_connection_notes(pending) or lost_connection_notes(quiet),
             timeout=40, interval=0.5, what="the quiet window to pass")
    assert lost_connection_notes(pending) == [] and lost_connection_notes(quiet) == []
    # Ray answers "stopped" to a pending job and leaves it PENDING; the run must stop all the same.
    status = pending.cancel(grace_period=0)
    assert status.state == "stopped", status
    assert status.message.startswith("stopped by request while pending")
    assert any("still pending on the Ray cluster" in line.text for line in pending.log_lines())
    assert quiet.cancel(grace_period=0).state == "stopped"


def test_owner_gives_up_on_a_long_outage_and_the_next_owner_waits(ray_api, code_job, tmp_path, ray_cluster, monkeypatch):
    monkeypatch.setenv(GIVE_UP_ENV, "2")
    monkeypatch.setenv(REATTACH_PAUSE_ENV, "3600")
    spawned = []
    real_spawn = ray_runner.spawn_owner

    def recording_spawn(folder, *args, **kwargs):  # a spy: the real owner is started
        spawned.append(folder.run_id)
        return real_spawn(folder, *args, **kwargs)

    monkeypatch.setattr(ray_runner, "spawn_owner", recording_spawn)
    relay = Relay(ray_cluster.host, ray_cluster.dashboard_port)
    relay.start()
    go = tmp_path / "go"
    try:
        run = launch_behind(relay, ray_api, code_job, go)
        relay.cut()
        wait_for(lambda: not run.folder.owner_alive(), timeout=60, what="the owner to give up")
        notes = [line.text for line in run.log_lines() if "cluster unreachable since" in line.text]
        assert len(notes) == 1 and notes[0].endswith("; run state unknown; the next look at the run will retry")
        assert ray_api.workspace.store.get_run(run.id).state == "running"  # left as it is: the cluster decides
        # Reopening the workspace does not start an owner straight away against the same outage...
        spawned.clear()
        ray_api.reconcile([run.id])
        assert spawned == [] and run.state == "running"
        # ...but does once the pause has passed (moved back here rather than waited for).
        ray_api.workspace.store.update_handle(run.id, monitor_gave_up_at=time.time() - 3601)
        relay.start()
        go.touch()
        ray_api.reconcile([run.id])
        assert spawned == [run.id]
        assert run.wait(timeout=120)
    finally:
        relay.cut()
    assert run.get_log_bytes() == b"first\nsecond\ntail"


def test_resources_say_whether_the_cluster_answers(ray_api, ray_cluster):
    def ray_resource():
        return {r.name: r for r in ray_api.resources()}["ray"]

    # The check allows the dashboard one second: a loaded machine may need another try.
    ray = wait_for(lambda: (r := ray_resource()).available and r, timeout=30, what="the cluster to answer")
    assert ray.reason is None
    with refusing_port() as port:
        ray_api.set_setting("ray_address", f"http://127.0.0.1:{port}")
        ray = ray_resource()
    assert ray.available is False
    assert f"the Ray cluster at http://127.0.0.1:{port} (workspace setting 'ray_address') does not answer" \
        in ray.reason


def test_test_cluster_is_reachable_only_inside_its_own_network_namespace(ray_cluster):
    # Ray listens on every interface whatever --node-ip-address says; the namespace is what keeps it in.
    assert cluster_processes(ray_cluster.session_id)
    assert processes_outside_namespace(ray_cluster) == []
    inside = addresses(ray_cluster.namespace)
    assert sorted(a for a in inside if not a.startswith("fe80:")) == sorted(
        ["127.0.0.1/8", "::1/128", f"{ray_cluster.host}/30"])
    assert f"{ray_cluster.host}:{ray_cluster.dashboard_port}" in listeners(ray_cluster.namespace)
    # And nothing of the cluster listens in this (the machine's) namespace.
    ours = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    pids = cluster_processes(ray_cluster.session_id)
    assert [line for line in ours.splitlines() if any(f"pid={pid}," in line for pid in pids)] == []


def test_cancel_during_the_upload_stops_the_run_and_no_job_reaches_the_cluster(ray_api, code_job, ray_cluster):
    # The package upload is held by the relay (a slow upload, caused on purpose): the run is preparing.
    relay = Relay(ray_cluster.host, ray_cluster.dashboard_port, hold=lambda path: path.startswith("/api/packages"))
    relay.start()
    try:
        run = launch(ray_api, job=code_job, resource="ray", resource_args={"ray": {"address": relay.address}},
                     synchronous=False)
        wait_for(relay.holding.is_set, timeout=120, what="the upload to start")
        assert run.state == "preparing"
        status = run.cancel(grace_period=5)
        assert (status.state, status.message) == ("stopped", "stopped by request before the program started")
        assert not run.folder.owner_alive()
        relay.release()
        with pytest.raises(urllib.error.HTTPError):  # the cluster never got the job
            job_status(ray_cluster, run.id)
    finally:
        relay.release()
        relay.cut()
