"""Regenerate screenshots/: SVG and PNG pictures of the TUI's main screens, taken from a real workspace
with real runs built in a temporary folder (a code job, a git job with an MLproject, finished, failed,
stopped and running runs reporting metrics, a finished sweep, queued items and an agent in the app).

    python scripts/screenshots.py [--out screenshots]

PNG conversion uses cairosvg (PyPI; it needs the cairo library, Debian's libcairo2). The SVGs name the
font Fira Code; the PNGs are drawn with DejaVu Sans Mono (Debian's fonts-dejavu-core) instead."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN_PY = """\
import json, os, sys, time
config = json.load(open(os.environ["LAUNCHER_CONFIG_FILE"]))
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
for epoch in range(epochs):
    loss = 1.0 / (epoch + 1) * (config.get("lr") or 0.1) * 10
    print(f"epoch {epoch:3d}  loss={loss:.4f}  lr={config.get('lr')}", flush=True)
    print("@metrics " + json.dumps({"loss": round(loss, 4), "acc": round(1 - loss / 20, 4), "step": epoch}), flush=True)
    if os.environ.get("SLOW"):
        time.sleep(0.5)
print("saved checkpoint to ./model.pt", flush=True)
"""
FAIL_PY = """\
import sys
print("loading dataset shard 1/4", flush=True)
print("Traceback (most recent call last):", file=sys.stderr)
print("RuntimeError: CUDA out of memory (tried to allocate 2.00 GiB)", file=sys.stderr)
sys.exit(1)
"""
MLPROJECT = """\
name: resnet
entry_points:
  main:
    parameters:
      lr: {type: float, default: 0.01}
      epochs: {type: int, default: 5}
      optimizer: {type: string, default: adam}
    command: "python train.py {epochs}"
  evaluate:
    parameters:
      split: {type: string, default: test}
    command: "python train.py 1"
