"""`launcher settings`: the workspace's settings (default entity and project, base image, Ray address)."""

from __future__ import annotations

import argparse

from launcher.cli.main import EXIT_OK
from launcher.errors import SpecError


def register(subparsers) -> None:
    parser = subparsers.add_parser("settings", help="show or change the workspace's settings",
                                   description="Without arguments: every setting and its value. "
                                               "With NAME: its value. With NAME VALUE: set it ('' clears it).")
    parser.add_argument("name", nargs="?", help="a setting's name (without arguments: all of them)")
    parser.add_argument("value", nargs="?")
    parser.set_defaults(handler=settings_command)


def settings_command(args: argparse.Namespace, open_api) -> int:
    from launcher.settings import declared

    options = declared()
    if args.name is not None and args.name not in options:
        raise SpecError(f"setting {args.name!r} is not known; expected one of: {', '.join(options)}")
    api = open_api()
    if args.name is None:
        for name, option in options.items():
            value = api.get_setting(name)
            print(f"{name:16} {'-' if value is None else value:32} {option.help} (default: {option.default})")
    elif args.value is None:
        value = api.get_setting(args.name)
        print("-" if value is None else value)
    else:
        api.set_setting(args.name, args.value or None)  # checked there: a bad value is never stored
    return EXIT_OK
