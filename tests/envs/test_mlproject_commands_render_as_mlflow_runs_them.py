"""MLproject entry points render to the argv `mlflow run` would run, for each kind of mismatch issue 11
lists. The expected argv are written down (worked out from MLflow's EntryPoint.compute_command followed
by bash's parsing; MLflow itself is not called here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import ConfigError
from launcher.jobs.mlproject import parse_project, render_entry_point

MLPROJECT = """\
name: cases
entry_points:
  continued:
    parameters:
      lr: {type: float, default: 0.01}
      epochs: {type: int, default: 5}
    command: |
      python train.py \\
        --lr {lr} \\
        --epochs {epochs}
  paths:
    parameters:
      data: {type: path, default: data/train.csv}
      out: {type: string, default: model}
    command: "python train.py --data {data} --out={out}"
  numbers:
    parameters:
      lr: float
      decay: {type: float, default: 1e-3}
      momentum: {type: float, default: 0.90}
      steps: {type: int, default: 10}
    command: "python train.py {lr} {decay} {momentum} {steps}"
  defaults:
    parameters:
      devices: {type: int, default: auto}
      precision: {type: float, default: bf16-mixed}
    command: "python train.py --devices {devices} --precision {precision}"
  piped:
    parameters:
      path: {type: string, default: data/train.csv}
    command: "cat {path} | wc -l"
  redirected:
    parameters:
      n: {type: int, default: 3}
    command: "python gen.py {n} > out.txt && python check.py out.txt; echo done"
  single:
    parameters:
      lr: {type: float, default: 0.01}
    command: "python train.py --lr {lr}"
  braces:
    command: "python -c \\"print({{1: 2}})\\""
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a\nb\n")
    return tmp_path


ENTRY_POINTS = parse_project(MLPROJECT).entry_points


@pytest.mark.parametrize(("entry", "values", "expected"), [
    # 25 mismatches: a backslash-newline continuation joins the lines, as bash does
    ("continued", {}, ["python", "train.py", "--lr", "0.01", "--epochs", "5"]),
    # 13: a path parameter is made absolute inside the working directory ({workdir} filled in below)
    ("paths", {}, ["python", "train.py", "--data", "{workdir}/data/train.csv", "--out=model"]),
    ("paths", {"data": "./data/../data/train.csv"}, ["python", "train.py", "--data", "{workdir}/data/train.csv",
                                                     "--out=model"]),
    # 5: number text passes as given (the user's `1e-1`, the file's `1e-3`); a YAML float as Python writes it
    ("numbers", {"lr": "1e-1"}, ["python", "train.py", "1e-1", "1e-3", "0.9", "10"]),
    ("numbers", {"lr": 0.5, "steps": " 7 "}, ["python", "train.py", "0.5", "1e-3", "0.9", "7"]),
    # 4: the file's own defaults are taken as written, whatever their type says
    ("defaults", {}, ["python", "train.py", "--devices", "auto", "--precision", "bf16-mixed"]),
    # 4: shell operators run with bash -c, exactly the command mlflow run hands to bash
    ("piped", {}, ["bash", "-c", "cat data/train.csv | wc -l"]),
    ("redirected", {"extra": "1"}, ["bash", "-c", "python gen.py 3 > out.txt && python check.py out.txt; echo done "
                                                  "--extra 1"]),
    # undeclared parameters are appended as --name value
    ("single", {"extra": 1, "tag": "a b"}, ["python", "train.py", "--lr", "0.01", "--extra", "1", "--tag", "a b"]),
    # str.format's escaped braces
    ("braces", {}, ["python", "-c", "print({1: 2})"]),
])
def test_entry_points_render_to_mlflows_argv(workdir, entry, values, expected):
    rendered = render_entry_point(ENTRY_POINTS[entry], values, workdir)
    assert list(rendered.argv) == [word.replace("{workdir}", str(workdir)) for word in expected]
    assert rendered.shell == (expected[0] == "bash")


def test_undeclared_parameters_and_bash_are_noted_for_the_log(workdir):
    notes = render_entry_point(ENTRY_POINTS["redirected"], {"extra": "1"}, workdir).notes
    assert notes == ("entry point 'redirected' runs with bash -c: its command uses '>'",
                     "parameter 'extra' is not declared by entry point 'redirected'; passed on as --extra 1, "
                     "as mlflow run does")
    assert render_entry_point(ENTRY_POINTS["continued"], {}, workdir).notes == ()


def test_config_holds_typed_values_and_undeclared_ones_as_given(workdir):
    rendered = render_entry_point(ENTRY_POINTS["numbers"], {"lr": "1e-1", "other": "x"}, workdir)
    assert rendered.config == {"lr": 0.1, "decay": "1e-3", "momentum": 0.9, "steps": 10, "other": "x"}


def test_argv_commands_run_as_rendered(workdir):
    """The argv form runs without a shell and the program receives exactly the words above."""
    (workdir / "train.py").write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    rendered = render_entry_point(ENTRY_POINTS["numbers"], {"lr": "1e-1"}, workdir)
    argv = [sys.executable, *rendered.argv[1:]]
    output = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=True, timeout=30).stdout
    assert json.loads(output) == ["1e-1", "1e-3", "0.9", "10"]
    piped = render_entry_point(ENTRY_POINTS["piped"], {}, workdir).argv
    assert subprocess.run(piped, cwd=workdir, capture_output=True, text=True, timeout=30).stdout.strip() == "2"


@pytest.mark.parametrize(("entry", "values", "message"), [
    ("paths", {"data": "missing.csv"}, "parameter 'data' (path) is 'missing.csv', but {workdir}/missing.csv does not exist"),
    ("paths", {"data": "s3://bucket/train.csv"}, "parameter 'data' (path) is 's3://bucket/train.csv', a remote URI"),
    ("numbers", {}, "entry point 'numbers' needs a value for 'lr'"),
    ("numbers", {"lr": "fast"}, "config value lr='fast' does not match the schema: expected a number"),
    ("numbers", {"lr": "nan"}, "expected a finite number"),
    ("defaults", {"devices": "two"}, "config value devices='two' does not match the schema: expected an integer"),
    ("single", {"bad name": 1}, "undeclared parameter name 'bad name' cannot be passed on as an option"),
    ("single", {"extra": [1]}, "undeclared parameter extra=[1] cannot be passed on as an option"),
])
def test_values_mlflow_refuses_are_one_line_errors(workdir, entry, values, message):
    with pytest.raises(ConfigError) as raised:
        render_entry_point(ENTRY_POINTS[entry], values, workdir)
    assert message.replace("{workdir}", str(workdir)) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_path_is_checked_where_the_program_runs(workdir):
    """In a container the working directory is another path: the check is the caller's."""
    seen = []
    rendered = render_entry_point(ENTRY_POINTS["paths"], {"data": "file:///mnt/d.csv"}, "/app",
                                  exists=lambda path: seen.append(path) or True)
    assert rendered.argv[3] == "/mnt/d.csv" and seen == ["/mnt/d.csv"]
    rendered = render_entry_point(ENTRY_POINTS["paths"], {}, "/app", exists=lambda path: True)
    assert rendered.argv[3] == "/app/data/train.csv"
