"""Issue 10, finding 1 and "a test per resource": on local-process and local-container, a link to a host
file never reaches the program, whichever way it comes (the ray resource's test is in
tests/ray/test_ray_never_gives_a_program_a_host_file.py, beside the session's cluster):

- links inside the source reach the program and read as their targets;
- a link out put into a job's snapshot in the workspace (by hand, or by an older launcher) stops the
  launch with one line before anything is written;
- a git job recorded at a commit with a link out (before the policy) ends start_failed in set-up with one
  line, and the program never runs;
- a Docker build context sends links as links, never what they point at, and refuses a link out."""

from __future__ import annotations

import os
import tarfile

import pytest

from launcher import launch
from launcher.errors import LaunchError, SourceError
from launcher.logfile import STDOUT
from launcher.states import RunState
from tests.hardening.conftest import SECRET, commit, make_repo, plant_in_snapshot, store_old_git_job
from tests.waiting import wait_for

LOCAL_PROCESS = "local-process"
LOCAL_CONTAINER = "local-container"
EXPECTED_OUTPUT = ["alias kept through a link", "linked folder a,b", "leak present False"]


def _docker_problem() -> str | None:
    from launcher.containers.engine import Engine, EngineUnavailable, docker_host
    from launcher.runners.local_container import DEFAULT_BASE_IMAGE

    try:
        engine = Engine(docker_host())
        engine.ping(timeout=3)
    except EngineUnavailable as error:
        return str(error)
    if engine.image(DEFAULT_BASE_IMAGE) is None:
        return f"the base image {DEFAULT_BASE_IMAGE} is missing; build it with: bash scripts/docker-up"
    return None


@pytest.fixture(params=[LOCAL_PROCESS, pytest.param(LOCAL_CONTAINER, marks=pytest.mark.docker)])
def resource(request, monkeypatch) -> str:
    if request.param == LOCAL_CONTAINER:
        problem = _docker_problem()
        if problem is not None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"container tests need a Docker engine in CI: {problem}", pytrace=False)
            pytest.skip(problem)
        monkeypatch.delenv("LAUNCHER_BASE_IMAGE", raising=False)
    return request.param


@pytest.fixture
def built_images(api):
    """Removes the images the test's container runs built."""
    yield
    import docker

    client = docker.from_env()
    try:
        for record in api.runs():
            image = (record.handle or {}).get("image")
            if image and image.startswith("launcher/"):
                try:
                    client.images.remove(image)
                except docker.errors.APIError:
                    pass  # in use elsewhere, or gone
    finally:
        client.close()


def program_output(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == STDOUT]


def test_links_inside_reach_the_program_as_their_targets(api, resource, linked_source, built_images):
    job = api.create_job("code", str(linked_source), name="linked", entry_point=["python", "train.py"])
    run = launch(api, job=job.ref, resource=resource)
    assert program_output(run) == EXPECTED_OUTPUT


def test_a_link_out_planted_in_a_snapshot_stops_the_launch_in_one_line(api, resource, make_code_dir, host_secret,
                                                                        built_images):
    src = make_code_dir({"train.py": "print(open('leak').read())\n"})
    job = api.create_job("code", str(src), name="planted", entry_point=["python", "train.py"])
    plant_in_snapshot(api, job, "leak", host_secret)
    with pytest.raises(SourceError) as raised:
        launch(api, job=job.ref, resource=resource)
    assert "the link 'leak' points outside the source" in str(raised.value) and "\n" not in str(raised.value)
    assert api.runs() == []
    assert not api.workspace.runs_dir.exists() or not any(api.workspace.runs_dir.iterdir())


def test_a_git_commit_with_a_link_out_never_reaches_the_program(api, resource, tmp_path, host_secret, built_images):
    repo = make_repo(tmp_path, lambda work: (work / "train.py").write_text(
        "import os\nprint('the program ran', os.path.lexists('leak'))\n"))
    good = api.create_job("git", str(repo.bare), name="repo", entry_point=["python", "train.py"])
    old = store_old_git_job(api, good, commit(repo, lambda work: os.symlink(host_secret, work / "leak"), "bad"))
    run = launch(api, job=old.ref, resource=resource, synchronous=False)
    wait_for(lambda: run.record.done, timeout=120, what="the run to end")
    assert run.record.state is RunState.START_FAILED
    assert "the link 'leak' points outside the source" in run.record.message
    assert "\n" not in run.record.message
    assert program_output(run) == []
    assert SECRET.strip() not in run.get_logs()


def _build(root, generated: bool) -> dict:
    return {"context": str(root), "dockerfile": None if generated else "Dockerfile",
            "generated": "FROM scratch\n" if generated else None, "requirements": [],
            "requirements_file": "requirements.launcher.txt", "source_dir": "src", "source_key": None}


@pytest.mark.parametrize("generated", [True, False])
def test_build_context_sends_links_as_links_and_refuses_a_link_out(tmp_path, linked_source, host_secret, generated):
    from launcher.images.image import write_context

    (linked_source / "Dockerfile").write_text("FROM scratch\n")
    os.mkfifo(linked_source / "pipe")
    notes: list[str] = []
    write_context(_build(linked_source, generated), tmp_path / "context.tar", notes.append)
    prefix = "src/" if generated else ""
    with tarfile.open(tmp_path / "context.tar") as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert members[prefix + "alias.txt"].issym() and members[prefix + "alias.txt"].linkname == "notes.txt"
    assert members[prefix + "data"].issym() and members[prefix + "data"].linkname == "shared/data"
    assert prefix + "data/rows.csv" not in members  # reached only through the link: not sent twice
    assert prefix + "pipe" not in members and any("FIFO 'pipe'" in note for note in notes)

    os.symlink(host_secret, linked_source / "leak")
    with pytest.raises(LaunchError, match="the link 'leak' points outside the source"):
        write_context(_build(linked_source, generated), tmp_path / "context2.tar")
