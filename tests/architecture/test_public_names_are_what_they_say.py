"""`from launcher import launch` is the launch() function whatever was imported before it (a submodule of
the same name would shadow it once imported, so there is none)."""

from __future__ import annotations

import subprocess
import sys


def test_launch_is_the_function_after_every_engine_module_is_imported():
    script = ("import importlib, pkgutil, launcher\n"
              "for m in pkgutil.walk_packages(launcher.__path__, 'launcher.'):\n"
              "    if not m.name.startswith(('launcher.tracking', 'launcher.cli')):\n"
              "        importlib.import_module(m.name)\n"
              "from launcher import launch, launch_add, Api\n"
              "assert callable(launch) and launch.__name__ == 'launch', launch\n"
              "assert launch_add.__name__ == 'launch_add' and Api.__name__ == 'Api'\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
