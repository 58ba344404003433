"""`launcher metrics RUN`: a run's metrics, whatever reported them: `@metrics {...}` lines, wandb, the tied
MLflow run or TensorBoard event files (one model: name, step, value, time). Live while the run runs."""

from __future__ import annotations

import argparse
import json
import sys
import time

from launcher.cli.main import EXIT_OK
from launcher.cli.output import table

SPARK = "▁▂▃▄▅▆▇█"
FOLLOW_SECONDS = 0.5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "metrics", help="print the metrics a run reported",
        description="A run reports metrics by printing lines like @metrics {\"loss\": 0.31, \"step\": 120}, or "
                    "with wandb (wandb.log), MLflow (log_metric) or TensorBoard (add_scalar): all of them show "
                    "here, live while the run runs. What could not be read is said at the end.")
    parser.add_argument("run", help="run id (or an unambiguous prefix)")
    parser.add_argument("--all", action="store_true", help="print every point, not a summary per metric")
    parser.add_argument("-f", "--follow", action="store_true", help="print points as they arrive until the run ends")
    parser.add_argument("--json", action="store_true", help="print {name: [[step, value, time], ...]}")
    parser.set_defaults(handler=metrics_command)


def metrics_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    run = api.find_run(args.run)
    if args.follow:
        return _follow(api, run)
    series = api.metrics(run.id)
    problems = api.runs.metric_problems(run.id)
    for problem in problems:
        print(f"{problem.source} metrics: {problem.text}", file=sys.stderr)
    if args.json:
        print(json.dumps({name: [list(point) for point in points] for name, points in series.items()}, indent=2))
    elif args.all:
        point_rows = sorted(((p.step, name, f"{p.value:.6g}", _clock(p.time)) for name, points in series.items()
                       for p in points), key=lambda row: row[0])
        print(table(("STEP", "METRIC", "VALUE", "TIME"), point_rows))
    elif not series:
        print(f"run {run.id} has reported no metrics (a run reports them by printing '@metrics {{\"loss\": 0.3}}', "
              "or with wandb, MLflow or TensorBoard)", file=sys.stderr)
    else:
        rows = [(name, f"{points[-1].value:.6g}", points[-1].step, len(points), f"{min(p.value for p in points):.6g}",
                 f"{max(p.value for p in points):.6g}", sparkline([p.value for p in points]))
                for name, points in series.items()]
        print(table(("METRIC", "LAST", "STEP", "POINTS", "MIN", "MAX", "TREND"), rows))
    return EXIT_OK


def _follow(api, run) -> int:
    after = 0
    told: set[tuple[str, str]] = set()
    while True:
        done = run.get_status().done
        points, after = api.runs.new_metric_points(run.id, after)
        for name, point in points:
            print(f"{_clock(point.time)}  step {point.step:>6}  {name} = {point.value:.6g}", flush=True)
        for problem in api.runs.metric_problems(run.id):
            if (problem.source, problem.text) not in told:
                told.add((problem.source, problem.text))
                print(f"{problem.source} metrics: {problem.text}", file=sys.stderr, flush=True)
        if done and not points:
            return EXIT_OK
        if not points:
            time.sleep(FOLLOW_SECONDS)


def sparkline(values: list[float], width: int = 30) -> str:
    """The series' shape in block characters (the last `width` points)."""
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[len(SPARK) // 2] * len(values)
    return "".join(SPARK[int((v - low) / (high - low) * (len(SPARK) - 1))] for v in values)


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"
