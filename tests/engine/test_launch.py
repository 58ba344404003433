"""launch(): every parameter does what it says, config merging, the program's environment."""

from __future__ import annotations

import copy
import json

import pytest

from launcher import ExecutionError, launch
from launcher.errors import ConfigError
from launcher.states import RunState

ENV_DUMP = (
    "import json, os, sys\n"
    "keys = [k for k in os.environ if k.startswith(('LAUNCHER_', 'WANDB_', 'EXTRA'))]\n"
    "print(json.dumps({k: os.environ[k] for k in keys}))\n"
    "print(json.dumps({'file': json.load(open(os.environ['LAUNCHER_CONFIG_FILE'])), 'argv': sys.argv[1:],"
    " 'cwd_files': sorted(os.listdir('.'))}))\n"
)


@pytest.fixture
def env_job(api, make_code_dir):
    src = make_code_dir({"dump.py": ENV_DUMP})
    return api.create_job("code", str(src), entity="team", project="proj", name="dump", entry_point=["python", "dump.py"])


def outputs(run):
    lines = run.get_logs().splitlines()
    return json.loads(lines[0]), json.loads(lines[1])


def test_program_receives_run_facts_and_config(api, env_job):
    config = {"overrides": {"run_config": {"lr": 0.1, "layers": [1, 2]}, "args": ["--extra", "1"]},
              "project": "from-config", "name": "from-config"}
    original = copy.deepcopy(config)
    run = launch(api, job="team/proj/dump", config=config, name="explicit-name", run_id="run-abc",
                 entity="someone", resource_args={"local-process": {"env": {"EXTRA_VAR": "yes"}}})
    assert config == original  # the caller's dict is never mutated
    env, rest = outputs(run)
    assert env["LAUNCHER_RUN_ID"] == env["WANDB_RUN_ID"] == "run-abc"
    assert env["LAUNCHER_RUN_NAME"] == env["WANDB_NAME"] == "explicit-name"  # explicit wins over config
    assert env["LAUNCHER_PROJECT"] == env["WANDB_PROJECT"] == "from-config"
    assert env["LAUNCHER_ENTITY"] == env["WANDB_ENTITY"] == "someone"
    assert env["LAUNCHER_JOB"] == "team/proj/dump:v0"
    assert json.loads(env["LAUNCHER_CONFIG"]) == json.loads(env["WANDB_CONFIG"]) == {"lr": 0.1, "layers": [1, 2]}
    assert env["WANDB_LAUNCH"] == "True"
    assert env["EXTRA_VAR"] == "yes"
    assert rest["file"] == {"lr": 0.1, "layers": [1, 2]}
    assert rest["argv"] == ["--extra", "1"]
    assert rest["cwd_files"] == ["dump.py"]
    record = run.record
    assert (record.name, record.project, record.entity) == ("explicit-name", "from-config", "someone")


def test_parameters_shorthand_and_explicit_resource(api, env_job):
    run = launch(api, job="team/proj/dump", config={"parameters": {"a": 1}, "resource": "local-process"})
    assert outputs(run)[1]["file"] == {"a": 1}
    run = launch(api, job="team/proj/dump", parameters={"b": 2})
    assert outputs(run)[1]["file"] == {"b": 2}


def test_entry_point_replaces_the_jobs(api, make_code_dir):
    src = make_code_dir({"a.py": "print('A')", "b.py": "import sys; print('B', sys.argv[1:])"})
    api.create_job("code", str(src), name="ab", entry_point=["python", "a.py"])
    assert launch(api, job="ab").get_logs() == "A\n"
    assert launch(api, job="ab", entry_point=["python", "b.py", "x y"]).get_logs() == "B ['x y']\n"
    assert launch(api, job="ab", config={"overrides": {"entry_point": ["python", "b.py"]}}).get_logs() == "B []\n"


