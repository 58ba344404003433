"""Images for container runs: generated and own Dockerfiles, content-hash tags and cache, base images,
given images, pushes to a real registry."""

from __future__ import annotations

import re
import uuid

import pytest

from launcher import launch
from launcher.errors import ExecutionError, LaunchError
from launcher.logfile import LAUNCHER
from tests.container.conftest import registry_tags, workspace_containers

RESOURCE = "local-container"
BASE = "launcher-base:bookworm"
#: One program for the generated-image tests: its image is built once per engine and then reused.
HELLO = {
    "train.py": (
        "import json, os, sys\n"
        "import six\n"
        "config = json.load(open(os.environ['LAUNCHER_CONFIG_FILE']))\n"
        "print('hello from', os.getcwd(), 'uid', os.getuid(), 'six', six.__version__, 'config', config)\n"
        "print('argv', sys.argv[1:])\n"
        "print('python', sys.executable)\n"
    ),
    "requirements.txt": "six\n",
}


def launcher_lines(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == LAUNCHER]


def build_steps(run) -> list[str]:
    return [line for line in launcher_lines(run) if line.startswith("Step ")]


def test_generated_image_runs_job_as_non_root_in_its_venv(api, make_code_dir, docker_client):
    job = api.create_job("code", str(make_code_dir(HELLO)), name="hello", entry_point=["python", "train.py"])
    run = launch(api, job=job.ref, resource=RESOURCE, config={"overrides": {"run_config": {"lr": 0.5}}})

    output = run.get_logs()
    assert "hello from /app uid 1000 six " in output
    assert "config {'lr': 0.5}" in output
    assert "python /opt/venv/bin/python" in output
    image_ref = run.record.handle["image"]
    assert image_ref.startswith("launcher/hello:")
    image = docker_client.images.get(image_ref)
    assert image.attrs["Config"]["User"] == "launcher"
    # No entry point baked in: a reused image would carry a stale one; every run passes its own argv.
    assert image.attrs["Config"]["Entrypoint"] is None
    assert "PYTHONUNBUFFERED=1" in image.attrs["Config"]["Env"]
    assert workspace_containers(docker_client, api.home) == []


def test_relaunch_skips_the_build_and_a_code_change_keeps_the_requirements_layer(api, make_code_dir):
    source = make_code_dir(HELLO)
    job = api.create_job("code", str(source), name="hello", entry_point=["python", "train.py"])
    first = launch(api, job=job.ref, resource=RESOURCE)
    again = launch(api, job=job.ref, resource=RESOURCE, config={"overrides": {"args": ["--x", "1"]}})

    assert again.record.handle["image"] == first.record.handle["image"]
    assert build_steps(again) == []
    assert any("no build needed" in line for line in launcher_lines(again))
    assert "argv ['--x', '1']" in again.get_logs()

    # A change never seen before (images outlive test sessions), so its source layer must be built.
    (source / "train.py").write_text(HELLO["train.py"] + f"print('changed code', {uuid.uuid4().hex!r})\n")
    changed = api.create_job("code", str(source), name="hello", entry_point=["python", "train.py"])
    run = launch(api, job=changed.ref, resource=RESOURCE)
    assert "changed code" in run.get_logs()
    assert run.record.handle["image"] != first.record.handle["image"]
    lines = launcher_lines(run)
    pip_step = next(i for i, line in enumerate(lines) if line.startswith("Step ") and "pip install" in line)
    assert "Using cache" in lines[pip_step + 1], lines[pip_step:pip_step + 3]


def test_own_dockerfile_is_used_and_dockerfile_launcher_wins(api, make_code_dir):
    source = make_code_dir({
        "run.py": "import os\nprint('marker', os.environ.get('MARK'))\n",
        "Dockerfile": f"FROM {BASE}\nENV MARK=plain\nCOPY . /work\nWORKDIR /work\n",
        "Dockerfile.launcher": f"FROM {BASE}\nENV MARK=launcher\nCOPY . /work\nWORKDIR /work\n",
    })
    job = api.create_job("code", str(source), name="own", entry_point=["python3", "run.py"])
    run = launch(api, job=job.ref, resource=RESOURCE)
    assert run.get_logs() == "marker launcher\n"

    (source / "Dockerfile.launcher").unlink()
    job = api.create_job("code", str(source), name="own", entry_point=["python3", "run.py"])
    run = launch(api, job=job.ref, resource=RESOURCE)
    assert run.get_logs() == "marker plain\n"


