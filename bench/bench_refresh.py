"""How much the check "was this code job's folder edited?" costs a launch of its latest version.

A folder of 1,000 files (with a .gitignore) is snapshotted as a job; then the folder, unchanged, is
compared with the snapshot's manifest (launcher/jobs/sources/manifest.py) against a baseline measured in
the same run: walking the same folder and stat-ing every file (`os.walk` + `os.lstat`), the least any
check of a folder can do. Target: <= 20 ms for the check.

Run: .venv/bin/python bench/bench_refresh.py [--files N] [--repeat N]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import Api  # noqa: E402
from launcher.jobs.sources.code import ALWAYS_SKIPPED  # noqa: E402
from launcher.jobs.sources.manifest import compare  # noqa: E402


def median_ms(action, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for number in range(args.files):
            path = src / f"pkg{number % 20}" / f"module{number}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"VALUE = {number}\n" * 40)
        (src / ".gitignore").write_text("*.log\nbuild/\n")
        api = Api(Path(tmp) / "workspace")
        job = api.create_job("code", str(src), name="big", entry_point=["python", "pkg0/module0.py"])
        snapshots, digest = api.workspace.snapshots_dir, job.source["snapshot"]

        def check() -> None:
            state = compare(src, snapshots, digest, skip_dirs=ALWAYS_SKIPPED, exclude=(api.home,))
            assert not state.changed and not state.missing

        def walk_and_stat() -> None:
            for directory, _, names in os.walk(src):
                for name in names:
                    os.lstat(os.path.join(directory, name))

        check()
        floor = median_ms(walk_and_stat, args.repeat)
        checked = median_ms(check, args.repeat)
        print(f"refresh check, {args.files} files unchanged: {checked:.1f} ms (target <= 20 ms); "
              f"walk + stat of the same files {floor:.1f} ms; ratio {checked / floor:.1f}x")
        api.close()


if __name__ == "__main__":
    main()