def test_failed_run_raises_execution_error_with_exit_code_and_tail(api, make_code_dir):
    src = make_code_dir({"crash.py": "import sys\nprint('about to fail')\nsys.exit(3)\n"})
    api.create_job("code", str(src), name="crash", entry_point=["python", "crash.py"])
    with pytest.raises(ExecutionError) as caught:
        launch(api, job="crash")
    assert caught.value.exit_code == 3
    assert caught.value.state == RunState.FAILED
    assert "about to fail" in caught.value.tail[-1]
    assert "exit code 3" in str(caught.value)
    run = api.run(caught.value.run_id)
    assert run.get_status() == run.get_status().__class__(RunState.FAILED, "exit code 3", 3)
    assert [event.state for event in run.events()] == [RunState.STARTING, RunState.RUNNING, RunState.FAILED]


def test_asynchronous_launch_returns_at_once(api, make_code_dir):
    src = make_code_dir({"slow.py": "import sys\nprint('started', flush=True)\nsys.stdin = None\nimport time\n"
                                    "time.sleep(30)\n"})
    api.create_job("code", str(src), name="slow", entry_point=["python", "slow.py"])
    run = launch(api, job="slow", synchronous=False)
    assert run.get_status().state in (RunState.STARTING, RunState.RUNNING)
    status = run.cancel(grace_period=1)
    assert status.state == RunState.STOPPED


def test_run_record_survives_in_a_new_api(api, make_code_dir, home):
    from launcher import Api

    src = make_code_dir({"p.py": "print('persisted')"})
    api.create_job("code", str(src), name="p", entry_point=["python", "p.py"])
    run = launch(api, job="p")
    other = Api(home)
    again = other.run(run.id)
    assert again.get_status().state == RunState.FINISHED
    assert again.get_logs() == "persisted\n"
    other.close()


def test_mlproject_entry_point_rendered_as_argv(api, make_code_dir):
    src = make_code_dir({
        "MLproject": ("entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
                      "      label: string\n    command: python train.py --alpha={alpha} {label}\n"
                      "  evaluate:\n    parameters:\n      n: {type: int, default: 2}\n"
                      "    command: python train.py eval {n}\n"),
        "train.py": "import sys, json, os\nprint(json.dumps(sys.argv[1:]))\nprint(os.environ['LAUNCHER_CONFIG'])\n",
    })
    api.create_job("code", str(src), name="ml")
    # A value with shell syntax stays one harmless argument: no shell is involved.
    run = launch(api, job="ml", config={"overrides": {"run_config": {"label": "x; touch pwned $(id)"}}})
    argv_line, config_line = run.get_logs().splitlines()
    assert json.loads(argv_line) == ["--alpha=0.5", "x; touch pwned $(id)"]
    assert json.loads(config_line) == {"alpha": 0.5, "label": "x; touch pwned $(id)"}
    assert not (run.dir / "src" / "pwned").exists()
    run = launch(api, job="ml", entry_point="evaluate", parameters={"n": 7})
    assert json.loads(run.get_logs().splitlines()[0]) == ["eval", "7"]


@pytest.mark.parametrize("run_config, message", [
    ({"label": ["a"]}, "label=\\['a'\\] does not match the schema: expected a string"),
    ({"label": "x", "alpha": True}, "alpha=True does not match the schema: expected a number"),
    ({"label": "x", "alpha": "high"}, "alpha='high' does not match the schema: expected a number"),
    ({}, "entry point 'main' needs a value for 'label' \\(no default in the MLproject\\)"),
])
def test_schema_violations_stop_before_anything_starts(api, make_code_dir, run_config, message):
    src = make_code_dir({"MLproject": ("entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
                                       "      label: string\n    command: python train.py {label}\n"),
                         "train.py": ""})
    api.create_job("code", str(src), name="ml")
    with pytest.raises(ConfigError, match=message):
        launch(api, job="ml", config={"overrides": {"run_config": run_config}})
    assert api.runs() == []


