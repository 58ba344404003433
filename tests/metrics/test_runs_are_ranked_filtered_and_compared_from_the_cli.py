"""Ranking and comparing runs from the CLI over the one metrics model: `launcher runs --columns --sort
--where` (the filter language) and `--json` with metrics, `launcher compare` with configs side by side,
and sweeps whose trials, named by their parameters, rank on a metric TensorBoard wrote."""

from __future__ import annotations

import json

import pytest

from launcher.records import TrialRecord
from launcher.spec import merge_request
from launcher.states import ItemState, RunState
from tests.metrics.conftest import cli
from tests.waiting import wait_for

REPORTER = """
import json, os
config = json.loads(os.environ["LAUNCHER_CONFIG"])
for step, loss in enumerate(config.get("losses", [])):
    print("@metrics " + json.dumps({"loss": loss, "step": step}))
if "acc" in config:
    print("@metrics " + json.dumps({"acc": config["acc"]}))
raise SystemExit(config.get("exit", 0))
"""


@pytest.fixture
def ranked_runs(api, make_code_dir) -> dict[str, str]:
    """Four ended runs: name -> run id."""
    api.create_job("code", str(make_code_dir({"report.py": REPORTER})), name="reporter",
                   entry_point=["python", "report.py"])
    configs = {
        "fast": {"lr": 0.1, "opt": {"name": "adam"}, "losses": [0.9, 0.4, 0.05]},
        "slow": {"lr": 0.01, "opt": {"name": "adam"}, "losses": [0.9, 0.7, 0.3]},
        "bad": {"lr": 1.0, "opt": {"name": "sgd"}, "losses": [0.9, 2.0], "exit": 3},
        "other": {"lr": 0.1, "acc": 0.8},
    }
    ids = {}
    for name, config in configs.items():
        run = api.runs.submit(merge_request(job="reporter", name=name, config={"overrides": {"run_config": config}}))
        run.wait(timeout=60)
        assert run.get_status().state is (RunState.FAILED if name == "bad" else RunState.FINISHED)
        ids[name] = run.id
    return ids


def names(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line.split()[1] for line in result.stdout.splitlines()[1:]]


def test_runs_sort_and_filter_on_metrics_and_config(home, ranked_runs) -> None:
    assert names(cli(home, "runs", "--sort", "loss")) == ["fast", "slow", "bad", "other"]  # no value: last
    assert names(cli(home, "runs", "--sort", "loss", "--desc")) == ["bad", "slow", "fast", "other"]
    assert names(cli(home, "runs", "--where", "loss<0.5", "--sort", "loss")) == ["fast", "slow"]
    assert names(cli(home, "runs", "--where", "loss < 0.5 opt.name=adam lr>=0.1")) == ["fast"]
    assert names(cli(home, "runs", "--where", "state:failed")) == ["bad"]
    assert names(cli(home, "runs", "--where", "lr=0.1", "--sort", "name")) == ["fast", "other"]
    assert names(cli(home, "runs", "--where", "lr!=0.1", "--sort", "name")) == ["bad", "slow"]
    assert names(cli(home, "runs", "--where", "job:reporter acc>0.5")) == ["other"]
    assert names(cli(home, "runs", "--where", "SLO")) == ["slow"]  # free text, any case
    assert names(cli(home, "runs", "--where", "'state:failed'")) == []  # quoted: free text as it is

    table = cli(home, "runs", "--columns", "lr,loss,opt.name", "--sort", "lr", "--where", "opt.name=adam").stdout.splitlines()
    assert table[0].split()[-3:] == ["lr", "loss", "opt.name"]
    assert [line.split()[-3:] for line in table[1:3]] == [["0.01", "0.3", "adam"], ["0.1", "0.05", "adam"]]
    assert cli(home, "runs", "--sort", "config.lr", "--limit", "1").stdout.splitlines()[1].split()[1] == "slow"

    records = json.loads(cli(home, "runs", "--json", "--where", "loss<1").stdout)
    assert {record["name"]: record["metrics"] for record in records} == {
        "fast": {"loss": 0.05}, "slow": {"loss": 0.3}}
    assert all(record["spec"]["run_config"]["lr"] in (0.1, 0.01) for record in records)