def test_failing_dockerfile_ends_start_failed_with_the_step_and_the_build_log(api, make_code_dir):
    source = make_code_dir({
        "run.py": "print('never')\n",
        # The failing step colours its output, as tools do: the run's log gets the text, not the codes.
        "Dockerfile": f"FROM {BASE}\nRUN echo building-now\nRUN printf '\\033[1;31mabout-to-fail\\033[0m\\n' && exit 7\n"
                      "COPY . /w\n",
    })
    job = api.create_job("code", str(source), name="broken", entry_point=["python3", "run.py"])
    with pytest.raises(ExecutionError) as caught:
        launch(api, job=job.ref, resource=RESOURCE)

    message = str(caught.value)
    assert "\n" not in message
    assert "image build failed at Step 3/4 : RUN printf '\\033[1;31mabout-to-fail\\033[0m\\n' && exit 7" in message
    assert "returned a non-zero code: 7" in message
    run = api.run(caught.value.run_id)
    assert run.state == "start_failed"
    lines = launcher_lines(run)
    assert "Step 2/4 : RUN echo building-now" in lines and "about-to-fail" in lines
    assert not [line for line in lines if "\x1b" in line]
    assert "never" not in run.get_logs()


def test_base_image_from_resource_arg_env_and_setting(api, make_code_dir, docker_client, monkeypatch, tmp_path):
    # A base of its own, marked by a label its children inherit (and new each session, so no cache).
    mark = uuid.uuid4().hex
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\nLABEL launcher-test-base={mark}\n")
    docker_client.images.build(path=str(context), tag="launcher-test/alt-base:1", rm=True)
    try:
        source = make_code_dir({"p.py": "print('ok')\n"})
        job = api.create_job("code", str(source), name="based", entry_point=["python", "p.py"])

        run = launch(api, job=job.ref, resource=RESOURCE,
                     resource_args={RESOURCE: {"base_image": "launcher-test/alt-base:1"}})
        assert run.get_logs() == "ok\n"
        assert any("FROM launcher-test/alt-base:1" in line for line in launcher_lines(run))
        built = docker_client.images.get(run.record.handle["image"])
        assert built.labels["launcher-test-base"] == mark

        api.set_setting("base_image", "launcher-test/missing-base:1")
        with pytest.raises(ExecutionError, match="base image 'launcher-test/missing-base:1' does not exist.*"
                                                 "launcher images base"):
            launch(api, job=job.ref, resource=RESOURCE)

        monkeypatch.setenv("LAUNCHER_BASE_IMAGE", "launcher-test/alt-base:1")  # the env var beats the setting
        again = launch(api, job=job.ref, resource=RESOURCE)
        assert again.get_logs() == "ok\n"
        assert again.record.handle["image"] == run.record.handle["image"]
    finally:
        docker_client.images.remove("launcher-test/alt-base:1", force=True)


def test_docker_image_runs_its_own_command_or_the_entry_point(api, docker_client, tmp_path):
    # Its own folder: a build context holding the workspace would make the SDK read (and close) the
    # store's files, which drops this process's SQLite locks.
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\nCMD [\"python3\", \"-c\", \"print('own command')\"]\n")
    docker_client.images.build(path=str(context), tag="launcher-test/own-cmd:1", rm=True)
    try:
        job = api.create_job("image", "launcher-test/own-cmd:1")
        run = launch(api, job=job.ref)  # image jobs default to local-container
        assert run.record.resource == RESOURCE
        assert run.get_logs() == "own command\n"

        run = launch(api, docker_image="launcher-test/own-cmd:1", entry_point=["python3", "-c", "print(6 * 7)"])
        assert run.get_logs() == "42\n"
    finally:
        docker_client.images.remove("launcher-test/own-cmd:1")


def test_missing_image_that_cannot_be_pulled(api):
    with pytest.raises(ExecutionError) as caught:
        launch(api, docker_image="127.0.0.1:9/launcher-test/nope:1", entry_point=["true"])
    message = str(caught.value)
    assert "image '127.0.0.1:9/launcher-test/nope:1' does not exist locally and cannot be pulled" in message
    assert "\n" not in message
    assert api.run(caught.value.run_id).state == "start_failed"


def test_repository_push_then_run_from_the_registry(api, make_code_dir, registry, docker_client):
    source = make_code_dir({"p.py": "print('pushed and run')\n"})
    job = api.create_job("code", str(source), name="pushy", entry_point=["python", "p.py"])
    repository = f"{registry}/team/pushy"

    run = launch(api, job=job.ref, resource=RESOURCE, repository=repository)
    assert run.get_logs() == "pushed and run\n"
    image = run.record.handle["image"]
    assert image.startswith(repository + ":")
    assert registry_tags(registry, "team/pushy") == [image.rsplit(":", 1)[1]]

    # Built elsewhere, as far as this engine knows: the relaunch pulls it from the registry, no build.
    docker_client.images.remove(image)
    docker_client.images.remove(f"launcher/pushy:{image.rsplit(':', 1)[1]}")
    again = launch(api, job=job.ref, resource=RESOURCE, repository=repository)
    assert again.get_logs() == "pushed and run\n"
    assert build_steps(again) == []
    assert any(f"pulled {image}" in line for line in launcher_lines(again))

    # resource_args' registry setting: the job's repository under that registry.
    run = launch(api, job=job.ref, resource=RESOURCE, resource_args={RESOURCE: {"registry": registry}})
    assert run.record.handle["image"].startswith(f"{registry}/launcher/pushy:")
    assert registry_tags(registry, "launcher/pushy")
    docker_client.images.remove(image)
    docker_client.images.remove(run.record.handle["image"])


