"""`launcher`: with no arguments it opens the TUI; otherwise it runs a subcommand.

COMMANDS maps each subcommand to the module that implements it and a one-line help. A module has
`register(subparsers)`, adding its subcommands with `handler(args, open_api) -> int` as a default;
`open_api()` opens the workspace (LAUNCHER_HOME or --home). Only the module of the command being run is
imported, so `launcher --help` and every command start fast."""

from __future__ import annotations

import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("launcher.cli.launch_commands", "launch a run"),
    "runs": ("launcher.cli.run_commands", "list runs, newest first (runs rm|archive|tag|note|du)"),
    "gc": ("launcher.cli.run_commands", "delete ended runs older than an age"),
    "logs": ("launcher.cli.run_commands", "print a run's output (-f to follow)"),
    "status": ("launcher.cli.run_commands", "show a run's state and details"),
    "cancel": ("launcher.cli.run_commands", "stop a run (SIGTERM, grace period, SIGKILL)"),
    "job": ("launcher.cli.job_commands", "create and inspect jobs"),
    "settings": ("launcher.cli.settings_commands", "show or change the workspace's settings"),
    "queue": ("launcher.cli.queue_commands", "put launches on a queue; list, cancel and remove items"),
    "queues": ("launcher.cli.queue_commands", "list queues with their item counts, and agents"),
    "agent": ("launcher.cli.queue_commands", "take items from queues and launch them (--max-jobs N)"),
    "sweep": ("launcher.cli.sweep_commands", "create, list, pause, resume and cancel sweeps"),
    "metrics": ("launcher.cli.metrics_commands", "print a run's metrics (@metrics lines, wandb, MLflow, TensorBoard)"),
    "compare": ("launcher.cli.compare_commands", "compare runs: configs side by side, final and best metrics"),
    "images": ("launcher.cli.images", "build or check the base image for container runs"),
    "resources": ("launcher.cli.doctor_commands", "which resources can be used here, and why not"),
    "doctor": ("launcher.cli.doctor_commands", "check the workspace and say what to do (--rebuild the run index)"),
}
#: Modules registered on every start (prefer an entry in COMMANDS).
COMMAND_MODULES: list[str] = []

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


OVERVIEW = """usage: launcher [--home HOME] [COMMAND] ...

A local-first experiment launcher. Without a command it opens the terminal UI.

options:
  -h, --help   show this help and exit
  --home HOME  workspace folder (default: $LAUNCHER_HOME or the user data directory)

commands:
{commands}

'launcher COMMAND --help' describes a command."""


def overview() -> str:
    """The top-level help, written without argparse: importing it would double `launcher --help`'s time."""
    width = max(len(name) for name in COMMANDS) + 2
    return OVERVIEW.format(commands="\n".join(f"  {name.ljust(width)}{summary}" for name, (_, summary) in COMMANDS.items()))


def build_parser(command: str | None = None):
    """The parser, with full sub-parsers only for `command` (for all commands with command="*")."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="launcher",
        description="A local-first experiment launcher. Run without arguments to open the terminal UI.")
    parser.add_argument("--home", help="workspace folder (default: $LAUNCHER_HOME or the user data directory)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    wanted = set(COMMAND_MODULES)
    if command == "*":
        wanted.update(module for module, _ in COMMANDS.values())
    elif command in COMMANDS:
        wanted.add(COMMANDS[command][0])
    for module_name in sorted(wanted):
        importlib.import_module(module_name).register(subparsers)
    for name, (_, summary) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def command_word(argv: list[str]) -> str | None:
    """The subcommand in argv (the first word that is not an option or --home's value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--home":
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--help"], ["-h"]):
        print(overview())
        return EXIT_OK
    from launcher.errors import LaunchError

    parser = build_parser(command_word(argv))
    try:
        args = parser.parse_args(argv)  # a flag's own check (e.g. --grace) may refuse its value
    except LaunchError as error:
        print(f"launcher: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    handler = getattr(args, "handler", None)

    def open_api():
        from launcher.api import Api

        return Api(args.home)

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
    except Exception as error:  # noqa: BLE001 - a bug must still not show the user a traceback
        import os

        if os.environ.get("LAUNCHER_DEBUG"):
            raise
        print(f"launcher: internal error: {type(error).__name__}: {error} "
              "(set LAUNCHER_DEBUG=1 to see where)", file=sys.stderr)
        return 70


def open_tui(open_api) -> int:
    try:
        from tui.app import run_app
    except ImportError as error:
        print(f"launcher: the terminal UI is not available ({error}); see 'launcher --help'", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_app(open_api())


if __name__ == "__main__":
    sys.exit(main())
