"""Bad input: a one-line error naming the value and what is expected, and nothing written to the
workspace (through the API and through the CLI, which must never show a traceback)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from launcher import Api, LaunchError, launch


def workspace_fingerprint(api) -> tuple:
    """Everything stored: every table's rows, and the run folders."""
    tables = [r["name"] for r in api.workspace.store.query("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    rows = tuple((t, tuple(tuple(r) for r in api.workspace.store.query(f"SELECT * FROM {t}"))) for t in tables)
    runs = sorted(os.listdir(api.workspace.runs_dir)) if api.workspace.runs_dir.exists() else []
    return hashlib.sha256(repr(rows).encode()).hexdigest(), runs


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """One workspace for the module: every case asserts that it wrote nothing, so they can share it (made
    once: a git repository, two jobs and a run)."""
    from tests.conftest import make_git_repo

    root = tmp_path_factory.mktemp("bad-input")
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)")
    (src / "MLproject").write_text("entry_points:\n  main:\n    parameters:\n      lr: {type: float, default: 0.1}\n"
                                   "    command: python train.py {lr}\n")
    api = Api(root / "workspace")
    api.create_job("code", str(src), name="code")
    api.create_job("git", str(make_git_repo(root).bare), name="gitjob", entry_point=["python", "train.py"])
    launch(api, job="code", run_id="taken")
    yield api
    api.close()


CASES = [
    (dict(job="a/b/c/d"), "job reference 'a/b/c/d' is malformed"),
    (dict(job="nobody"), "job '.*/default/nobody' does not exist"),
    (dict(job="code:nope"), "has no alias 'nope'"),
    (dict(job="code:v9"), "has no version v9"),
    (dict(job="gitjob", version="no-such-ref"), "git ref 'no-such-ref' is not a branch, tag or commit"),
    (dict(job="gitjob", version="--upload-pack=touch /tmp/x"), "may not start with '-'"),
    (dict(job="code", version="main"), "version 'main' applies to git jobs only"),
    (dict(job="code", config={"overrides": {"run_config": {"lr": "fast"}}}), "lr='fast' does not match the schema"),
    (dict(job="code", config={"overides": {}}), "unknown config key 'overides'"),
    (dict(job="code", resource="gpu-cluster"), "unknown resource 'gpu-cluster'; expected one of: local-process"),
    (dict(job="code", resource="local-process", docker_image="python:3.11"), "docker_image 'python:3.11' needs a container resource"),
    (dict(job="code", entry_point=["python", "missing.py"]), "entry point file 'missing.py' does not exist"),
    (dict(job="code", entry_point="nosuchentry"), "entry point 'nosuchentry' is not one of the MLproject's entry points"),
    (dict(job="code", run_id="taken"), "run_id 'taken' is already used"),
    (dict(job="code", run_id="bad id!"), "run_id 'bad id!' is not valid"),
    (dict(job="code", resource_args={"local-process": {"gpus": 1}}), "unknown resource_args key 'gpus' for local-process"),
    (dict(job="code", resource_args={"local-process": {"gpus": 1, "cpus": 2}}),
     "unknown resource_args keys 'cpus', 'gpus' for local-process"),
    (dict(job="code", resource_args={"local-process": {"env_manager": "conda"}}), "env_manager 'conda' is not valid"),
    (dict(job="code", entry_point="python train.py"), "must be an argv list"),
]


@pytest.mark.parametrize("kwargs, message", CASES, ids=[c[1][:40] for c in CASES])
def test_api_rejects_bad_input_and_writes_nothing(jobs, kwargs, message):
    api = jobs
    before = workspace_fingerprint(api)
    with pytest.raises(LaunchError, match=message) as caught:
        launch(api, **kwargs)
    assert "\n" not in str(caught.value)
    assert workspace_fingerprint(api) == before


def cli(home, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launcher.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, LAUNCHER_HOME=str(home)), input=input_text, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["launch", "-j", "code", "-c", "{not json"], "config '{not json' is not valid JSON or TOML"),
    (["launch", "-j", "code", "-c", "[1, 2]"], "must be a mapping"),
    (["launch", "-j", "a/b/c/d"], "is malformed"),
    (["launch", "-j", "code", "-r", "nowhere"], "unknown resource 'nowhere'"),
    (["launch", "-j", "code", "-R", "{bad"], "--resource-args '{bad' is not valid JSON"),
    (["job", "create", "git", "--", "--upload-pack=x"], "refused"),
    (["job", "create", "code", "/definitely/not/here", "-e", "python x.py"], "is not a directory"),
    (["logs", "zzzz-no-run"], "run 'zzzz-no-run' does not exist"),
])
def test_cli_reports_bad_input_in_one_line(jobs, args, message):
    before = workspace_fingerprint(jobs)
    result = cli(jobs.home, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert workspace_fingerprint(jobs) == before


def test_cli_config_file_errors_name_the_file(jobs, tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("overrides = [\n")
    result = cli(jobs.home, "launch", "-j", "code", "-c", str(bad))
    assert result.returncode == 2 and f"config file '{bad}' is not valid TOML" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["launch", "-j", "code", "-e", 'python train.py "x'], "--entry-point 'python train.py \"x' cannot be split"),
    (["job", "create", "code", ".", "-e", 'python "x'], "cannot be split into words: No closing quotation"),
    (["launch", "-j", "code", "-c", "missing.toml"], "config file 'missing.toml' does not exist"),
    (["launch", "-j", "code", "-c", '{"overrides": []}'], "config 'overrides' must be a mapping, got []"),
    (["launch", "-j", "code", "-e", "no-such-program-anywhere --flag"], "program 'no-such-program-anywhere' of the entry point is not found on PATH"),
])
def test_cli_more_bad_input(jobs, args, message):
    before = workspace_fingerprint(jobs)
    result = cli(jobs.home, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert workspace_fingerprint(jobs) == before


def test_config_that_is_not_a_mapping_is_refused(jobs):
    with pytest.raises(LaunchError, match=r"config must be a mapping of launch settings, got list \[1\]"):
        launch(jobs, job="code", config=[1])


def test_a_locked_database_is_a_one_line_error(home):
    import sqlite3

    from launcher.errors import StoreError
    from launcher.store import Store

    Api(home).close()
    holder = sqlite3.connect(home / "launcher.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = Store(home / "launcher.db", timeout=0.2)
        with pytest.raises(StoreError, match="stayed locked by another process for 0.2s"):
            store.insert_run(run_id="r1", name="r1", project="p", entity="e", job="-", resource="local-process",
                                 spec={})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
