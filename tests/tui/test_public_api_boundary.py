"""The TUI uses only the engine's public API: no `.store` access, no imports of engine internals."""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "tui"


def public_modules() -> tuple[str, ...]:
    import launcher

    return launcher.PUBLIC_MODULES


def violations(source: str, where: str, public: tuple[str, ...]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            found.append(f"{where}:{node.lineno}: uses .store (engine internals)")
        elif isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno}: imports {alias.name}" for alias in node.names
                      if alias.name.split(".")[0] == "launcher" and alias.name not in public]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "launcher":
                continue
            if node.module not in public:
                found.append(f"{where}:{node.lineno}: imports from {node.module}")
            elif node.module == "launcher":  # `from launcher import x`: x must be public too, if a module
                found += [f"{where}:{node.lineno}: imports launcher.{alias.name}" for alias in node.names
                          if _is_module("launcher." + alias.name) and f"launcher.{alias.name}" not in public]
    return found


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_tui_modules_use_only_the_public_engine_api() -> None:
    public = public_modules()
    files = sorted(TUI.rglob("*.py"))
    assert len(files) > 10
    problems = [p for path in files for p in violations(path.read_text(), str(path.relative_to(TUI.parent)), public)]
    assert problems == []


def test_the_check_catches_store_access_and_private_imports() -> None:
    public = public_modules()
    bad = ("from launcher.sweeps import create_sweep\nimport launcher.store\nfrom launcher import runners\n"
           "def f(api):\n    return api.store.run_events('x')\n")
    assert len(violations(bad, "bad.py", public)) == 4
    good = "from launcher.errors import LaunchError\nfrom launcher import Api\nimport launcher.queue\n"
    assert violations(good, "good.py", public) == []
