"""`launcher images base`: check or build the base image that generated Dockerfiles start from.
`launcher images prune`: remove old images the launcher built, keeping the newest per job."""

from __future__ import annotations

import argparse
import sys
import time

from launcher.cli.main import EXIT_OK, EXIT_RUN_FAILED
from launcher.images.prune import DEFAULT_KEEP


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="images for container runs")
    commands = images.add_subparsers(title="images commands", metavar="COMMAND")
    images.set_defaults(handler=lambda args, open_api: (images.print_help(), EXIT_OK)[1])

    base = commands.add_parser(
        "base", help="build the base image locally from Debian packages (debootstrap), unless it exists",
        description="The base image of generated Dockerfiles, built from Debian packages with debootstrap "
                    "and imported into the Docker engine; no registry is needed. Without options it builds "
                    "the image only when the engine does not have it.")
    base.add_argument("--tag", help="image tag (default: the workspace's base_image setting, "
                                    "$LAUNCHER_BASE_IMAGE, or launcher-base:bookworm)")
    base.add_argument("--check", action="store_true", help="only say whether it exists (exit code 1 if not)")
    base.add_argument("--rebuild", action="store_true", help="build it even when it exists")
    base.add_argument("--mirror", help="Debian mirror for debootstrap (default: $DEBIAN_MIRROR, else the host's apt "
                                       "mirror, else deb.debian.org; the same recipe as scripts/docker-up)")
    base.set_defaults(handler=base_command)

    prune = commands.add_parser(
        "prune", help="remove old images the launcher built (launcher/<job>:<hash>), keeping the newest per job; "
                      "covers every workspace on this Docker engine",
        description="Remove the images the launcher built for container runs (tags launcher/<job>:<hash>), "
                    "except the N most recent per job: recent means built, or used by a run of this "
                    "workspace, whichever is later. Never removed: an image of a run of this workspace "
                    "that is still starting or running, the base image, images given with docker_image= "
                    "or as image jobs, and images a container still uses. Prints each image removed and "
                    "the space freed. It covers every launcher-built image on this Docker engine, including "
                    "those built by other workspaces: images are shared between workspaces by content, so "
                    "another workspace's next run of a job may have to rebuild an image removed here "
                    "(only this workspace's runs count as recent use).")
    prune.add_argument("--keep", metavar="N", default=str(DEFAULT_KEEP),
                       help=f"images to keep per job, 1 or more (default: {DEFAULT_KEEP}: the newest and the one "
                            "before it, so going back one version does not rebuild)")
    prune.add_argument("--dry-run", action="store_true", help="only print what would be removed and freed")
    prune.add_argument("--job", metavar="NAME", help="only this job's images (NAME or launcher/NAME)")
    prune.set_defaults(handler=prune_command)


def base_command(args: argparse.Namespace, open_api) -> int:
    from launcher.containers.engine import Engine
    from launcher.images import base_image

    tag = args.tag or _configured_tag(open_api)
    engine = Engine()
    engine.ping(timeout=2)
    present = base_image.describe(engine, tag)
    if present is not None and not args.rebuild:
        print(f"{tag}: present ({present['id'][7:19]}, {present['size'] / 1e6:.0f} MB)")
        return EXIT_OK
    if args.check:
        print(f"{tag}: missing; build it with: launcher images base", file=sys.stderr)
        return EXIT_RUN_FAILED
    began = time.monotonic()
    built = base_image.build(engine, tag, mirror=args.mirror, progress=lambda line: print(line, flush=True))
    print(f"{tag}: built in {time.monotonic() - began:.0f}s ({built['id'][7:19]}, {built['size'] / 1e6:.0f} MB)")
    return EXIT_OK


def prune_command(args: argparse.Namespace, open_api) -> int:
    from launcher.images.prune import format_size, parse_keep, prune_images

    keep = parse_keep(args.keep)  # before opening anything: a bad value is the whole answer
    api = open_api()
    try:
        report = prune_images(api.workspace, keep=keep, dry_run=args.dry_run, job=args.job)
    finally:
        api.close()
    verb = "would remove" if report.dry_run else "removed"
    for removal in report.removed:
        freed = f"{format_size(removal.freed)} freed" if removal.freed else "untagged only, other tags keep the image"
        print(f"{verb} {removal.tag} ({removal.image_id[7:19]}, {freed})")
    for kept in report.kept:
        print(f"kept {kept.tag}: {kept.reason}")
    count = len(report.removed)
    space = format_size(report.freed)
    print(f"{verb} {count} image tag{'s' if count != 1 else ''}; "
          f"{'would free' if report.dry_run else 'freed'} {space} (keeping {report.keep} per job; launcher images "
          "of every workspace on this Docker engine)")
    return EXIT_OK


def _configured_tag(open_api) -> str:
    import os

    from launcher.runners.local_container import BASE_IMAGE_ENV, BASE_IMAGE_SETTING, DEFAULT_BASE_IMAGE

    api = open_api()
    try:
        return os.environ.get(BASE_IMAGE_ENV) or api.get_setting(BASE_IMAGE_SETTING) or DEFAULT_BASE_IMAGE
    finally:
        api.close()