def test_registry_refusing_the_push(api, make_code_dir, readonly_registry, docker_client):
    source = make_code_dir({"p.py": "print('x')\n"})
    job = api.create_job("code", str(source), name="refused", entry_point=["python", "p.py"])
    with pytest.raises(ExecutionError) as caught:
        launch(api, job=job.ref, resource=RESOURCE, repository=f"{readonly_registry}/team/refused")
    message = str(caught.value)
    assert re.search(rf"\(the registry at {re.escape(readonly_registry)} refused the push of "
                     rf"{re.escape(readonly_registry)}/team/refused:[0-9a-f]+ \(HTTP 405 Method Not Allowed\); "
                     r"check the repository and that the registry accepts pushes\)$", message), message
    assert "\n" not in message
    assert api.run(caught.value.run_id).state == "start_failed"
    assert docker_client.images.list(name=f"{readonly_registry}/team/refused") == []


def test_repository_with_a_given_image_is_an_error(api):
    with pytest.raises(LaunchError, match="repository/registry apply to images the launcher builds"):
        launch(api, docker_image=BASE, entry_point=["true"], repository="127.0.0.1:5000/x")
    assert api.runs() == []


def test_base_image_with_a_given_image_is_an_error(api):
    with pytest.raises(LaunchError) as caught:
        launch(api, docker_image=BASE, entry_point=["true"],
               resource_args={RESOURCE: {"base_image": "launcher-test/other:1"}})
    assert str(caught.value) == ("resource_args local-container.base_image applies to images the launcher builds; "
                                 f"image {BASE!r} is run as it is (leave base_image out)")
    assert api.runs() == []


def test_images_base_command_checks_the_base_image(home):
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "launcher.cli.main", "images", "base", *args],
                              capture_output=True, text=True, timeout=60)

    present = cli("--check")
    assert present.returncode == 0
    assert present.stdout.startswith(f"{BASE}: present (")
    missing = cli("--check", "--tag", "launcher-test/no-such-base:1")
    assert missing.returncode == 1
    assert missing.stderr == "launcher-test/no-such-base:1: missing; build it with: launcher images base\n"


def test_cancel_during_the_build_stops_the_run_before_it_starts(api, make_code_dir, docker_client):
    import time

    from launcher.launching import submit
    from launcher.spec import merge_request
    from tests.waiting import wait_for

    mark = uuid.uuid4().hex
    source = make_code_dir({
        "run.py": "print('never')\n",
        "Dockerfile": f"FROM {BASE}\nRUN echo {mark} && sleep 60\nCOPY . /w\n",
    })
    job = api.create_job("code", str(source), name="slow-build", entry_point=["python3", "run.py"])
    run = submit(api.workspace, merge_request(job=job.ref, resource=RESOURCE))
    wait_for(lambda: mark in launcher_lines(run), timeout=30, what="the slow build step to run")  # then silence
    began = time.monotonic()
    status = run.cancel(grace_period=0)
    assert (status.state, status.message) == ("stopped", "stopped by request before the program started")
    assert time.monotonic() - began < 15
    assert "never" not in run.get_logs()
    def build_step_running() -> bool:
        return any(mark in " ".join(c.attrs["Config"]["Cmd"] or []) for c in docker_client.containers.list())

    wait_for(lambda: not build_step_running(), timeout=30, what="the build's container to go away")
    assert docker_client.images.list(name="launcher/slow-build") == []  # no image tag was made


def test_git_job_runs_in_a_container_at_the_requested_version(api, git_repo):
    job = api.create_job("git", str(git_repo.bare), name="gitjob", entry_point=["python", "train.py"])
    run = launch(api, job=job.ref, resource=RESOURCE, config={"overrides": {"run_config": {"a": 1}}})
    assert run.get_logs() == 'version two {"a": 1}\n'

    older = launch(api, job=job.ref, resource=RESOURCE, version="v1")
    assert older.get_logs().startswith("version one {}\n")
    assert older.record.handle["image"] != run.record.handle["image"]
