"""Declared dependencies: python_env, conda_env, requirements.txt, pyproject.toml, in that order; a
directory and a git commit read the same way; bad files give one line naming the file and the problem."""

from __future__ import annotations

import pytest

from launcher.envs.declared import DeclaredDependencies, DependencySource
from launcher.errors import DependencyError, SourceError
from launcher.jobs.inspect import describe_source, read_from_dir
from tests.conftest import git

CONDA_YAML = """\
name: demo
channels: [conda-forge]
dependencies:
  - python=3.12
  - pip
  - numpy=1.26
  - conda-forge::pandas>=2.0
  - scikit-learn 1.4.*
  - pytorch
  - setuptools
  - pip:
    - six==1.17.0
    - -r extra/more.txt
    - --extra-index-url https://example.invalid/simple
"""


def facts(make_code_dir, files: dict[str, str]):
    return describe_source(read_from_dir(make_code_dir(files)))


def test_python_env_wins_over_every_other_place(make_code_dir):
    found = facts(make_code_dir, {
        "MLproject": "python_env: env/python_env.yaml\nentry_points:\n  main:\n    command: python t.py\n",
        "env/python_env.yaml": ('python: "3.11"\nbuild_dependencies:\n  - pip\n  - setuptools==70.0\n'
                                "dependencies:\n  - packaging>=23\n  - -r reqs.txt\n"),
        "env/reqs.txt": "six\n",
        "conda.yaml": CONDA_YAML, "requirements.txt": "rich\n",
        "pyproject.toml": "[project]\nname='x'\ndependencies=['click']\n"})
    dependencies = found.dependencies
    assert dependencies.source is DependencySource.PYTHON_ENV
    assert dependencies.file == "env/python_env.yaml"
    assert dependencies.python == "3.11"
    assert dependencies.build_requirements == ("pip", "setuptools==70.0")
    assert dependencies.requirements == ("packaging>=23", "six")  # -r relative to the python_env file
    assert dependencies.declares_environment


def test_conda_env_pip_list_conda_packages_and_python_pin(make_code_dir):
    found = facts(make_code_dir, {
        "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n    command: python t.py\n",
        "conda.yaml": CONDA_YAML, "extra/more.txt": "packaging\n", "requirements.txt": "rich\n"})
    dependencies = found.dependencies
    assert dependencies.source is DependencySource.CONDA_ENV and dependencies.file == "conda.yaml"
    assert dependencies.python == "3.12"
    # conda's `=1.26` is a prefix match; channels go; pytorch is torch on PyPI; pip itself is skipped
    assert dependencies.requirements == ("numpy==1.26.*", "pandas>=2.0", "scikit-learn==1.4.*", "torch",
                                         "six==1.17.0", "packaging")
    assert dependencies.build_requirements == ("setuptools",)
    assert dependencies.extra_index_urls == ("https://example.invalid/simple",)
    assert dependencies.conda_only == ()
    dependencies.check_installable()


def test_mlflow_default_environment_files_without_a_named_one(make_code_dir):
    found = facts(make_code_dir, {"MLproject": "entry_points:\n  main:\n    command: python t.py\n",
                                  "conda.yaml": "dependencies:\n  - python=3.10.4\n  - pip:\n    - six\n",
                                  "requirements.txt": "rich\n"})
    assert (found.dependencies.file, found.dependencies.python, found.dependencies.requirements) == (
        "conda.yaml", "3.10.4", ("six",))
    # Without an MLproject, conda.yaml is not a project file: requirements.txt is used.
    assert facts(make_code_dir, {"conda.yaml": CONDA_YAML, "requirements.txt": "rich\n"}).dependencies.requirements == (
        "rich",)


def test_requirements_txt_includes_and_index_urls(make_code_dir):
    dependencies = facts(make_code_dir, {
        "requirements.txt": ("--index-url https://mirror.invalid/simple\n"
                             "numpy>=1.0 --hash=sha256:abc  # arrays\n"
                             "-r deps/base.txt\n"
                             "requests[socks] ; python_version >= '3.8'\n"
                             "-e .\n"),
        "deps/base.txt": "--extra-index-url=https://extra.invalid/simple\n-rmore.txt\npandas \\\n  >=2\n",
        "deps/more.txt": "six\n"}).dependencies
    assert dependencies.source is DependencySource.REQUIREMENTS
    assert dependencies.requirements == ("numpy>=1.0", "six", "pandas   >=2", "requests[socks] ; python_version >= '3.8'")
    assert dependencies.index_url == "https://mirror.invalid/simple"
    assert dependencies.extra_index_urls == ("https://extra.invalid/simple",)
    assert any("'-e .' is not honoured" in note for note in dependencies.notes)


def test_pyproject_dependencies_last(make_code_dir):
    dependencies = facts(make_code_dir, {"pyproject.toml": "[project]\nname='x'\ndependencies=['click>=8']\n"}).dependencies
    assert (dependencies.source, dependencies.requirements) == (DependencySource.PYPROJECT, ("click>=8",))
    assert facts(make_code_dir, {"train.py": ""}).dependencies == DeclaredDependencies(DependencySource.NONE)


