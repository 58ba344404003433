"""Tracking benchmarks: indexing 100,000 logged points, each source against a baseline in the same run.

1. wandb: the launcher's transaction-log reader (launcher/tracking/wandb_reader.py) versus wandb's own
   reader of the same file, `wandb leet inspect --json` (its Go core), whose history records are then
   turned into the same points (target: ratio >= 1x);
2. MLflow: the launcher's reader (SQL on the SQLite store, launcher/tracking/mlflow_reader.py) versus
   MLflow's own client, `MlflowClient.get_metric_history` per metric (target: >= 1x); the launcher
   reader's client path (used for tracking servers) is timed too;
3. TensorBoard: the launcher's reader (tensorboard's RawEventFileLoader, launcher/tracking/
   tensorboard_reader.py) versus tensorboard's EventAccumulator, keeping every scalar (target: >= 1x);
4. `@metrics` lines: launcher/metrics.py's parser (`_parse_chunk`, stepped over the log as `index_run`
   does) over a run log written with launcher/logfile.py's LogWriter, in points/s (target: >= 500k/s),
   and the whole index path (`index_run`: parse and store in SQLite) of a real run.

Each source's data is written first by the real library (100,000 points: 25,000 steps x 4 metrics).
Times are the median of --repeat reads; both sides have their modules imported before timing.

Run: .venv/bin/python bench/bench_tracking.py [--repeat N] [--only wandb,mlflow,tensorboard,marker]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STEPS = 25_000
METRICS = ("loss", "accuracy", "learning_rate", "grad_norm")
POINTS = STEPS * len(METRICS)

WANDB_WRITER = f"""
import math, wandb
run = wandb.init(project="bench", config={{"lr": 0.1}})
for step in range({STEPS}):
    wandb.log({{"loss": 1 / (step + 1), "accuracy": step / {STEPS}, "learning_rate": 0.1 * 0.999 ** step,
               "grad_norm": math.sin(step)}})
