"""Engine benchmarks, each against a baseline measured in the same run:

1. launch overhead: launch(..., resource="local-process", synchronous=True) of a trivial program versus
   subprocess.run of the same program (target: within 3x);
2. log capture: a program printing 1,000,000 lines through the launcher's capture (with timestamps) versus
   reading the same program's output from a raw pipe (target: 1M lines/s or more);
3. `launcher --help` start-up versus a bare `python -c pass` (target: within 2x);
4. what a run's own cgroup adds to a launch (where the machine allows one): launches with it against
   launches with cgroups turned off in the same run (target: at most 5 ms more).

Run: .venv/bin/python bench/bench_engine.py [--repeat N]"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = 1_000_000
PRINTER = (
    "import sys\n"
    f"block = b''.join(b'line %07d of the benchmark output\\n' % i for i in range({LINES}))\n"
    "sys.stdout.buffer.write(block)\n"
)


def median_time(action, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_launch(api, workdir: Path, repeat: int) -> None:
    from launcher import launch

    (workdir / "trivial").mkdir()
    (workdir / "trivial" / "main.py").write_text("pass\n")
    api.create_job("code", str(workdir / "trivial"), name="trivial", entry_point=["python", "main.py"])
    launch(api, job="trivial")  # warm caches (imports, snapshot)
    raw = median_time(lambda: subprocess.run([sys.executable, str(workdir / "trivial" / "main.py")], check=True), repeat)
    launched = median_time(lambda: launch(api, job="trivial"), repeat)
    print(f"launch overhead: subprocess.run {raw * 1000:.1f} ms, launch() {launched * 1000:.1f} ms, "
          f"ratio {launched / raw:.2f}x (target <= 3x)")


def bench_capture(api, workdir: Path) -> None:
    from launcher import launch

    (workdir / "printer").mkdir()
    (workdir / "printer" / "main.py").write_text(PRINTER)
    api.create_job("code", str(workdir / "printer"), name="printer", entry_point=["python", "main.py"])

    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(workdir / "printer" / "main.py")], stdout=subprocess.PIPE)
    count = 0
    for chunk in iter(lambda: process.stdout.read1(1 << 16), b""):
        count += chunk.count(b"\n")
    process.wait()
    raw = time.perf_counter() - start
    assert count == LINES

    start = time.perf_counter()
    run = launch(api, job="printer")
    launched = time.perf_counter() - start
    captured = sum(1 for line in run.log_lines() if line.stream == "stdout")
    assert captured == LINES, captured
    print(f"log capture: raw pipe {LINES / raw / 1e6:.2f}M lines/s, launcher with timestamps "
          f"{LINES / launched / 1e6:.2f}M lines/s, ratio {raw / launched:.2f} (target >= 1M lines/s); "
          f"both include the program producing its output")


def bench_cgroup(api, repeat: int) -> None:
    from launcher import launch
    from launcher.runners import cgroups

    if cgroups.unavailable_reason() is not None:
        print(f"cgroup cost: not measured, {cgroups.unavailable_reason()}")
        return
    with_groups, without = [], []
    saved = cgroups._cached
    for _ in range(repeat):  # alternate, so both see the same machine load
        with_groups.append(median_time(lambda: launch(api, job="trivial"), 1))
        cgroups._cached = (None, "turned off for the benchmark")
        try:
            without.append(median_time(lambda: launch(api, job="trivial"), 1))
        finally:
            cgroups._cached = saved
    cost = statistics.median(with_groups) - statistics.median(without)
    print(f"cgroup cost: launch() with a run cgroup {statistics.median(with_groups) * 1000:.1f} ms, without "
          f"{statistics.median(without) * 1000:.1f} ms: {cost * 1000:+.1f} ms (target <= 5 ms)")


def bench_help(repeat: int) -> None:
    launcher_bin = Path(sys.executable).parent / "launcher"
    bare = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)
    helped = median_time(lambda: subprocess.run([str(launcher_bin), "--help"], check=True,
                                                stdout=subprocess.DEVNULL), repeat)
    print(f"start-up: python -c pass {bare * 1000:.1f} ms, launcher --help {helped * 1000:.1f} ms, "
          f"ratio {helped / bare:.2f}x (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from launcher import Api

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        api = Api(workdir / "home")
        bench_launch(api, workdir, args.repeat)
        bench_cgroup(api, args.repeat)
        bench_capture(api, workdir)
        bench_help(args.repeat)


if __name__ == "__main__":
    main()
