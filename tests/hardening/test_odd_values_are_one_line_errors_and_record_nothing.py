"""Odd numbers and values from outside (NaN, infinity, huge or negative numbers, empty or enormous text,
control characters, wrong types) are refused where they enter, in one line naming the value and what is
expected, and nothing is recorded (issue 10, findings 3 and 11)."""

from __future__ import annotations

import math
import sys

import pytest

from launcher import Api, LaunchError, launch
from launcher.states import RunState
from tests.engine.test_bad_input import cli, workspace_fingerprint
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd-values")
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    api = Api(root / "workspace")
    api.create_job("code", str(src), name="job", entry_point=["python", "train.py"])
    yield api
    for record in api.runs(active_only=True):
        api.run(record.id).cancel(grace_period=0)
    api.close()


NAN, INF = float("nan"), float("inf")
API_CASES = [
    (dict(resource_args={"local-process": {"grace_period": NAN}}),
     "resource_args local-process.grace_period nan is not valid; expected a number of seconds from 0 to 86400"),
    (dict(resource_args={"local-process": {"grace_period": INF}}), "grace_period inf is not valid"),
    (dict(resource_args={"local-process": {"grace_period": 1e308}}), r"grace_period 1e\+308 is not valid"),
    (dict(resource_args={"local-process": {"grace_period": -5}}), "grace_period -5 is not valid"),
    (dict(resource_args={"local-process": {"grace_period": True}}), "grace_period True is not valid"),
    (dict(resource_args={"local-container": {"grace_period": NAN}}, resource="local-container"),
     "resource_args local-container.grace_period nan is not valid"),
    (dict(resource_args={"local-container": {"cpus": INF}}, resource="local-container"), "cpus inf is not valid"),
    (dict(resource_args={"local-container": {"memory": 10 ** 30}}, resource="local-container"),
     "memory 1000000000000000000000000000000 is not valid"),
    (dict(parameters={"lr": NAN}), "run_config.lr nan is not valid; expected a finite number"),
    (dict(config={"overrides": {"run_config": {"nested": {"x": [1, -INF]}}}}),
     r"run_config.nested.x\[1\] -inf is not valid; expected a finite number"),
    (dict(config={"overrides": {"args": [NAN]}}), r"overrides.args\[0\] nan is not valid"),
    (dict(name="a\x00b"), r"name 'a\\x00b' is not valid; expected at most 128 characters and no control characters"),
    (dict(name="n" * 100_000), "name 'nnnn.*' is not valid; expected at most 128 characters"),
    (dict(entry_point=["", "x"]), "entry_point .* is not valid; expected a program name first"),
]


@pytest.mark.parametrize("kwargs, message", API_CASES, ids=[c[1][:50] for c in API_CASES])
def test_odd_values_through_the_api(workspace, kwargs, message):
    before = workspace_fingerprint(workspace)
    with pytest.raises(LaunchError, match=message) as caught:
        launch(workspace, job="job", synchronous=False, **kwargs)
    assert "\n" not in str(caught.value)
    assert workspace_fingerprint(workspace) == before


@pytest.mark.parametrize("source", [None, "", 3, b"/tmp"])
def test_a_job_source_that_is_not_text_is_one_line(workspace, source):
    before = workspace_fingerprint(workspace)
    with pytest.raises(LaunchError, match="is not valid; expected a directory, a git URL or path, or an image name"):
        workspace.create_job("code", source)
    assert workspace_fingerprint(workspace) == before


@pytest.mark.parametrize("args, message", [
    (["launch", "-j", "job", "-e", ""], "--entry-point '' is empty; expected a command such as 'python train.py'"),
    (["launch", "-j", "job", "-R", '{"local-process": {"grace_period": NaN}}'], "grace_period nan is not valid"),
    (["launch", "-j", "job", "-R", '{"local-process": {"grace_period": Infinity}}'], "grace_period inf is not valid"),
    (["cancel", "nosuchrun", "--grace", "nan"], "--grace nan is not valid; expected a number of seconds from 0 to 86400"),
    (["cancel", "nosuchrun", "--grace", "-5"], "--grace -5.0 is not valid"),
    (["cancel", "nosuchrun", "--grace", "soon"], "--grace 'soon' is not valid"),
])
def test_odd_values_through_the_cli(workspace, args, message):
    before = workspace_fingerprint(workspace)
    result = cli(workspace.home, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert workspace_fingerprint(workspace) == before


@pytest.mark.parametrize("grace", ["x", NAN, -1, 1e9, True])
def test_a_bad_grace_period_is_refused_before_anything_is_sent(workspace, grace):
    run = launch(workspace, job="job", synchronous=False)
    wait_for(lambda: "up" in run.get_logs(), what="the program to start")
    with pytest.raises(LaunchError, match="grace period .* is not valid; expected a number of seconds from 0 to"):
        run.cancel(grace_period=grace)
    assert run.get_status().state is RunState.RUNNING  # nothing was sent
    assert run.folder.cancel_request() is None
    assert run.cancel(grace_period=0).state is RunState.STOPPED


def test_the_finite_check_does_not_refuse_ordinary_numbers():
    from launcher.spec import check_json_values

    check_json_values({"a": 1, "b": 0.5, "c": [1e300, -2], "d": None, "e": True, "f": "nan"}, "run_config")
    assert math.isfinite(sys.float_info.max)
