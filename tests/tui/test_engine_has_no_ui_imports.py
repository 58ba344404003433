"""The engine must never depend on the UI: nothing under launcher/ imports textual or tui."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import launcher

ENGINE = Path(launcher.__file__).parent
FORBIDDEN = ("textual", "tui")
#: The one permitted exception: `launcher` with no arguments opens the TUI, importing it lazily inside
#: this function of the CLI entry point; no engine module does.
ALLOWED = {("launcher/cli/main.py", "open_tui", "tui.app")}


def _imported_modules(path: Path) -> list[tuple[str, str]]:
    """(enclosing function or '<module>', imported module) for every import in the file."""
    found = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            if isinstance(child, ast.Import):
                found.extend((scope, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((scope, child.module))
            elif isinstance(child, ast.Call) and getattr(child.func, "attr", getattr(child.func, "id", "")) == "import_module":
                if child.args and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str):
                    found.append((scope, child.args[0].value))
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return found


def test_no_engine_module_imports_textual_or_tui() -> None:
    offenders = []
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        relative = path.relative_to(ENGINE.parent).as_posix()
        for scope, name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN and (relative, scope, name) not in ALLOWED:
                offenders.append(f"{relative} imports {name} in {scope}")
    assert offenders == []


def test_importing_every_engine_module_loads_no_ui() -> None:
    modules = sorted(".".join(p.relative_to(ENGINE.parent).with_suffix("").parts).removesuffix(".__init__")
                     for p in ENGINE.rglob("*.py"))
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        pass  # an optional extra (e.g. ray) that is not installed\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
