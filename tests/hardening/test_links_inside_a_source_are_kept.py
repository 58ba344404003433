"""Issue 10, finding 10 and "One source policy": a link that stays inside the source is kept as a link,
in the job's snapshot and in each run's copy, for code and git sources alike; a linked folder is no longer
silently missing from the snapshot."""

from __future__ import annotations

import os

from launcher import launch
from tests.hardening.conftest import make_repo, write_linked_source

EXPECTED_OUTPUT = ["alias kept through a link", "linked folder a,b", "leak present False"]


def program_lines(run) -> list[str]:
    return run.get_logs().splitlines()


def test_code_snapshot_keeps_file_and_folder_links_as_links(api, linked_source):
    job = api.create_job("code", str(linked_source), entry_point=["python", "train.py"])
    snapshot = api.workspace.snapshots_dir / job.data["source"]["snapshot"]
    assert os.readlink(snapshot / "alias.txt") == "notes.txt"
    assert os.readlink(snapshot / "data") == "shared/data"  # a linked folder: there, as a link
    assert os.readlink(snapshot / "alias2.txt") == "alias.txt"
    assert (snapshot / "data" / "rows.csv").read_text() == "a,b\n"


def test_a_run_gets_the_links_and_reads_through_them(api, linked_source):
    job = api.create_job("code", str(linked_source), entry_point=["python", "train.py"])
    run = launch(api, job=job.ref)
    assert program_lines(run) == EXPECTED_OUTPUT
    source = api.workspace.run_dir(run.id) / "src"
    assert os.readlink(source / "data") == "shared/data" and os.readlink(source / "alias.txt") == "notes.txt"


def test_changing_where_a_link_points_makes_a_new_version(api, linked_source):
    first = api.create_job("code", str(linked_source), name="linked", entry_point=["python", "train.py"])
    (linked_source / "other").mkdir()
    (linked_source / "other" / "rows.csv").write_text("c,d\n")
    (linked_source / "data").unlink()
    os.symlink("other", linked_source / "data")
    second = api.create_job("code", str(linked_source), name="linked", entry_point=["python", "train.py"])
    assert second.version == first.version + 1


def test_a_dangling_link_inside_is_kept(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    os.symlink("outputs/latest.ckpt", src / "latest")  # made by the program later: still inside
    job = api.create_job("code", str(src), entry_point=["python", "train.py"])
    snapshot = api.workspace.snapshots_dir / job.data["source"]["snapshot"]
    assert os.readlink(snapshot / "latest") == "outputs/latest.ckpt"


def test_git_checkout_keeps_links_inside(api, tmp_path):
    repo = make_repo(tmp_path, write_linked_source)
    job = api.create_job("git", str(repo.bare), entry_point=["python", "train.py"])
    run = launch(api, job=job.ref)
    assert program_lines(run) == EXPECTED_OUTPUT
    source = api.workspace.run_dir(run.id) / "src"
    assert os.readlink(source / "data") == "shared/data" and os.readlink(source / "alias2.txt") == "alias.txt"
