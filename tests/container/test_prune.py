"""`launcher images prune` on a real Docker engine: old launcher-built images go, the newest per job stay,
and so do images of active runs and images the user gave; --dry-run removes nothing; a bad --keep is a
one-line error.

Each test builds its own job repository (a unique job name) and prunes only it (--job): the engine is
shared, and other images on it are not these tests' to remove."""

from __future__ import annotations

import re
import uuid

import docker.errors
import pytest

from launcher import launch
from launcher.images.prune import prune_images
from tests.engine.test_bad_input import cli
from tests.waiting import wait_for

RESOURCE = "local-container"


def build_versions(api, make_code_dir, count: int = 2) -> tuple[str, list[str]]:
    """A job with a name of its own, launched in `count` versions (each a new image); its name and the
    image tags, oldest first."""
    name = f"prune-{uuid.uuid4().hex[:10]}"
    source = make_code_dir({"p.py": "print('version 0')\n"})
    tags = []
    for version in range(count):
        # Content never built before: a cached layer would be shared with images of other repositories.
        (source / "p.py").write_text(f"print('version {version}')  # {name}\n")
        job = api.create_job("code", str(source), name=name, entry_point=["python", "p.py"])
        run = launch(api, job=job.ref, resource=RESOURCE)
        assert run.get_logs() == f"version {version}\n"
        tags.append(run.record.handle["image"])
    assert len(set(tags)) == count and all(tag.startswith(f"launcher/{name}:") for tag in tags)
    return name, tags


def exists(docker_client, ref: str) -> bool:
    try:
        docker_client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def test_prune_keep_1_removes_the_older_image_and_keeps_the_newer(api, make_code_dir, docker_client, home):
    name, (old, new) = build_versions(api, make_code_dir)
    old_id = docker_client.images.get(old).id

    result = cli(home, "images", "prune", "--keep", "1", "--job", name)

    assert result.returncode == 0, result.stderr
    assert f"removed {old} ({old_id[7:19]}, " in result.stdout
    assert new not in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"removed 1 image tag; freed \d+(\.\d)? (B|kB|MB|GB) \(keeping 1 per job; launcher images "
                        r"of every workspace on this Docker engine\)", summary), summary
    assert not exists(docker_client, old) and not exists(docker_client, old_id)
    assert exists(docker_client, new)
    # The newest is also kept by the default (2), so nothing else goes.
    again = cli(home, "images", "prune", "--job", name)
    assert again.returncode == 0 and again.stdout.strip() == (
        "removed 0 image tags; freed 0 B (keeping 2 per job; launcher images of every workspace on this Docker engine)")
    assert exists(docker_client, new)


def test_image_of_an_active_run_is_kept(api, make_code_dir, docker_client):
    name = f"prune-{uuid.uuid4().hex[:10]}"
    source = make_code_dir({"p.py": f"import time\nprint('waiting', flush=True)\ntime.sleep(600)  # {name}\n"})
    job = api.create_job("code", str(source), name=name, entry_point=["python", "p.py"])
    waiting = launch(api, job=job.ref, resource=RESOURCE, synchronous=False)
    wait_for(lambda: "waiting" in waiting.get_logs(), timeout=120, what="the long run to start")
    busy = waiting.record.handle["image"]
    (source / "p.py").write_text(f"print('newer')  # {name}\n")
    newer = launch(api, job=api.create_job("code", str(source), name=name, entry_point=["python", "p.py"]).ref,
                   resource=RESOURCE)
    assert newer.get_logs() == "newer\n"

    report = prune_images(api.workspace, keep=1, job=name)

    assert report.removed == []
    assert [(kept.tag, kept.reason) for kept in report.kept] == [(busy, f"used by active run {waiting.id}")]
    assert exists(docker_client, busy) and exists(docker_client, newer.record.handle["image"])

    waiting.cancel(grace_period=0)
    # Once the run has ended its image is just an old one.
    report = prune_images(api.workspace, keep=1, job=name)
    assert [removal.tag for removal in report.removed] == [busy]
    assert not exists(docker_client, busy)


def test_image_the_user_gave_is_kept(api, make_code_dir, docker_client):
    name, (old, new) = build_versions(api, make_code_dir)
    given = launch(api, docker_image=old, entry_point=["python", "-c", "print('given')"], resource=RESOURCE)
    assert given.get_logs() == "given\n"

    report = prune_images(api.workspace, keep=1, job=name)

    assert report.removed == []
    assert [(kept.tag, kept.reason) for kept in report.kept] == [
        (old, "given by the user (docker_image or an image job)")]
    assert exists(docker_client, old) and exists(docker_client, new)


def test_dry_run_removes_nothing_and_predicts_the_real_prune(api, make_code_dir, docker_client, home):
    name, tags = build_versions(api, make_code_dir, count=3)

    dry = cli(home, "images", "prune", "--keep", "1", "--dry-run", "--job", name)

    assert dry.returncode == 0, dry.stderr
    assert all(exists(docker_client, tag) for tag in tags)
    assert [line.split()[2] for line in dry.stdout.splitlines() if line.startswith("would remove launcher/")] \
        == [tags[1], tags[0]]  # newest first among the removed
    predicted = prune_images(api.workspace, keep=1, job=name, dry_run=True)
    assert all(exists(docker_client, tag) for tag in tags)

    real = prune_images(api.workspace, keep=1, job=name)
    assert [r.tag for r in real.removed] == [r.tag for r in predicted.removed]
    assert real.freed == predicted.freed and real.freed > 0
    assert [exists(docker_client, tag) for tag in tags] == [False, False, True]


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", ""])
def test_bad_keep_is_a_one_line_error(home, value):
    result = cli(home, "images", "prune", f"--keep={value}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (f"launcher: error: keep must be a whole number of 1 or more (images kept per job); "
                             f"got {value!r}\n")


def test_bad_job_name_is_a_one_line_error(home):
    result = cli(home, "images", "prune", "--job", "Not A/Name")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "job 'Not A/Name' is not the name of a launcher image" in result.stderr