"""
SIZE = (150, 40)


def build_workspace(root: Path):
    from launcher.api import Api
    from launcher.spec import merge_request

    home = root / "workspace"
    first = Api(home)
    first.set_setting("default_entity", "ml-team")
    first.close()
    api = Api(home)
    code = root / "classifier"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    (code / "fail.py").write_text(FAIL_PY)
    api.create_job("code", str(code), name="classifier", entry_point=["python", "train.py"])
    repo = root / "resnet"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN_PY)
    (repo / "MLproject").write_text(MLPROJECT)
    env = {**os.environ, "GIT_AUTHOR_NAME": "ml", "GIT_AUTHOR_EMAIL": "ml@example.com",
           "GIT_COMMITTER_NAME": "ml", "GIT_COMMITTER_EMAIL": "ml@example.com"}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-q", "-m", "resnet"]):
        subprocess.run(argv, cwd=repo, check=True, env=env)
    api.create_job("git", str(repo), name="resnet")
    api.alias_job("resnet", "prod")

    def launch(**kwargs):
        return api.runs.submit(merge_request(**kwargs))

    launch(job="resnet", run_id="baseline", name="resnet-baseline",
           config={"overrides": {"run_config": {"lr": 0.05, "epochs": 8}}}).wait(timeout=120)
    launch(job="classifier", run_id="sweep-lr-1", name="lr-0.1", entry_point=["python", "train.py", "12"],
           config={"overrides": {"run_config": {"lr": 0.1}}}).wait(timeout=120)
    launch(job="classifier", run_id="oom", name="big-batch", entry_point=["python", "fail.py"]).wait(timeout=120)
    stopped = launch(job="classifier", run_id="too-slow", name="lr-0.001", entry_point=["python", "train.py", "1000"],
                     resource_args={"local-process": {"env": {"SLOW": "1"}}},
                     config={"overrides": {"run_config": {"lr": 0.001}}})
    _wait(lambda: "epoch   1" in stopped.get_logs())
    stopped.cancel(grace_period=1)
    running = launch(job="resnet", run_id="long-train", name="resnet-long",
                     resource_args={"local-process": {"env": {"SLOW": "1"}}},
                     config={"overrides": {"run_config": {"lr": 0.02, "epochs": 400}}})
    _wait(lambda: "epoch   3" in running.get_logs())

    from launcher.queue import launch_add
    from launcher.states import SweepState

    sweep = api.sweeps.create({"job": "classifier", "method": "grid", "name": "lr-grid",
                              "entry_point": ["python", "train.py", "10"],
                              "metric": {"name": "loss", "goal": "minimize"},
                              "parameters": {"lr": [0.1, 0.03, 0.01, 0.003], "batch": [32, 64]}})
    agent = api.queues.agent(["default"], 4, poll_seconds=0.1)
    agent.start()
    _wait(lambda: api.sweeps.get(sweep.id).state is SweepState.FINISHED, timeout=180)
    agent.stop()
    agent.join(60)
    api.queues.create("gpu")
    for number, (lr, priority) in enumerate([(0.02, "high"), (0.01, "medium"), (0.005, "low")]):
        launch_add(api, job="resnet", name=f"resnet-gpu-{number}", queue_name="gpu", priority=priority,
                   resource_args={"local-process": {"env": {"SLOW": "1"}}},
                   config={"overrides": {"run_config": {"lr": lr, "epochs": 400}}})
    launch_add(api, job="classifier", name="no-such-entry", queue_name="gpu", priority="critical",
               entry_point=["python", "missing.py"])
    return api


def _wait(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("screenshots: a run did not get as far as expected")
        time.sleep(0.05)


async def _until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            import inspect

            raise SystemExit(f"screenshots: the app did not reach the expected state: "
                             f"{inspect.getsource(condition).strip()}")
        await pilot.pause(0.05)


async def _settled(pilot, timeout: float = 10.0) -> str:
    """The screen once it has drawn everything it was asked to: two frames 0.1 s apart alike (live runs
    change it at most a few times a second, so a still pair comes quickly)."""
    deadline = time.monotonic() + timeout
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    frame = pilot.app.export_screenshot()
    while True:
        await pilot.pause(0.1)
        again = pilot.app.export_screenshot()
        if again == frame or time.monotonic() > deadline:
            return again
        frame = again


def take(api, out: Path) -> list[Path]:
    from textual.command import CommandList, CommandPalette

    from launcher.states import ItemState, RunState
    from tui.app import LauncherApp
    from tui.screens.dialogs import ConfirmScreen
    from tui.screens.help import HelpScreen
    from tui.screens.launch_form import LaunchForm
    from tui.screens.main import MainScreen
    from tui.screens.queues import QueuesScreen
    from tui.screens.run_details import RunDetailsScreen
    from tui.screens.sweeps import SweepsScreen
    from tui.widgets.log_pane import LogPane

    app = LauncherApp(api)
    written: list[Path] = []

    async def shot(pilot, name: str) -> None:
        await _settled(pilot)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"launcher - {name.replace('-', ' ')}"))
        written.append(path)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            app.sub_title = "~/.local/share/launcher"
            await _until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded_at)
            main = app.screen
            pane = main.query_one("#pane-selected", LogPane)
            main.table.select_run("long-train")
            await _until(pilot, lambda: pane.run_id == "long-train" and pane.view.received >= 4)
            await shot(pilot, "main-screen")

            main.table.select_run("oom")
            await _until(pilot, lambda: pane.run_id == "oom" and pane.state is RunState.FAILED and pane.view.received >= 3)
            main.table.focus()
            await pilot.press("d")
            await _until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and app.screen.shown >= 1)
            await shot(pilot, "run-details")
            await pilot.press("escape")

            main.table.select_run("long-train")
            main.table.focus()
            await pilot.press("d")
            await _until(pilot, lambda: isinstance(app.screen, RunDetailsScreen) and len(app.screen.charts) == 2)
            await _settled(pilot)
            app.screen.query_one("VerticalScroll").scroll_end(animate=False)
            await shot(pilot, "run-metrics")
            await pilot.press("escape")

            await pilot.press("W")
            await _until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.loaded
                         and all(t.metric is not None for t in app.screen.trials))
            await shot(pilot, "sweeps")
            await pilot.press("escape")

            await pilot.press("Q")
            await _until(pilot, lambda: isinstance(app.screen, QueuesScreen) and app.screen.loaded)
            app.start_agent(["gpu"], 1)
            control = app.agent_control
            await _until(pilot, lambda: len(control.active_runs()) == 1
                         and api.queues.items("gpu", states=[ItemState.FAILED]))
            # The screen refreshes on its own timer: wait until it shows what the engine says.
            await _until(pilot, lambda: {item.state for item in app.screen.items.values()}
                         >= {ItemState.RUNNING, ItemState.FAILED})
            await shot(pilot, "queues")
            control.agent.stop("stop")
            await pilot.press("escape")

            main.table.select_run("sweep-lr-1")
            main.table.focus()
            await pilot.press("enter")
            await _until(pilot, lambda: len(main.query(LogPane)) == 2 and main.query(LogPane)[1].view.received >= 13)
            tab = main.query(LogPane)[1]
            await pilot.press("t", "slash", *"loss=0.1", "enter")
            await _until(pilot, lambda: tab.view.timestamps and tab.view.search == "loss=0.1")
            await shot(pilot, "log-pane")
            main.table.focus()

            await pilot.press("n")
            await _until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.resources)
            form = app.screen
            await pilot.press(*"resnet:prod")
            await _until(pilot, lambda: form.query("#param-optimizer"))
            form.query_one("#param-epochs").value = "twenty"
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: form.errors)
            await shot(pilot, "launch-form")
            await pilot.press("escape")  # the form was changed: it asks before discarding
            await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _until(pilot, lambda: isinstance(app.screen, MainScreen))

            await pilot.press("question_mark")
            await _until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await shot(pilot, "help")
            await pilot.press("escape")

            await pilot.press("ctrl+p")
            await _until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"launch")
            await _until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
            await shot(pilot, "command-palette")
            await pilot.press("escape")

    asyncio.run(scenario())
    return written


def to_png(svg: Path) -> Path:
    import cairosvg

    text = svg.read_text().replace("Fira Code, monospace", "DejaVu Sans Mono, monospace")
    png = svg.with_suffix(".png")
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(png))
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="launcher-shots-") as tmp:
        os.environ["LAUNCHER_CONFIG_DIR"] = str(Path(tmp) / "config")
        from launcher.presets import save_preset

        api = build_workspace(Path(tmp))
        save_preset("resnet-prod", {"job": "resnet:prod", "config": {"overrides": {"run_config": {"lr": 0.03}}}})
        try:
            svgs = take(api, out)
        finally:
            for record in api.runs(active_only=True):
                api.run(record.id).cancel(grace_period=0)
            api.close()
    for svg in svgs:
        print(f"{svg}  {to_png(svg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
