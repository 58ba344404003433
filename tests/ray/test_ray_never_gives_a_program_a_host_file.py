"""Issue 10, finding 1, on a real Ray cluster: a link to a host file never reaches a Ray job's program.
(Here, beside the session's cluster, rather than in tests/hardening: a second session-scoped cluster there
would double the Ray suite's start-up. The staging itself is checked against Ray's own packager in
tests/hardening/test_ray_package_never_reads_through_a_link.py.)

- links inside the source reach the program as copies of their targets (Ray's packager reads through
  links, so the staged working dir holds none);
- a link out put into a job's snapshot in the workspace stops the launch in one line, before anything is
  written or submitted;
- a git job recorded at a commit with a link out ends start_failed during set-up, never submitted."""

from __future__ import annotations

import os
import urllib.error

import pytest

from launcher import launch
from launcher.errors import SourceError
from launcher.logfile import STDOUT
from launcher.states import RunState
from tests.hardening.conftest import (
    SECRET,
    commit,
    make_repo,
    plant_in_snapshot,
    store_old_git_job,
    write_linked_source,
)
from tests.ray.cluster import job_status
from tests.waiting import wait_for

pytestmark = pytest.mark.ray

EXPECTED_OUTPUT = ["alias kept through a link", "linked folder a,b", "leak present False"]


@pytest.fixture
def host_secret(tmp_path):
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


def on_cluster(cluster, job_id: str) -> bool:
    try:
        job_status(cluster, job_id)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return True


def program_output(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == STDOUT]


def test_links_inside_arrive_as_copies_and_a_link_out_never_reaches_the_cluster(ray_api, ray_cluster, tmp_path,
                                                                                 host_secret):
    linked = write_linked_source(tmp_path / "linked")
    job = ray_api.create_job("code", str(linked), name="linked", entry_point=["python", "train.py"])
    run = launch(ray_api, job=job.ref, resource="ray", run_id="ray-links-ok")
    assert program_output(run) == EXPECTED_OUTPUT

    plant_in_snapshot(ray_api, job, "leak", host_secret)
    with pytest.raises(SourceError, match="the link 'leak' points outside the source"):
        launch(ray_api, job=job.ref, resource="ray", run_id="ray-links-planted")
    assert [r.id for r in ray_api.runs()] == ["ray-links-ok"]
    assert on_cluster(ray_cluster, "ray-links-ok") and not on_cluster(ray_cluster, "ray-links-planted")


def test_a_git_commit_with_a_link_out_ends_start_failed_and_is_never_submitted(ray_api, ray_cluster, tmp_path,
                                                                               host_secret):
    repo = make_repo(tmp_path, lambda work: (work / "train.py").write_text("print('the program ran')\n"))
    good = ray_api.create_job("git", str(repo.bare), name="repo", entry_point=["python", "train.py"])
    old = store_old_git_job(ray_api, good, commit(repo, lambda work: os.symlink(host_secret, work / "leak"), "bad"))
    run = launch(ray_api, job=old.ref, resource="ray", run_id="ray-links-git", synchronous=False)
    wait_for(lambda: run.record.done, timeout=120, what="the run to end")
    assert run.record.state is RunState.START_FAILED
    assert "the link 'leak' points outside the source" in run.record.message and "\n" not in run.record.message
    assert program_output(run) == [] and SECRET.strip() not in run.get_logs()
    assert not on_cluster(ray_cluster, "ray-links-git")
