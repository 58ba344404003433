"""Issue 10, "numbers are checked where they enter", for sweep files: min, max and values are finite numbers,
run_cap a whole number from 1 to MAX_TRIALS, seed a whole number from 0 to 2**63 - 1. Each bad value is one
error line naming it, and nothing is stored (one workspace for the module: each case must leave it empty)."""

from __future__ import annotations

import os
import subprocess

import pytest

from launcher import Api
from launcher.sweeps import MAX_TRIALS, SweepError, parse_sweep
from tests.queue.conftest import cli_argv, one_line_error

UNIFORM = '[parameters]\nlr = {{ distribution = "uniform", min = {low}, max = {high} }}'

BAD_NUMBERS = [
    ('method = "random"\nrun_cap = 2\n' + UNIFORM.format(low="nan", high=1), "parameter 'lr': min must be a finite number, got nan"),
    ('method = "random"\nrun_cap = 2\n' + UNIFORM.format(low=0, high="inf"), "parameter 'lr': max must be a finite number, got inf"),
    ('method = "random"\nrun_cap = 2\n' + UNIFORM.format(low="-inf", high=0), "min must be a finite number, got -inf"),
    ('method = "random"\nrun_cap = 2\n' + UNIFORM.format(low=-1e308, high=1e308),
     "parameter 'lr': the range from min -1e+308 to max 1e+308 is too wide"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nlr = { distribution = "log_uniform", min = 1e-3, max = inf }',
     "parameter 'lr': max must be a finite number, got inf"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nn = { distribution = "int_uniform", min = 1, max = 2.5 }',
     "parameter 'n': int_uniform max must be a whole number, got 2.5"),
    ('[parameters]\nlr = [0.1, nan]', "parameter 'lr': value nan is not a finite number"),
    ('[parameters]\nlr = { values = [inf] }', "parameter 'lr': value inf is not a finite number"),
    ('[parameters]\nlr = { value = -inf }', "parameter 'lr': value -inf is not a finite number"),
    ('[parameters]\nlr = nan', "parameter 'lr': value nan is not a finite number"),
    ('[parameters]\nschedule = [[0.1, nan]]', "parameter 'schedule': value nan is not a finite number"),
    ('[parameters]\nopt = [{ lr = inf }]', "parameter 'opt': value inf is not a finite number"),
    ('run_cap = -3\n[parameters]\nlr = [1]', f"sweep run_cap -3 is not valid; expected a whole number from 1 to {MAX_TRIALS}"),
    ('run_cap = 2.5\n[parameters]\nlr = [1]', "sweep run_cap 2.5 is not valid"),
    ('run_cap = nan\n[parameters]\nlr = [1]', "sweep run_cap nan is not valid"),
    ('run_cap = "5"\n[parameters]\nlr = [1]', "sweep run_cap '5' is not valid"),
    ('run_cap = true\n[parameters]\nlr = [1]', "sweep run_cap True is not valid"),
    (f'method = "random"\nrun_cap = {MAX_TRIALS + 1}\n' + UNIFORM.format(low=0, high=1),
     f"sweep run_cap {MAX_TRIALS + 1} is not valid"),
    ('run_cap = 9223372036854775807\n[parameters]\nlr = [1]', "sweep run_cap 9223372036854775807 is not valid"),
    ('seed = 1.5\n[parameters]\nlr = [1]', "sweep seed 1.5 is not valid; expected a whole number from 0 to "),
    ('seed = "7"\n[parameters]\nlr = [1]', "sweep seed '7' is not valid"),
    ('seed = -1\n[parameters]\nlr = [1]', "sweep seed -1 is not valid"),
    ('seed = inf\n[parameters]\nlr = [1]', "sweep seed inf is not valid"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """One workspace with a job that takes any run config, shared by the cases (each must store nothing)."""
    root = tmp_path_factory.mktemp("sweep-numbers")
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('trial')\n")
    with Api(root / "workspace") as api:
        api.create_job("code", str(root / "src"), name="trial", entry_point=["python", "train.py"])
        yield api


@pytest.mark.parametrize("body, message", BAD_NUMBERS, ids=[m[:48] for _, m in BAD_NUMBERS])
def test_a_bad_number_in_a_sweep_file_is_one_line_and_stores_nothing(workspace, tmp_path, body, message):
    path = tmp_path / "sweep.toml"
    path.write_text(f'job = "trial"\n{body}\n')
    result = subprocess.run(cli_argv("sweep", "create", str(path)), capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, LAUNCHER_HOME=str(workspace.home)))
    assert message in one_line_error(result)
    assert workspace.sweeps() == [] and workspace.queue_items() == []


def test_the_seed_given_on_the_command_line_is_checked_too(workspace, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('job = "trial"\nmethod = "random"\nrun_cap = 2\n' + UNIFORM.format(low=0, high=1) + "\n")
    result = subprocess.run(cli_argv("sweep", "create", str(path), "--seed", "-5"), capture_output=True, text=True,
                            timeout=60, env=dict(os.environ, LAUNCHER_HOME=str(workspace.home)))
    assert "sweep seed -5 is not valid" in one_line_error(result)
    assert workspace.sweeps() == []


def test_numbers_at_their_bounds_are_accepted():
    config = parse_sweep({"job": "trial", "method": "random", "run_cap": MAX_TRIALS, "seed": 2**63 - 1,
                          "parameters": {"lr": {"distribution": "uniform", "min": -1e307, "max": 1e307},
                                         "n": {"distribution": "int_uniform", "min": -(2**62), "max": 2**62}}})
    first = next(config.iter_trials())
    assert -1e307 <= first["lr"] <= 1e307 and -(2**62) <= first["n"] <= 2**62
    assert parse_sweep({"job": "trial", "seed": 0, "run_cap": 1, "parameters": {"lr": [0.0, -0.0, 1e308]}}).seed == 0
    with pytest.raises(SweepError, match=r"sweep seed 9223372036854775808 is not valid"):
        parse_sweep({"job": "trial", "seed": 2**63, "parameters": {"lr": [1]}})
    with pytest.raises(SweepError, match=r"parameter 'lr': min must be a finite number, got 10{400}"):
        parse_sweep({"job": "trial", "method": "random", "run_cap": 1,
                     "parameters": {"lr": {"distribution": "uniform", "min": 10**400, "max": 10**401}}})
