"""Jobs: versions, aliases, code snapshots, git sources, MLproject files."""

from __future__ import annotations

import pytest

from launcher.errors import JobError, SourceError


def test_code_job_versions_and_aliases(api, make_code_dir):
    src = make_code_dir({"train.py": "print(1)\n"})
    v0 = api.create_job("code", str(src), entity="team", project="vision", name="train",
                        entry_point=["python", "train.py"])
    assert v0.ref == "team/vision/train:v0"
    assert "latest" in v0.aliases
    # Unchanged source: no new version.
    assert api.create_job("code", str(src), entity="team", project="vision", name="train",
                          entry_point=["python", "train.py"]).version == 0
    (src / "train.py").write_text("print(2)\n")
    v1 = api.create_job("code", str(src), entity="team", project="vision", name="train",
                        entry_point=["python", "train.py"])
    assert v1.version == 1
    assert api.job("team/vision/train:latest").version == 1
    assert api.job("team/vision/train:v0").version == 0
    api.alias_job("team/vision/train:v0", "stable")
    assert api.job("team/vision/train:stable").version == 0
    assert "stable" in api.job("team/vision/train:v0").aliases
    with pytest.raises(JobError, match="reserved"):
        api.alias_job("team/vision/train:v0", "latest")
    with pytest.raises(JobError, match="no alias 'nope'"):
        api.job("team/vision/train:nope")
    with pytest.raises(JobError, match="no version v7"):
        api.job("team/vision/train:v7")


def test_snapshot_honours_gitignore_and_skips_git(api, make_code_dir):
    src = make_code_dir({
        "train.py": "print(1)\n",
        ".gitignore": "*.ckpt\ndata/\n",
        "model.ckpt": "big",
        "data/set.csv": "1,2",
        "sub/.gitignore": "local.txt\n",
        "sub/local.txt": "x",
        "sub/kept.txt": "y",
        ".git/config": "[core]",
    })
    job = api.create_job("code", str(src), entry_point=["python", "train.py"])
    snapshot = api.workspace.snapshots_dir / job.data["source"]["snapshot"]
    files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    assert files == [".gitignore", "sub/.gitignore", "sub/kept.txt", "train.py"]
    # An ignored file changing does not make a new version.
    (src / "model.ckpt").write_text("bigger")
    assert api.create_job("code", str(src), entry_point=["python", "train.py"]).version == job.version


def test_requirements_are_recorded(api, make_code_dir):
    src = make_code_dir({"train.py": "", "requirements.txt": "numpy>=1.0  # arrays\n# comment\n-r other.txt\nrich\n",
                         "other.txt": "six\n"})
    job = api.create_job("code", str(src), entry_point=["python", "train.py"])
    assert job.data["requirements"] == ["numpy>=1.0", "six", "rich"]
    src2 = make_code_dir({"train.py": "", "pyproject.toml": "[project]\nname='x'\ndependencies=['pyyaml']\n"})
    assert api.create_job("code", str(src2), entry_point=["python", "train.py"]).data["requirements"] == ["pyyaml"]


def test_entry_point_must_exist_in_source(api, make_code_dir):
    src = make_code_dir({"train.py": ""})
    with pytest.raises(SourceError, match="'missing.py' does not exist"):
        api.create_job("code", str(src), entry_point=["python", "missing.py"])
    assert api.list_jobs() == []


def test_mlproject_entry_points_and_schema(api, make_code_dir):
    src = make_code_dir({
        "MLproject": (
            "name: demo\nentry_points:\n"
            "  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n      n: int\n"
            "      flag: {type: bool, default: false}\n      where: path\n      src: uri\n      label: string\n"
            "    command: python train.py --alpha {alpha} -n {n} {label}\n"
            "  other:\n    command: python other.py\n"),
        "train.py": "", "other.py": "",
    })
    job = api.create_job("code", str(src))
    assert set(job.entry_points) == {"main", "other"}
    assert job.schema == {"alpha": {"type": "float", "default": 0.5}, "n": {"type": "int"},
                          "flag": {"type": "bool", "default": False}, "where": {"type": "path"},
                          "src": {"type": "uri"}, "label": {"type": "string"}}


def test_git_job_default_branch_and_ref(api, git_repo):
    job = api.create_job("git", str(git_repo.bare), entry_point=["python", "train.py"])
    assert job.kind == "git"
    assert job.data["source"]["ref"] == "main"
    assert job.data["source"]["commit"] == git_repo.second
    assert job.name == "repo"
    tagged = api.create_job("git", f"file://{git_repo.bare}", name="pinned", ref="v1", entry_point=["python", "train.py"])
    assert tagged.data["source"]["commit"] == git_repo.first


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/pwned", "ext::sh -c touch% /tmp/pwned", "-oProxyCommand=x",
                                 "fd::17", "gopher://example.invalid/repo", "ssh://-oProxyCommand=touch%20x/repo",
                                 "git@-oProxyCommand=x:repo.git"])
def test_git_urls_that_could_pass_options_are_refused(api, url):
    with pytest.raises(SourceError, match="refused|unsupported scheme"):
        api.create_job("git", url, entry_point=["python", "train.py"])
    assert not (api.home / "git-cache").exists() or not any((api.home / "git-cache").glob("*.git"))


def test_git_errors(api, git_repo, tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        api.create_job("git", str(tmp_path / "nope.git"), entry_point=["python", "train.py"])
    with pytest.raises(SourceError, match="cannot be fetched: fatal: '/nonexistent/repo.git' does not appear"):
        api.create_job("git", "file:///nonexistent/repo.git", entry_point=["python", "train.py"])
    assert [p.name for p in (api.home / "git-cache").iterdir()] == [".lock"]  # nothing for the bad URL
    with pytest.raises(SourceError, match="'no-such-branch' is not a branch, tag or commit"):
        api.create_job("git", str(git_repo.bare), ref="no-such-branch", entry_point=["python", "train.py"])
    with pytest.raises(SourceError, match="may not start with '-'"):
        api.create_job("git", str(git_repo.bare), ref="--output=/tmp/x", entry_point=["python", "train.py"])
    assert api.list_jobs() == []


def test_image_job(api):
    job = api.create_job("image", "launcher-base:bookworm", entry_point=["python3", "-c", "print(1)"])
    assert job.kind == "image" and job.name == "launcher-base"
    with pytest.raises(SourceError, match="not a valid image name"):
        api.create_job("image", "Bad Image!")


@pytest.mark.parametrize("ref", ["a/b/c/d", "bad name", "x:y:z", "", "/x"])
def test_malformed_job_references(api, ref):
    with pytest.raises(JobError, match="malformed"):
        api.job(ref)


def test_a_workspace_inside_the_source_is_not_snapshotted(make_code_dir):
    from launcher import Api

    src = make_code_dir({"train.py": "print(1)\n"})
    api = Api(src / "home")
    job = api.create_job("code", str(src), entry_point=["python", "train.py"])
    snapshot = api.workspace.snapshots_dir / job.data["source"]["snapshot"]
    assert sorted(p.name for p in snapshot.iterdir()) == ["train.py"]
    api.close()