def test_config_text_is_checked_and_passed_as_given_as_mlflow_does(api, make_code_dir):
    src = make_code_dir({
        "MLproject": ("entry_points:\n  main:\n    parameters:\n      alpha: float\n      n: int\n"
                      "      flag: bool\n      label: string\n      data: uri\n"
                      "    command: python show.py {alpha} {n} {flag} {label} {data}\n"),
        "show.py": "import sys, os\nprint(sys.argv[1:])\nprint(os.environ['LAUNCHER_CONFIG'])\n",
    })
    api.create_job("code", str(src), name="typed")
    run = launch(api, job="typed", config={"overrides": {"run_config": {
        "alpha": " 0.25", "n": "7", "flag": "yes", "label": 5, "data": "s3://bucket/key"}}})
    argv_line, config_line = run.get_logs().splitlines()
    assert argv_line == "['0.25', '7', 'yes', '5', 's3://bucket/key']"  # the text given, once checked
    assert json.loads(config_line) == {"alpha": 0.25, "n": 7, "flag": True, "label": "5", "data": "s3://bucket/key"}


@pytest.mark.parametrize("value", ["", "s3://my bucket/key", "file:", "data\nset"])
def test_uri_parameters_reject_what_is_not_a_uri_or_path(api, make_code_dir, value):
    src = make_code_dir({"MLproject": "entry_points:\n  main:\n    parameters:\n      data: uri\n    command: python x.py {data}\n",
                         "x.py": ""})
    api.create_job("code", str(src), name="urijob")
    with pytest.raises(ConfigError, match="expected a URI or a path, without spaces"):
        launch(api, job="urijob", config={"overrides": {"run_config": {"data": value}}})
    assert api.runs() == []


def test_git_job_runs_at_requested_version(api, git_repo):
    api.create_job("git", str(git_repo.bare), name="gitjob", entry_point=["python", "train.py"])
    run = launch(api, job="gitjob", parameters={"k": 1})
    assert run.get_logs().startswith("version two {\"k\": 1}")
    assert run.spec.source["commit"] == git_repo.second
    run = launch(api, job="gitjob", version="v1")
    assert run.get_logs().startswith("version one")
    assert run.spec.source["commit"] == git_repo.first
    run = launch(api, job="gitjob", version="feature")
    assert run.get_logs() == "feature branch\n"
    run = launch(api, job="gitjob", version=git_repo.first[:10])
    assert run.spec.source["commit"] == git_repo.first


def test_a_git_job_version_runs_its_recorded_commit_after_its_branch_moved(api, git_repo):
    from tests.conftest import git

    v0 = api.create_job("git", f"file://{git_repo.bare}", name="moving", entry_point=["python", "train.py"])
    (git_repo.work / "train.py").write_text("print('version three')\n")
    git(git_repo.work, "commit", "-q", "-am", "three")
    git(git_repo.work, "push", "-q", str(git_repo.bare), "main")
    pinned = launch(api, job="moving:v0")
    assert pinned.get_logs().startswith("version two") and pinned.spec.source["commit"] == v0.data["source"]["commit"]
    assert launch(api, job="moving").get_logs().startswith("version two")  # latest is still v0
    fresh = launch(api, job="moving", version="main")  # a branch named at launch is resolved anew
    assert fresh.get_logs() == "version three\n" and fresh.spec.source["commit"] != v0.data["source"]["commit"]
    v1 = api.create_job("git", f"file://{git_repo.bare}", name="moving", entry_point=["python", "train.py"])
    assert v1.version == 1 and launch(api, job="moving").get_logs() == "version three\n"


def test_launch_without_job_runs_entry_point_in_empty_dir(api):
    import sys

    run = launch(api, entry_point=[sys.executable, "-c", "import os; print(os.listdir('.'))"])
    assert run.get_logs() == "[]\n"


def test_a_launch_error_names_the_run_only_when_one_was_recorded(api, monkeypatch, tmp_path):
    from launcher.errors import LaunchError

    with pytest.raises(LaunchError) as bad_input:
        launch(api, job="no-such-job")
    assert bad_input.value.run_id is None and api.runs() == []
    # No Docker engine at DOCKER_HOST: the run is recorded, then its resource cannot start it.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    with pytest.raises(LaunchError) as refused:
        launch(api, docker_image="some-image:1", entry_point=["true"])
    [record] = api.runs()
    assert refused.value.run_id == record.id and record.state == "start_failed"