@pytest.mark.parametrize("text, named", [
    ("loss<<1", "'loss<<1' is not understood"),
    ("loss<abc", "'<' compares numbers, and 'abc' is not a finite number"),
    ("loss>inf", "'inf' is not a finite number"),
    ("stat:failed", "names no field 'stat'"),
    ("state:bogus", "'bogus' is not a run state"),
    ("tag:", "has no value"),
    ("lr=", "'lr=' is not understood"),
    ("<0.1", "'<0.1' is not understood"),
    ("'unclosed", "has an unclosed '"),
])
def test_each_filter_error_is_one_line_naming_the_term(home, text, named) -> None:
    result = cli(home, "runs", "--where", text)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("launcher: error: filter") and named in line


def test_a_column_that_no_run_has_is_named(home, ranked_runs) -> None:
    result = cli(home, "runs", "--columns", "lr,nope")
    assert result.returncode == 2
    assert "column 'nope' is not a run field, config key or metric" in result.stderr


def test_compare_shows_configs_differing_first_with_final_and_best_values(home, ranked_runs) -> None:
    fast, slow, other = ranked_runs["fast"], ranked_runs["slow"], ranked_runs["other"]
    result = cli(home, "compare", fast, slow, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["key"] for row in data["config"]] == ["losses", "lr", "opt.name"]
    assert [row["differs"] for row in data["config"]] == [True, True, False]
    [loss] = data["metrics"]
    assert loss["goal"] == "minimize" and loss["best_run"] == fast
    assert loss["final"] == {fast: 0.05, slow: 0.3} and loss["best"] == {fast: 0.05, slow: 0.3}


    # Runs that share no metric: their configs side by side all the same, differing keys first.
    shown = cli(home, "compare", fast, other).stdout.splitlines()
    start = next(number for number, line in enumerate(shown) if line.startswith("CONFIG"))
    assert [line.split()[:2] for line in shown[start + 1:start + 5]] == [
        ["*", "acc"], ["*", "losses"], ["*", "opt.name"], ["lr", "0.1"]]
    assert shown[start + 1].split()[2:] == ["-", "0.8"]
    metrics = {line.split()[0]: line.split()[1:] for line in shown if line.startswith(("acc ", "loss "))}
    assert metrics == {"acc": ["max", "-", "0.8", "(0.8)", "*"], "loss": ["min", "0.05", "(0.05)", "*", "-"]}
    assert "(these runs share no metric)" in shown
    assert "given twice" in cli(home, "compare", fast, fast[:6]).stderr
    assert "compare needs 2 to 50 runs, got 1" in cli(home, "compare", fast).stderr


def test_sweep_trials_are_named_by_parameters_and_rank_on_a_tensorboard_metric(api, make_code_dir,
                                                                                start_agent) -> None:
    pytest.importorskip("tensorboardX")
    trainer = make_code_dir({"train.py": (
        "import json, os\n"
        "from tensorboardX import SummaryWriter\n"
        "config = json.loads(os.environ['LAUNCHER_CONFIG'])\n"
        "writer = SummaryWriter(os.environ['LAUNCHER_OUTPUT_DIR'])\n"
        "writer.add_scalar('loss', config['lr'] * 10 + config['bs'] / 1000, 0)\n"
        "writer.close()\n")})
    api.create_job("code", str(trainer), name="tb", entry_point=["python", "train.py"])
    sweep = api.sweeps.create({"job": "tb", "method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                               "parameters": {"lr": [0.1, 0.001], "bs": [64, 32]}})
    items = api.queues.items(sweep_id=sweep.id)
    assert sorted(item.settings["name"] for item in items) == [
        "lr=0.001 bs=32", "lr=0.001 bs=64", "lr=0.1 bs=32", "lr=0.1 bs=64"]
    start_agent(max_jobs=2)

    def all_ranked() -> list[TrialRecord] | None:
        trials = api.sweeps.trials(sweep.id)
        ended = all(trial.state.is_terminal() for trial in trials)
        return trials if ended and all(trial.metric is not None for trial in trials) else None

    trials = wait_for(all_ranked, timeout=120, interval=0.2, what="every trial ended with its TensorBoard loss")
    assert all(trial.state is ItemState.FINISHED for trial in trials)
    assert [api.run(trial.run_id).record.name for trial in trials] == [
        "lr=0.001 bs=32", "lr=0.001 bs=64", "lr=0.1 bs=32", "lr=0.1 bs=64"]  # best (lowest loss) first
    assert [trial.metric for trial in trials] == pytest.approx([0.042, 0.074, 1.032, 1.064])
