"""Environment benchmarks, each against a baseline measured in the same run:

1. first build of the environment of a project whose conda.yaml lists numpy, pandas and scikit-learn
   under `pip:` (and `python=`, the version this runs on), with the launcher's builder
   (launcher.envs.uv_env.ensure_environment, from reading the project to the environment renamed into
   place), against doing the same by hand: `uv venv` + `uv pip install` (target: within 1.15x); and
   `python -m venv` + `pip install`, to show what uv buys;
2. cached lookup: ensure_environment and find_environment for an environment that is ready;
3. a whole first launch on local-process (job created, environment built in the run's set-up phase,
   program run) against `uv venv` + `uv pip install` + `python train.py` by hand (target: within 1.15x),
   and a cached launch (environment ready) against running the program in that environment directly
   (target: within 1.2x + 0.3 s).

Every build goes to a fresh folder. By default the uv cache (and pip's) is warm: one untimed build first,
so the figures compare the tools, not the network. `--cold` gives each uv build a fresh, empty uv cache
(downloads included; pip keeps its own cache).

Run: .venv/bin/python bench/bench_envs.py [--repeat N] [--cold] [--no-pip]"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PACKAGES = ("numpy", "pandas", "scikit-learn")


def project(root: Path) -> Path:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    root.mkdir(parents=True)
    (root / "MLproject").write_text("name: bench\nconda_env: conda.yaml\nentry_points:\n  main:\n"
                                    "    command: python train.py\n")
    (root / "conda.yaml").write_text(f"name: bench\ndependencies:\n  - python={version}\n  - pip\n  - pip:\n"
                                     + "".join(f"    - {name}\n" for name in PACKAGES))
    (root / "train.py").write_text("import numpy, pandas, sklearn\nprint('ok')\n")
    return root


def timed(action: Callable[[Path], None], workdir: Path, label: str, count: int, cold: bool) -> list[float]:
    samples = []
    for attempt in range(count):
        target = workdir / f"{label}-{attempt}"
        cache = workdir / f"uv-cache-{label}-{attempt}"
        environ_patch = {"UV_CACHE_DIR": str(cache)} if cold else {}
        with patched_environ(environ_patch):
            start = time.perf_counter()
            action(target)
            samples.append(time.perf_counter() - start)
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return samples


class patched_environ:
    def __init__(self, values: dict[str, str]) -> None:
        import os

        self.environ = os.environ
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = self.environ.get(key)
            self.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                self.environ.pop(key, None)
            else:
                self.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="a fresh uv cache for every uv build")
    parser.add_argument("--no-pip", action="store_true", help="skip the python -m venv + pip install baseline")
    options = parser.parse_args()

    from launcher.envs import interpreters
    from launcher.envs.pip_config import read_pip_settings
    from launcher.envs.uv_env import ensure_environment, find_environment, uv_binary
    from launcher.jobs.inspect import describe_source, read_from_dir

    uv = uv_binary()
    python = interpreters.current_interpreter().path
    settings = read_pip_settings()
    index_options = settings.uv_arguments()
    environ = interpreters.uv_environment()
    environ.update(settings.uv_environment(environ))

    def builder(target: Path) -> None:
        declared = describe_source(read_from_dir(source)).dependencies
        ensure_environment(declared, target, settings=settings)

    def by_hand_uv(target: Path) -> None:
        import os

        env = {**environ, **{k: v for k, v in os.environ.items() if k == "UV_CACHE_DIR"}}
        subprocess.run([uv, "venv", "-q", "--python", python, str(target)], check=True, env=env)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(target / "bin" / "python"), *index_options,
                        *PACKAGES], check=True, env=env)

    def by_hand_pip(target: Path) -> None:
        subprocess.run([python, "-m", "venv", str(target)], check=True)
        subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *PACKAGES], check=True, stderr=subprocess.DEVNULL)

    with tempfile.TemporaryDirectory(prefix="bench-envs-") as scratch:
        workdir = Path(scratch)
        source = project(workdir / "project")
        if not options.cold:
            print("warming the uv cache (untimed)...", flush=True)
            timed(by_hand_uv, workdir, "warm", 1, cold=False)
        hand, built = [], []
        for _ in range(options.repeat):  # alternate, so both see the same machine load
            hand += timed(by_hand_uv, workdir, "hand", 1, options.cold)
            built += timed(builder, workdir, "builder", 1, options.cold)
        hand_median, built_median = statistics.median(hand), statistics.median(built)
        print(f"first build, {' '.join(PACKAGES)} ({'cold' if options.cold else 'warm'} uv cache, median of "
              f"{options.repeat}): uv venv + uv pip install {hand_median:.2f} s, builder {built_median:.2f} s, "
              f"ratio {built_median / hand_median:.2f}x (target <= 1.15x)")
        if not options.no_pip:
            timed(by_hand_pip, workdir, "pip-warm", 1, cold=False)  # pip's own cache warm, as uv's
            pip = statistics.median(timed(by_hand_pip, workdir, "pip", max(1, options.repeat // 2), cold=False))
            print(f"python -m venv + pip install {pip:.2f} s: the builder takes {built_median / pip:.2f}x of it "
                  f"({pip / built_median:.1f}x faster)")

        envs_dir = workdir / "cached"
        declared = describe_source(read_from_dir(source)).dependencies
        ready = ensure_environment(declared, envs_dir, settings=settings)
        lookups = 200
        start = time.perf_counter()
        for _ in range(lookups):
            assert not ensure_environment(declared, envs_dir, settings=settings).built
        ensured = (time.perf_counter() - start) / lookups
        start = time.perf_counter()
        for _ in range(lookups):
            assert find_environment(declared, envs_dir, settings=settings).path == ready.path
        found = (time.perf_counter() - start) / lookups
        start = time.perf_counter()
        for _ in range(lookups):
            describe_source(read_from_dir(source))
        read = (time.perf_counter() - start) / lookups
        print(f"cached lookup: ensure_environment {ensured * 1000:.2f} ms, find_environment {found * 1000:.2f} ms "
              f"(reading the project's declarations: {read * 1000:.2f} ms) against the build {built_median:.2f} s")
        check = subprocess.run([str(ready.python), str(source / "train.py")], capture_output=True, text=True)
        print(f"the environment runs the project: {check.stdout.strip() or check.stderr.strip()}")
        bench_launches(source, workdir, options, by_hand_uv)


def bench_launches(source: Path, workdir: Path, options, by_hand_uv) -> None:
    """Whole launches: first (each in a new workspace, so its environment is built) and cached."""
    from launcher import Api, launch

    def first_launch(target: Path) -> None:
        with Api(target) as api:
            api.create_job("code", str(source), name="bench")
            run = launch(api, job="bench")
            assert run.get_logs() == "ok\n", run.get_logs()

    def by_hand(target: Path) -> None:
        by_hand_uv(target)
        subprocess.run([str(target / "bin" / "python"), str(source / "train.py")], check=True,
                       stdout=subprocess.DEVNULL)

    hand, launched = [], []
    for _ in range(options.repeat):
        hand += timed(by_hand, workdir, "launch-hand", 1, options.cold)
        launched += timed(first_launch, workdir, "launch-first", 1, options.cold)
    hand_median, launched_median = statistics.median(hand), statistics.median(launched)
    print(f"first launch on local-process ({'cold' if options.cold else 'warm'} uv cache, median of "
          f"{options.repeat}): by hand (uv venv + uv pip install + python train.py) {hand_median:.2f} s, "
          f"launch() {launched_median:.2f} s, ratio {launched_median / hand_median:.2f}x (target <= 1.15x)")

    with Api(workdir / "cached-launch") as api:
        api.create_job("code", str(source), name="bench")
        launch(api, job="bench")
        env_python = next(p for p in (api.workspace.envs_dir).glob("uv-*/bin/python"))
        direct = []
        cached = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            subprocess.run([str(env_python), str(source / "train.py")], check=True, stdout=subprocess.DEVNULL)
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            launch(api, job="bench")
            cached.append(time.perf_counter() - start)
        direct_median, cached_median = statistics.median(direct), statistics.median(cached)
        print(f"cached launch: the program in its environment directly {direct_median:.2f} s, launch() "
              f"{cached_median:.2f} s, ratio {cached_median / direct_median:.2f}x; target <= 1.2x + 0.3 s, "
              f"i.e. <= {direct_median * 1.2 + 0.3:.2f} s")


if __name__ == "__main__":
    main()
