"""MLflow projects run as they are, with their parameters: one that declares its dependencies only in
conda.yaml, one with python_env.yaml (both on local-process, in an environment built with uv), and one
with a docker_env (on local-container, by default, in its image). Issue 11 "Done when"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from launcher import launch
from launcher.errors import DependencyError
from launcher.states import RunState

TRAIN = ("import json, os, sys\nimport six, packaging\n"
         "print(json.dumps({'argv': sys.argv[1:], 'prefix': sys.prefix, 'six': six.__version__}))\n")
MLPROJECT = ("name: demo\n{env}\nentry_points:\n  main:\n    parameters:\n      alpha: {{type: float, default: 0.5}}\n"
             "      data: {{type: path, default: data.csv}}\n"
             "    command: |\n      python train.py \\\n        --alpha {{alpha}} \\\n        --data {{data}}\n")
CONDA = ("name: demo\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - six\n  - pip\n"
         "  - pip:\n    - packaging\n")
PYTHON_ENV = "python: \"3.11\"\nbuild_dependencies:\n  - pip\ndependencies:\n  - six\n  - packaging\n"


@pytest.mark.parametrize("env_file, content", [("conda.yaml", CONDA), ("python_env.yaml", PYTHON_ENV)])
def test_a_project_declaring_its_environment_runs_unchanged(api, make_code_dir, env_file, content):
    key = "conda_env" if env_file == "conda.yaml" else "python_env"
    src = make_code_dir({"MLproject": MLPROJECT.format(env=f"{key}: {env_file}"), env_file: content,
                         "train.py": TRAIN, "data.csv": "x\n1\n"})
    job = api.create_job("code", str(src), name="project")
    assert job.data["dependencies"]["file"] == env_file and "six" in job.data["dependencies"]["requirements"]
    run = launch(api, job="project", parameters={"alpha": "1e-1"})
    shown = json.loads(run.get_logs())
    # Rendered as mlflow run renders it: continuation lines joined, text as given, the path made absolute.
    assert shown["argv"] == ["--alpha", "1e-1", "--data", str(run.dir / "src" / "data.csv")]
    assert shown["prefix"].startswith(str(api.workspace.envs_dir))  # its own environment, built with uv
    assert any("preparing the environment" in line.text for line in run.log_lines() if line.stream == "launcher")


def test_the_cli_launches_a_project_with_its_parameters(api, home, make_code_dir):
    src = make_code_dir({"MLproject": MLPROJECT.format(env="conda_env: conda.yaml"), "conda.yaml": CONDA,
                         "train.py": TRAIN, "data.csv": "x\n"})
    api.create_job("code", str(src), name="project")
    result = subprocess.run([sys.executable, "-m", "launcher.cli.main", "launch", "-j", "project", "-c",
                             '{"parameters": {"alpha": 0.25}}'], capture_output=True, text=True,
                            env=dict(os.environ, LAUNCHER_HOME=str(home)), timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["argv"][:2] == ["--alpha", "0.25"]


def test_a_conda_only_package_is_one_line_before_anything_runs(api, make_code_dir):
    conda = "name: demo\ndependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - mkl\n"
    src = make_code_dir({"MLproject": MLPROJECT.format(env="conda_env: conda.yaml"), "conda.yaml": conda,
                         "train.py": TRAIN, "data.csv": "x\n"})
    api.create_job("code", str(src), name="conda-only")
    with pytest.raises(DependencyError) as refused:
        launch(api, job="conda-only")
    assert "\n" not in str(refused.value) and "cudatoolkit" in str(refused.value) and "mkl" in str(refused.value)
    assert api.runs() == []


@pytest.mark.docker
def test_a_docker_env_project_runs_in_its_image_on_local_container(api, make_code_dir):
    mlproject = ("name: boxed\ndocker_env:\n  image: launcher-base:bookworm\n  environment: [[\"GREETING\", \"hi\"]]\n"
                 "entry_points:\n  main:\n    parameters:\n      n: {type: int, default: 2}\n"
                 "    command: python3 show.py {n}\n")
    show = "import os, sys\nprint(os.environ['GREETING'], sys.argv[1:], os.path.exists('/.dockerenv'))\n"
    src = make_code_dir({"MLproject": mlproject, "show.py": show})
    api.create_job("code", str(src), name="boxed")
    run = launch(api, job="boxed", parameters={"n": 3})
    assert run.record.resource == "local-container"  # its default, as mlflow run runs it
    assert run.spec.resource_args["base_image"] == "launcher-base:bookworm"  # its source built on the image
    assert run.get_logs() == "hi ['3'] True\n"
    assert run.get_status().state is RunState.FINISHED
