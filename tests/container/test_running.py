"""Running containers: config, resource_args, labels, live logs, cancel."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from launcher import launch
from launcher.errors import ResourceError
from launcher.launching import submit
from launcher.logfile import STDERR, STDOUT
from launcher.spec import merge_request
from tests.container.conftest import workspace_containers
from tests.waiting import wait_for

BASE = "launcher-base:bookworm"
RESOURCE = "local-container"


def python(code: str) -> list[str]:
    return ["python3", "-c", code]


def start(api, code: str, **kwargs):
    """Submit a container run of a Python snippet on the base image without waiting for it."""
    return submit(api.workspace, merge_request(docker_image=BASE, entry_point=python(code), **kwargs))


WAIT_FOR_GO = (
    "import os, sys, time\n"
    "print('first line', flush=True)\n"
    "while not os.path.exists('/shared/go'):\n"
    "    time.sleep(0.02)\n"
    "print('second line')\n"
    "sys.exit(int(open('/shared/go').read() or 0))\n"
)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    path.chmod(0o777)
    return path


SHOW_CONFIG = ("import json, os\n"
               "env = {k: v for k, v in os.environ.items() if k.startswith(('LAUNCHER_', 'WANDB_', 'PYTHONUNBUF'))}\n"
               "print(json.dumps({'env': env, 'file': json.load(open(os.environ['LAUNCHER_CONFIG_FILE']))}))\n")
#: What legitimately differs between two runs of one job on two resources.
PER_RUN = {"LAUNCHER_RUN_ID", "WANDB_RUN_ID", "LAUNCHER_RESOURCE", "LAUNCHER_CONFIG_FILE",
           # the run's outputs folder: its run folder's outputs/ here, a bind mount of it in a container
           "LAUNCHER_OUTPUT_DIR", "WANDB_DIR"}
#: Only on local-process: the run's folder, which marks the run's processes on the machine for cancel.
LOCAL_ONLY = {"LAUNCHER_RUN_DIR"}


def test_config_reaches_the_program_as_on_local_process(api, make_code_dir, monkeypatch):
    monkeypatch.delenv("LAUNCHER_HOME")  # only in this test process: not something a run is given
    # Its own small Dockerfile: a quick build on the base image (local-process ignores it).
    source = make_code_dir({"show.py": SHOW_CONFIG, "Dockerfile": f"FROM {BASE}\nCOPY show.py /w/\nWORKDIR /w\n"})
    job = api.create_job("code", str(source), name="show-config", entry_point=["python3", "show.py"])
    config = {"overrides": {"run_config": {"lr": 0.1, "layers": [1, 2], "name": "x y"}}}
    seen = {}
    for resource in ("local-process", RESOURCE):
        run = launch(api, job=job.ref, resource=resource, name="same-name", config=config)
        seen[resource] = (run, json.loads(run.get_logs()))

    (local_run, local), (container_run, contained) = seen["local-process"], seen[RESOURCE]
    assert {k: v for k, v in contained["env"].items() if k not in PER_RUN} == \
        {k: v for k, v in local["env"].items() if k not in PER_RUN | LOCAL_ONLY}
    assert local["env"]["LAUNCHER_RUN_DIR"] == str(local_run.dir)
    assert contained["file"] == local["file"] == config["overrides"]["run_config"]
    assert (contained["env"]["LAUNCHER_RUN_ID"], contained["env"]["WANDB_RUN_ID"]) == (container_run.id,) * 2
    assert (local["env"]["LAUNCHER_RUN_ID"], local["env"]["WANDB_RUN_ID"]) == (local_run.id,) * 2
    assert (local["env"]["LAUNCHER_RESOURCE"], contained["env"]["LAUNCHER_RESOURCE"]) == ("local-process", RESOURCE)
    assert contained["env"]["LAUNCHER_CONFIG_FILE"] == "/launcher/config.json"
    assert {"LAUNCHER_CONFIG", "WANDB_CONFIG", "LAUNCHER_JOB", "WANDB_JOB_NAME", "PYTHONUNBUFFERED"} <= set(local["env"])


def test_resource_args_reach_the_container(api, shared, docker_client):
    code = ("import os, json\n"
            "mounts = open('/proc/mounts').read()\n"
            "facts = {'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(), 'foo': os.environ['FOO'],\n"
            "         'hosts': 'myhost' in open('/etc/hosts').read(), 'scratch': ' /scratch tmpfs ' in mounts}\n"
            "open('/shared/facts.json', 'w').write(json.dumps(facts))\n")
    args = {"env": {"FOO": "bar"}, "volumes": [f"{shared}:/shared"], "mounts": [{"type": "tmpfs", "target": "/scratch"}],
            "cpus": 1.5, "memory": "256m", "shm_size": "64m", "network": "none", "user": "1234:1234",
            "working_dir": "/tmp", "labels": {"team": "ml"}, "extra_hosts": {"myhost": "10.1.2.3"}, "keep": True,
            "init": False}
    run = launch(api, docker_image=BASE, entry_point=python(code), resource_args={RESOURCE: args})

    facts = json.loads((shared / "facts.json").read_text())
    assert facts == {"uid": 1234, "gid": 1234, "cwd": "/tmp", "foo": "bar", "hosts": True, "scratch": True}
    [container] = workspace_containers(docker_client, api.home)  # kept, as asked
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == 256 << 20
    assert host["ShmSize"] == 64 << 20
    assert host["NetworkMode"] == "none"
    assert host["ExtraHosts"] == ["myhost:10.1.2.3"]
    assert host["Init"] is False
    assert container.labels["team"] == "ml"
    assert container.labels["launcher.run_id"] == run.id
    assert container.status == "exited"


def test_bad_resource_args_are_one_line_errors_and_store_nothing(api):
    with pytest.raises(ResourceError) as caught:
        launch(api, docker_image=BASE, entry_point=["true"], resource_args={RESOURCE: {"colour": "red"}})
    message = str(caught.value)
    assert "unknown resource_args key 'colour' for local-container" in message
    assert "env, volumes, mounts, gpus, cpus, memory, shm_size, network, user, working_dir, labels, extra_hosts" in message

    for bad, expected in (({"gpus": "many"}, "local-container.gpus 'many' is not valid; expected 'all' or a number"),
                          ({"memory": "lots"}, "local-container.memory 'lots' is not valid"),
                          ({"volumes": ["nocolon"]}, "local-container.volumes 'nocolon' is not valid"),
                          ({"labels": {"launcher.run_id": "x"}}, "label names not starting with 'launcher.'"),
                          ({"cpus": 0}, "local-container.cpus 0 is not valid"),
                          ({"init": "yes"}, "local-container.init 'yes' is not valid; expected true or false"),
                          ({"volumes": ["/launcher-test-missing/data:/data"]},
                           "local-container.volumes: host path '/launcher-test-missing/data' does not exist; "
                           "expected an existing file or folder on this machine"),
                          ({"volumes": {"/launcher-test-missing/data": "/data"}},
                           "host path '/launcher-test-missing/data' does not exist"),
                          ({"mounts": [{"type": "bind", "source": "/launcher-test-missing/m", "target": "/m"}]},
                           "local-container.mounts: host path '/launcher-test-missing/m' does not exist")):
        with pytest.raises(ResourceError, match=expected.replace(".", r"\.")) as caught:
            launch(api, docker_image=BASE, entry_point=["true"], resource_args={RESOURCE: bad})
        assert "\n" not in str(caught.value)
    assert api.runs() == []
    assert not Path("/launcher-test-missing").exists()  # the engine did not make it either


def test_live_logs_labels_and_nothing_left_behind(api, shared, docker_client):
    run = start(api, WAIT_FOR_GO, resource_args={RESOURCE: {"volumes": [f"{shared}:/shared"]}})
    lines = run.follow_logs()
    assert next(lines).text == "first line"  # streamed while the program still runs
    assert run.state == "running"

    [container] = docker_client.containers.list(filters={"label": f"launcher.run_id={run.id}"})
    assert container.labels["launcher.workspace"] == str(api.home.resolve())
    assert container.labels["launcher.job"] == f"image:{BASE}"

    (shared / "go").write_text("0")
    assert next(lines).text == "second line"
    assert run.wait(timeout=30)
    assert list(lines) == []
    assert workspace_containers(docker_client, api.home) == []


def test_output_is_byte_exact_per_stream(api):
    code = ("import sys\n"
            "sys.stdout.buffer.write(b'caf\\xc3\\xa9 \\xff raw\\n'); sys.stdout.flush()\n"
            "sys.stderr.write('to stderr\\n'); sys.stderr.flush()\n"
            "sys.stdout.write('x' * 70000 + '\\n'); sys.stdout.write('no newline at the end')\n")
    run = launch(api, docker_image=BASE, entry_point=python(code))
    assert run.get_log_bytes((STDOUT,)) == b"caf\xc3\xa9 \xff raw\n" + b"x" * 70000 + b"\nno newline at the end"
    assert run.get_log_bytes((STDERR,)) == b"to stderr\n"


def test_cancel_sends_sigterm_and_removes_the_container(api, docker_client):
    code = ("import signal, sys, time\n"
            "def stop(*_):\n    print('got SIGTERM'); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "print('ready', flush=True)\n"
            "time.sleep(300)\n")
    run = start(api, code)
    wait_for(lambda: "ready" in run.get_logs(), timeout=30, what="the program to be ready")
    status = run.cancel(grace_period=10)
    assert status.state == "stopped"
    assert "got SIGTERM" in run.get_logs()
    assert workspace_containers(docker_client, api.home) == []


def test_cancel_stops_a_program_without_a_signal_handler_at_once(api, docker_client):
    # PID 1 of a container ignores SIGTERM unless it handles it: the container's init is PID 1 instead.
    run = start(api, "import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    wait_for(lambda: "ready" in run.get_logs(), timeout=30, what="the program to be ready")
    status = run.cancel(grace_period=30)
    assert (status.state, status.exit_code) == ("stopped", 128 + 15)  # SIGTERM ended it, not SIGKILL (137)
    assert workspace_containers(docker_client, api.home) == []


def test_cancel_escalates_to_sigkill_after_the_grace_period(api, docker_client):
    code = ("import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ignoring SIGTERM', flush=True)\n"
            "time.sleep(300)\n")
    run = start(api, code)
    wait_for(lambda: "ignoring SIGTERM" in run.get_logs(), timeout=30, what="the program to be ready")
    began = time.monotonic()
    status = run.cancel(grace_period=1)
    assert status.state == "stopped"
    assert status.exit_code == 137
    assert time.monotonic() - began < 20
    assert workspace_containers(docker_client, api.home) == []


def test_anonymous_volumes_of_the_image_are_removed_with_the_container(api, docker_client, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\nVOLUME /data\n")
    docker_client.images.build(path=str(context), tag="launcher-test/with-volume:1", rm=True)
    try:
        before = {v.name for v in docker_client.volumes.list()}
        run = launch(api, docker_image="launcher-test/with-volume:1",
                     entry_point=python("open('/data/x', 'w').write('x'); print('wrote')"))
        assert run.get_logs() == "wrote\n"
        assert {v.name for v in docker_client.volumes.list()} == before
    finally:
        docker_client.images.remove("launcher-test/with-volume:1")


def test_deleting_a_run_removes_its_kept_container(api, docker_client):
    run = launch(api, docker_image=BASE, entry_point=["true"], resource=RESOURCE,
                 resource_args={RESOURCE: {"keep": True}})
    assert len(workspace_containers(docker_client, api.home)) == 1  # kept, as asked
    assert api.runs.delete([run.id]).done == (run.id,)
    assert workspace_containers(docker_client, api.home) == []
