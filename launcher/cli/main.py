"""`launcher`: with no arguments it opens the TUI; otherwise it runs a subcommand.

Each module in COMMAND_MODULES has `register(subparsers)`, adding subcommands whose parsers carry
`handler(args, open_api) -> int` as a default. `open_api()` opens the workspace (LAUNCHER_HOME or --home)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

COMMAND_MODULES = [
    "launcher.cli.launch_commands",
    "launcher.cli.run_commands",
    "launcher.cli.job_commands",
]

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launcher",
        description="A local-first experiment launcher. Run without arguments to open the terminal UI.")
    parser.add_argument("--home", help="workspace folder (default: $LAUNCHER_HOME or the user data directory)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable | None = getattr(args, "handler", None)

    def open_api():
        from launcher.api import Api

        return Api(args.home)

    from launcher.errors import LaunchError

    try:
        if handler is None:
            return open_tui(open_api)
        return handler(args, open_api)
    except LaunchError as error:
        print(f"launcher: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("launcher: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def open_tui(open_api) -> int:
    try:
        from tui.app import run_app
    except ImportError as error:
        print(f"launcher: the terminal UI is not available ({error}); see 'launcher --help'", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_app(open_api())


if __name__ == "__main__":
    sys.exit(main())
