"""Sweeps: grid and random trials, run configs and sweep ids on runs, best-first results, pause/resume/
cancel, and every bad sweep file rejected with one line before anything is stored."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from launcher.queue import launch_add
from launcher.states import RunState
from launcher.sweeps import (
    SweepError,
    cancel_sweep,
    create_sweep,
    get_sweep,
    parse_sweep,
    pause_sweep,
    resume_sweep,
    sweep_trials,
)
from tests.queue.conftest import one_line_error
from tests.waiting import wait_for


def grid(worker: str, **extra) -> dict:
    return {"job": worker, "method": "grid", "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"losses": [[0.5, 0.3], [0.9, 0.1], [0.4, 0.7]], "tag": {"values": ["x", "y"]},
                           "fixed": 7}, **extra}


def test_grid_sweep_runs_every_combination_best_first(api, worker, start_agent):
    sweep = create_sweep(api.workspace, grid(worker))
    assert (sweep.trials, sweep.state, sweep.counts["queued"]) == (6, "running", 6)
    start_agent(max_jobs=3)
    wait_for(lambda: get_sweep(api.workspace, sweep.id).state == "finished", timeout=60, what="sweep finished")
    trials = sweep_trials(api.workspace, sweep.id)
    expected = [{"losses": losses, "tag": tag, "fixed": 7}
                for losses, tag in itertools.product([[0.5, 0.3], [0.9, 0.1], [0.4, 0.7]], ["x", "y"])]
    assert sorted(map(json.dumps, (t.parameters for t in trials))) == sorted(map(json.dumps, expected))
    # The metric is each run's last reported loss; minimize: best first.
    assert [t.metric for t in trials] == [0.1, 0.1, 0.3, 0.3, 0.7, 0.7]
    for trial in trials:
        run = api.run(trial.run_id)
        assert run.record.sweep_id == sweep.id
        assert run.spec.run_config == trial.parameters
        assert run.state == RunState.FINISHED and trial.state == "finished"
    assert {r.id for r in api.runs() if r.sweep_id == sweep.id} == {t.run_id for t in trials}


def test_maximize_and_run_cap(api, worker, start_agent):
    sweep = create_sweep(api.workspace, grid(worker, run_cap=4, metric={"name": "loss", "goal": "maximize"}))
    assert sweep.trials == 4
    start_agent(max_jobs=2)
    wait_for(lambda: get_sweep(api.workspace, sweep.id).state == "finished", timeout=60, what="sweep finished")
    assert [t.metric for t in sweep_trials(api.workspace, sweep.id)] == [0.3, 0.3, 0.1, 0.1]


def test_random_trials_are_reproducible_and_within_bounds(worker):
    definition = {"job": worker, "method": "random", "run_cap": 200, "seed": 11, "parameters": {
        "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
        "momentum": {"distribution": "uniform", "min": 0.5, "max": 0.9},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
        "act": ["relu", "gelu"]}}
    first = parse_sweep(definition).trials()
    assert first == parse_sweep(definition).trials()
    assert first != parse_sweep(definition, seed=12).trials()
    assert len(first) == 200
    assert all(1e-4 <= t["lr"] <= 1e-1 and 0.5 <= t["momentum"] <= 0.9 for t in first)
    assert {t["layers"] for t in first} == {1, 2, 3, 4} and {t["act"] for t in first} == {"relu", "gelu"}
    # log_uniform spreads over orders of magnitude: about a third of the draws in each decade.
    decades = [sum(1 for t in first if lo <= t["lr"] < lo * 10) for lo in (1e-4, 1e-3, 1e-2)]
    assert all(40 <= n <= 95 for n in decades), decades
    assert math.isclose(sum(decades), 200)


def test_random_seed_is_recorded(api, worker, cli, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(f'job = "{worker}"\nmethod = "random"\nrun_cap = 3\n'
                    '[parameters]\nlr = { distribution = "uniform", min = 0.0, max = 1.0 }\n')
    result = cli("sweep", "create", str(path), "--seed", "5")
    assert result.returncode == 0, result.stderr
    sweep = json.loads(cli("sweep", "list", "--json").stdout)[0]
    assert sweep["config"]["seed"] == 5 and sweep["trials"] == 3
    lrs = [item.settings["config"]["overrides"]["run_config"]["lr"] for item in api.queue_items(sweep_id=sweep["id"])]
    assert sorted(lrs) == sorted(t["lr"] for t in parse_sweep(sweep["config"]).trials())


def test_pause_resume_cancel(api, worker, start_agent, cli, tmp_path):
    gate = tmp_path / "gate"
    paused = create_sweep(api.workspace, {"job": worker, "parameters": {"tag": ["a", "b"]}, "name": "paused-one"})
    assert cli("sweep", "pause", "paused-one").stdout.strip() == f"sweep {paused.id} paused"
    plain = launch_add(api, job=worker, priority="low")
    start_agent(max_jobs=2)
    plain.wait_until_finished(timeout=30)  # queued later and with a lower priority, yet taken: the sweep is paused
    assert [t.state for t in sweep_trials(api.workspace, paused.id)] == ["queued", "queued"]
    assert resume_sweep(api.workspace, paused.id).state == "running"
    wait_for(lambda: get_sweep(api.workspace, paused.id).state == "finished", timeout=60, what="resumed sweep finished")

    doomed = create_sweep(api.workspace, {"job": worker, "parameters": {"gate": [str(gate)], "tag": ["a", "b", "c", "d"]}})
    wait_for(lambda: gate.with_suffix(".started").exists(), what="a trial started")
    sweep = cancel_sweep(api.workspace, doomed.id)
    assert sweep.state == "cancelled"
    # A trial claimed but not yet launched when the sweep is cancelled is cancelled at once; its run is
    # stopped a moment later, by the agent.
    wait_for(lambda: all(t.state == "cancelled" and (t.run_state is None or RunState(t.run_state).is_terminal())
                         for t in sweep_trials(api.workspace, doomed.id)), what="trials cancelled and their runs ended")
    stopped = [t for t in sweep_trials(api.workspace, doomed.id) if t.run_id]
    assert stopped and all(t.run_state == RunState.STOPPED for t in stopped)
    with pytest.raises(SweepError, match="is cancelled; it cannot be moved to running"):
        resume_sweep(api.workspace, doomed.id)
    with pytest.raises(SweepError, match="is finished; it cannot be moved to paused"):
        pause_sweep(api.workspace, paused.id)  # it ended: its end is kept


BAD_SWEEPS = [
    ('method = "bayes"\n[parameters]\nlr = [1]', "unknown sweep method 'bayes'; expected one of: grid, random"),
    ('method = "grid"\n[parameters]\nlr = []', "parameter 'lr' has an empty list of values"),
    ('method = "grid"\n[parameters]\nlr = { values = [] }', "parameter 'lr' has an empty list of values"),
    ('method = "grid"\nparameters = {}', "sweep 'parameters' must be a table with at least one parameter"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nlr = { distribution = "uniform", min = 2, max = 1 }',
     "parameter 'lr': min 2 is greater than max 1"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nlr = { distribution = "log_uniform", min = 0, max = 1 }',
     "parameter 'lr': log_uniform needs min > 0, got min 0"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nlr = { distribution = "log_uniform", min = -1.0, max = 1 }',
     "log_uniform needs min > 0, got min -1.0"),
    ('method = "random"\nrun_cap = 2\n[parameters]\nlr = { distribution = "normal", min = 0, max = 1 }',
     "parameter 'lr': unknown distribution 'normal'"),
    ('method = "random"\n[parameters]\nlr = { distribution = "uniform", min = 0, max = 1 }',
     "random sweeps need a run_cap"),
    ('method = "grid"\n[parameters]\nlr = { distribution = "uniform", min = 0, max = 1 }',
     "grid sweeps need lists of values; parameter 'lr' is a distribution"),
    ('method = "grid"\n[metric]\nname = "loss"\ngoal = "lowest"\n[parameters]\nlr = [1]',
     "metric goal 'lowest' is not valid; expected one of: minimize, maximize"),
    ('method = "grid"\nqueue = "nope"\n[parameters]\nlr = [1]', "unknown queue 'nope'"),
    ('method = "grid"\npriority = "urgent"\n[parameters]\nlr = [1]', "unknown priority 'urgent'"),
    ('method = "grid"\nrun_cap = 0\n[parameters]\nlr = [1]', "sweep run_cap 0 is not valid"),
    ('method = "grid"\nlearning_rate = 1\n[parameters]\nlr = [1]', "unknown sweep setting 'learning_rate'"),
    ('method = "grid\n', "is not valid TOML"),
]


@pytest.mark.parametrize("body, message", BAD_SWEEPS, ids=[m[:40] for _, m in BAD_SWEEPS])
def test_bad_sweep_files_are_one_line_errors(api, worker, cli, tmp_path, body, message):
    path = tmp_path / "sweep.toml"
    path.write_text(f'job = "{worker}"\n{body}\n')
    assert message in one_line_error(cli("sweep", "create", str(path)))
    assert api.sweeps() == [] and api.queue_items() == []  # nothing stored


def test_sweep_with_unknown_job_or_missing_file(api, cli, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('job = "nobody/nothing/none"\n[parameters]\nlr = [1]\n')
    assert "nobody/nothing/none" in one_line_error(cli("sweep", "create", str(path)))
    assert "cannot be read" in one_line_error(cli("sweep", "create", str(tmp_path / "missing.toml")))
    assert "does not exist" in one_line_error(cli("sweep", "pause", "zzzz"))
    assert api.sweeps() == []


def test_ended_sweeps_cannot_be_paused_resumed_or_cancelled(api, worker, start_agent, cli):
    finished = create_sweep(api.workspace, {"job": worker, "parameters": {"tag": ["a"]}, "name": "ends-well"})
    failed = create_sweep(api.workspace, {"job": worker, "parameters": {"exit": [3]}, "name": "ends-badly"})
    start_agent(max_jobs=2)
    wait_for(lambda: get_sweep(api.workspace, finished.id).state == "finished", timeout=60, what="sweep finished")
    wait_for(lambda: get_sweep(api.workspace, failed.id).state == "failed", timeout=60, what="sweep failed")
    for sweep, shown in ((finished, "finished"), (failed, "failed")):
        for move, target in ((pause_sweep, "paused"), (resume_sweep, "running"), (cancel_sweep, "cancelled")):
            with pytest.raises(SweepError, match=f"^sweep {sweep.id} is {shown}; it cannot be moved to {target}$"):
                move(api.workspace, sweep.id)
        for action, target in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
            assert one_line_error(cli("sweep", action, sweep.name)) == (
                f"launcher: error: sweep {sweep.id} is {shown}; it cannot be moved to {target}")
        assert get_sweep(api.workspace, sweep.id).state == shown  # not rewritten
    assert {r["state"] for r in api.workspace.store.query("SELECT state FROM sweeps")} == {"running"}


def test_trials_are_checked_against_the_parameters_a_launch_would_see(api, tmp_path):
    # A git job's branch moved on since the job was created: the job's version still runs the commit it
    # recorded, and so the sweep's check uses that commit's parameters; a sweep naming the branch as its
    # version is checked against the branch's head, as a launch of that version resolves it anew.
    from tests.conftest import git

    repo = tmp_path / "repo"
    repo.mkdir()
    mlproject = 'entry_points:\n  main:\n    parameters:\n{params}    command: "python train.py"\n'
    (repo / "MLproject").write_text(mlproject.format(params="      lr: {type: float, default: 0.1}\n"))
    (repo / "train.py").write_text("print('hi')\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    api.create_job("git", str(repo), name="moving")
    (repo / "MLproject").write_text(mlproject.format(params="      seed: {type: int, default: 0}\n"))
    git(repo, "commit", "-qam", "lr gone, seed added")
    assert create_sweep(api.workspace, {"job": "moving", "parameters": {"lr": [0.1, 0.2]}}).trials == 2
    with pytest.raises(SweepError, match="unknown config key 'seed'"):
        create_sweep(api.workspace, {"job": "moving", "parameters": {"seed": [1, 2]}})
    on_branch = {"job": "moving", "version": "main"}
    assert create_sweep(api.workspace, {**on_branch, "parameters": {"seed": [1, 2]}}).trials == 2
    with pytest.raises(SweepError, match="unknown config key 'lr'"):
        create_sweep(api.workspace, {**on_branch, "parameters": {"lr": [0.1, 0.2]}})