def test_docker_env_project_declares_nothing_and_its_image_is_parsed(make_code_dir):
    found = facts(make_code_dir, {
        "MLproject": ("docker_env:\n  image: python:3.11-slim\n  volumes: ['/data:/data:ro']\n"
                      "  environment: [['MODE', 'train'], 'HOME', ['N', 3]]\n"
                      "entry_points:\n  main:\n    command: python t.py\n"),
        "requirements.txt": "rich\n"})
    assert found.dependencies.source is DependencySource.DOCKER_ENV
    assert not found.dependencies.declares_environment
    docker = found.docker_env
    assert (docker.image, docker.volumes) == ("python:3.11-slim", ("/data:/data:ro",))
    assert docker.container_environment({"HOME": "/root"}) == {"MODE": "train", "HOME": "/root", "N": "3"}
    with pytest.raises(SourceError, match="copies environment variable 'HOME' from this machine, but it is not set"):
        docker.container_environment({})
    assert type(docker).from_data(docker.to_data()) == docker


def test_record_survives_the_job_store_round_trip(make_code_dir):
    dependencies = facts(make_code_dir, {"MLproject": "conda_env: conda.yaml\nentry_points: {}\n",
                                         "conda.yaml": CONDA_YAML, "extra/more.txt": "x\n"}).dependencies
    assert DeclaredDependencies.from_data(dependencies.to_data()) == dependencies
    assert "from conda.yaml; python 3.12" in dependencies.describe()


def test_conda_only_packages_are_named_in_one_line(make_code_dir):
    dependencies = facts(make_code_dir, {
        "MLproject": "conda_env: env.yaml\nentry_points: {}\n",
        "env.yaml": "dependencies:\n  - numpy\n  - cudatoolkit=11.8\n  - mkl\n  - r-ggplot2\n"}).dependencies
    assert dependencies.conda_only == ("cudatoolkit", "mkl", "r-ggplot2")
    assert dependencies.requirements == ("numpy",)
    with pytest.raises(DependencyError) as raised:
        dependencies.check_installable()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("env.yaml lists conda-only packages cudatoolkit, mkl, r-ggplot2, which cannot be "
                              "installed without conda")


@pytest.mark.parametrize(("files", "message"), [
    ({"MLproject": "python_env: python_env.yaml\nentry_points: {}\n", "python_env.yaml": "python: [3.11\n"},
     "python_env.yaml is not valid YAML: "),
    ({"MLproject": "python_env: python_env.yaml\nentry_points: {}\n", "python_env.yaml": "python: 3.10\n"},
     "python_env.yaml: python must be a version string such as \"3.10\""),
    ({"MLproject": "python_env: python_env.yaml\nentry_points: {}\n", "python_env.yaml": "pythn: '3.1'\n"},
     "python_env.yaml has unknown key 'pythn'"),
    ({"MLproject": "python_env: missing.yaml\nentry_points: {}\n"},
     "MLproject names python_env file 'missing.yaml', but the source has no such file"),
    ({"MLproject": "conda_env: conda.yaml\nentry_points: {}\n", "conda.yaml": "dependencies: [numpy\n"},
     "conda.yaml is not valid YAML: "),
    ({"MLproject": "conda_env: conda.yaml\nentry_points: {}\n", "conda.yaml": "- numpy\n"},
     "conda.yaml must be a conda environment mapping with 'dependencies', got list"),
    ({"MLproject": "conda_env: conda.yaml\nentry_points: {}\n", "conda.yaml": "dependencies: [{conda: [x]}]\n"},
     "conda.yaml dependency 1: {'conda': ['x']} is not a package"),
    ({"MLproject": "conda_env: ../conda.yaml\nentry_points: {}\n"},
     "MLproject: conda_env: '../conda.yaml' points outside the job's source"),
    ({"requirements.txt": "-r ../../etc/passwd\n"}, "requirements.txt line 1: '../../etc/passwd' points outside"),
    ({"requirements.txt": "six\n-r nope.txt\n"}, "requirements.txt line 2: the source has no file 'nope.txt'"),
    ({"requirements.txt": "-r requirements.txt\n"}, "-r requirements.txt includes itself"),
    ({"requirements.txt": "numpy=1.0\n"}, "requirements.txt line 1: 'numpy=1.0' is not a requirement"),
    ({"pyproject.toml": "[project\n"}, "pyproject.toml is not valid TOML"),
    ({"MLproject": "conda_env: c.yaml\npython_env: p.yaml\nentry_points: {}\n"}, "MLproject names python_env and conda_env"),
])
def test_unreadable_declarations_are_one_line_naming_the_file(make_code_dir, files, message):
    with pytest.raises(SourceError) as raised:
        facts(make_code_dir, files)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_git_commit_is_read_like_a_directory_and_jobs_record_conda_requirements(api, tmp_path):
    work = tmp_path / "mlflow-example"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "MLproject").write_text("name: ex\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: python train.py\n")
    (work / "conda.yaml").write_text("dependencies:\n  - python=3.11\n  - pip:\n    - six\n    - packaging\n")
    (work / "train.py").write_text("import six\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "example")
    job = api.create_job("git", str(work), name="ex")
    assert job.data["requirements"] == ["six", "packaging"]
    import git as gitpython

    tree = gitpython.Repo(work).commit(job.data["source"]["commit"]).tree

    def read_commit(path: str) -> str | None:
        try:
            return tree[path].data_stream.read().decode()
        except KeyError:
            return None

    assert describe_source(read_commit) == describe_source(read_from_dir(work))
    assert describe_source(read_commit).dependencies.requirements == ("six", "packaging")
