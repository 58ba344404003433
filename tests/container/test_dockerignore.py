"""A .dockerignore at the root of a job's source shapes the build context on a real Docker engine: what
it excludes is absent from the running container, its `!` exceptions are present, and an edit to an
ignored file reuses the image (the tag covers only what is sent)."""

from __future__ import annotations

import uuid

from launcher import launch
from launcher.logfile import LAUNCHER

RESOURCE = "local-container"
BASE = "launcher-base:bookworm"
#: Prints every file under the working directory, one `file <path>` line each.
LISTING = (
    "import os\n"
    "for folder, _, names in os.walk('.'):\n"
    "    for name in names:\n"
    "        path = os.path.relpath(os.path.join(folder, name))\n"
    "        print('file', path, open(path).read().strip() if path.endswith('.txt') else '')\n"
)


def launcher_lines(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == LAUNCHER]


def files_in(run) -> dict[str, str]:
    found = {}
    for line in run.get_logs().splitlines():
        if line.startswith("file "):
            _, path, *content = line.split(" ", 2)
            found[path] = " ".join(content).strip()
    return found


def test_generated_image_leaves_out_ignored_files_and_reuses_the_image_when_only_they_change(api, make_code_dir):
    source = make_code_dir({
        # New each session, so the first launch really builds.
        "train.py": LISTING + f"# {uuid.uuid4().hex}\n",
        "secret.env": "TOKEN=1\n",
        "logs/keep.txt": "kept one\n",
        "logs/run.log": "noise\n",
        "cache/deep/x.tmp": "",
        ".dockerignore": "# not for the image\n*.env\n/logs\n!logs/keep.txt\n**/*.tmp\n",
    })
    job = api.create_job("code", str(source), name="ignoring", entry_point=["python", "train.py"])
    first = launch(api, job=job.ref, resource=RESOURCE)

    files = files_in(first)
    assert "train.py" in files
    assert files.get("logs/keep.txt") == "kept one"  # the `!` exception
    assert "secret.env" not in files and "logs/run.log" not in files and "cache/deep/x.tmp" not in files
    assert any(line.startswith("Step ") for line in launcher_lines(first))

    # An edit to an ignored file makes a new job version (a new snapshot) but sends the same context.
    (source / "secret.env").write_text("TOKEN=2\n")
    (source / "logs" / "run.log").write_text("more noise\n")
    edited = api.create_job("code", str(source), name="ignoring", entry_point=["python", "train.py"])
    assert edited.ref != job.ref
    again = launch(api, job=edited.ref, resource=RESOURCE)
    assert again.record.handle["image"] == first.record.handle["image"]
    assert any("no build needed" in line for line in launcher_lines(again))
    assert not [line for line in launcher_lines(again) if line.startswith("Step ")]

    # An edit to a file the exception brings back is sent, so it builds a new image.
    (source / "logs" / "keep.txt").write_text("kept two\n")
    changed = api.create_job("code", str(source), name="ignoring", entry_point=["python", "train.py"])
    third = launch(api, job=changed.ref, resource=RESOURCE)
    assert third.record.handle["image"] != first.record.handle["image"]
    assert files_in(third).get("logs/keep.txt") == "kept two"


def test_own_dockerfile_context_honours_dockerignore_and_still_sends_the_dockerfile(api, make_code_dir):
    source = make_code_dir({
        "Dockerfile": f"FROM {BASE}\nCOPY . /work\nWORKDIR /work\n",
        "run.py": LISTING + f"# {uuid.uuid4().hex}\n",
        "data/keep.txt": "small\n",
        "data/big.bin": "x" * 4096,
        # The Dockerfile and the .dockerignore match, yet the build needs the Dockerfile: Docker sends
        # both and the engine leaves the matched ones out of what COPY sees.
        ".dockerignore": "Dockerfile\n.dockerignore\ndata\n!data/keep.txt\n",
    })
    job = api.create_job("code", str(source), name="own-ignoring", entry_point=["python3", "run.py"])
    run = launch(api, job=job.ref, resource=RESOURCE)

    files = files_in(run)
    assert files.get("data/keep.txt") == "small"
    assert "run.py" in files
    assert "data/big.bin" not in files
    assert "Dockerfile" not in files and ".dockerignore" not in files