run.finish()
"""


def median_seconds(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    samples, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def report(source: str, ours: tuple[float, int], baseline: tuple[float, int], baseline_name: str) -> None:
    (our_time, our_count), (base_time, base_count) = ours, baseline
    print(f"{source}: launcher reader {our_time * 1000:.0f} ms ({our_count / our_time / 1000:.0f}k points/s), "
          f"{baseline_name} {base_time * 1000:.0f} ms ({base_count / base_time / 1000:.0f}k points/s), "
          f"ratio {base_time / our_time:.2f}x (target >= 1x)")
    if our_count != base_count:
        print(f"  warning: the launcher read {our_count} points, the baseline {base_count}")


def bench_wandb(workdir: Path, repeat: int) -> None:
    from launcher.tracking.wandb_reader import WandbLogReader, find_wandb_logs

    (workdir / "wandb_writer.py").write_text(WANDB_WRITER)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(workdir), WANDB_RUN_ID="bench")
    subprocess.run([sys.executable, "wandb_writer.py"], cwd=workdir, env=env, check=True, timeout=900)
    [log] = find_wandb_logs(workdir)
    wandb_cli = str(Path(sys.executable).with_name("wandb"))

    def ours() -> int:
        return len(WandbLogReader(log).read(final=True).points)

    def wandb_own_reader() -> int:
        printed = subprocess.run([wandb_cli, "leet", "inspect", "--json", str(log)], capture_output=True,
                                 check=True, timeout=600, env=env).stdout
        points = []
        for line in printed.splitlines():
            record = json.loads(line)
            if record.get("type") != "history":
                continue
            items = record["history"]["item"]
            step, at = items.get("_step"), items.get("_timestamp")
            points.extend((name, step, float(value), at) for name, value in items.items()
                          if not name.startswith("_") and isinstance(value, int | float))
        return len(points)

    print(f"wandb: {log.stat().st_size / 1e6:.1f} MB transaction log")
    report("wandb", median_seconds(ours, repeat), median_seconds(wandb_own_reader, repeat),
           "`wandb leet inspect --json` + JSON")


def bench_mlflow(workdir: Path, repeat: int) -> None:
    import math

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from launcher.tracking.mlflow_reader import MlflowReader, _unreachable_server  # noqa: F401 (warm)
    from launcher.tracking.mlflow_run import ensure_mlflow_run
    from launcher.tracking.targets import MlflowStore, TrackedRun

    store = MlflowStore.in_workspace(workdir / "workspace")
    run_id = ensure_mlflow_run(store, TrackedRun("bench", "bench", "bench", "bench", workdir), "bench")
    client = MlflowClient(tracking_uri=store.tracking_uri)
    now = int(time.time() * 1000)
    values = {"loss": lambda s: 1 / (s + 1), "accuracy": lambda s: s / STEPS,
              "learning_rate": lambda s: 0.1 * 0.999 ** s, "grad_norm": math.sin}
    batch: list[Metric] = []
    for step in range(STEPS):
        batch.extend(Metric(name, values[name](step), now + step, step) for name in METRICS)
        if len(batch) >= 1000:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)

    def ours() -> int:
        return len(MlflowReader(store.tracking_uri, run_id).read().points)

    def mlflow_client() -> int:
        fresh = MlflowClient(tracking_uri=store.tracking_uri)
        names = fresh.get_run(run_id).data.metrics
        return sum(len(fresh.get_metric_history(run_id, name)) for name in names)

    def ours_through_the_client() -> int:
        reader = MlflowReader(store.tracking_uri, run_id)
        return len(reader._read_with_client().points)

    print(f"mlflow: {store.database.stat().st_size / 1e6:.1f} MB SQLite store")
    mine = median_seconds(ours, repeat)
    report("mlflow", mine, median_seconds(mlflow_client, repeat), "MlflowClient.get_metric_history")
    through_client = median_seconds(ours_through_the_client, repeat)
    print(f"  launcher reader through MLflow's client (its path for tracking servers): "
          f"{through_client[0] * 1000:.0f} ms, {through_client[0] / mine[0]:.1f}x the SQL path's time")


def bench_tensorboard(workdir: Path, repeat: int) -> None:
    import math

    from tensorboard.backend.event_processing import event_accumulator
    from tensorboardX import SummaryWriter

    from launcher.tracking.tensorboard_reader import TensorboardReader

    logdir = workdir / "tensorboard"
    writer = SummaryWriter(str(logdir), max_queue=1000)
    for step in range(STEPS):
        writer.add_scalar("loss", 1 / (step + 1), step)
        writer.add_scalar("accuracy", step / STEPS, step)
        writer.add_scalar("learning_rate", 0.1 * 0.999 ** step, step)
        writer.add_scalar("grad_norm", math.sin(step), step)
    writer.close()
    [events] = logdir.glob("events.out.tfevents.*")

    def ours() -> int:
        return len(TensorboardReader(logdir).read(final=True).points)

    def accumulator() -> int:
        reader = event_accumulator.EventAccumulator(str(events), size_guidance={event_accumulator.SCALARS: 0})
        reader.Reload()
        return sum(len(reader.Scalars(tag)) for tag in reader.Tags()["scalars"])

    print(f"tensorboard: {events.stat().st_size / 1e6:.1f} MB event file")
    report("tensorboard", median_seconds(ours, repeat), median_seconds(accumulator, repeat),
           "EventAccumulator (all scalars kept)")


def bench_marker(workdir: Path, repeat: int) -> None:
    from launcher import metrics
    from launcher.logfile import LogWriter

    log = workdir / "output.log"
    writer = LogWriter(log)
    lines = [b'@metrics {"loss": %r, "accuracy": %r, "learning_rate": %r, "grad_norm": %r, "step": %d}\n'
             % (1 / (step + 1), step / STEPS, 0.1 * 0.999 ** step, 0.5, step) for step in range(STEPS)]
    for start in range(0, STEPS, 500):  # arrival chunks of 500 lines, one timestamp each, as capture writes
        writer.write("stdout", b"".join(lines[start:start + 500]))
    size = log.stat().st_size

    def parse() -> int:
        state = metrics._Parse(0, 0, False)
        with open(log, "rb") as file:
            while state.offset < size:
                file.seek(state.offset)
                chunk = file.read(metrics.CHUNK_BYTES)
                metrics._parse_chunk(state, chunk, state.offset, final=len(chunk) < metrics.CHUNK_BYTES)
        return len(state.points)

    seconds, count = median_seconds(parse, repeat)
    print(f"@metrics lines: parser {seconds * 1000:.0f} ms for {count} points, {count / seconds / 1000:.0f}k "
          f"points/s (target >= 500k points/s)")
    bench_marker_index(workdir, lines, repeat)


def bench_marker_index(workdir: Path, lines: list[bytes], repeat: int) -> None:
    """The whole index path of a real run: its log parsed and its points stored in the workspace."""
    from launcher import Api, launch, metrics

    samples = []
    for attempt in range(repeat):
        source = workdir / f"printer{attempt}"
        source.mkdir()
        (source / "lines.txt").write_bytes(b"".join(lines))
        (source / "main.py").write_text("import sys\nsys.stdout.buffer.write(open('lines.txt', 'rb').read())\n")
        api = Api(workdir / f"workspace{attempt}")
        try:
            api.create_job("code", str(source), name="printer", entry_point=["python", "main.py"])
            run = launch(api, job="printer")
            start = time.perf_counter()
            count = metrics.index_run(api, run.id)
            samples.append((time.perf_counter() - start, count))
        finally:
            api.close()
    seconds = statistics.median(sample[0] for sample in samples)
    count = samples[0][1]
    print(f"@metrics lines: index_run of a real run (parse + SQLite) {seconds * 1000:.0f} ms for {count} "
          f"points, {count / seconds / 1000:.0f}k points/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="wandb,mlflow,tensorboard,marker")
    args = parser.parse_args()
    chosen = {name.strip() for name in args.only.split(",")}
    benches = {"wandb": bench_wandb, "mlflow": bench_mlflow, "tensorboard": bench_tensorboard,
               "marker": bench_marker}
    unknown = chosen - benches.keys()
    if unknown or args.repeat < 1:
        parser.error(f"--only takes {', '.join(benches)}; --repeat at least 1 (got {sorted(unknown)}, "
                     f"{args.repeat})")
    print(f"{POINTS} points per source ({STEPS} steps x {len(METRICS)} metrics), median of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as temporary:
        for name, bench in benches.items():
            if name in chosen:
                folder = Path(temporary) / name
                folder.mkdir()
                bench(folder, args.repeat)


if __name__ == "__main__":
    main()
