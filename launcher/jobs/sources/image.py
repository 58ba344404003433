"""Image sources: a Docker image that runs as it is (its command, or the entry point given); no source tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher.errors import SourceError
from launcher.jobs.refs import slug
from launcher.jobs.sources.base import JobSource, NewSource, RunSource

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$", re.IGNORECASE)


def check_image(image: str) -> str:
    if not isinstance(image, str) or not IMAGE_PATTERN.match(image.strip()):
        raise SourceError(f"docker image {image!r} is not a valid image name; expected e.g. 'python:3.11-slim'")
    return image.strip()


def image_name(image: str) -> str:
    """The repository's last part: `registry:5000/team/trainer:1.2` -> `trainer`."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


class ImageSource(JobSource):
    kind = "image"
    given_as = "a docker image name"
    runs_as_image = True

    def create(self, workspace: Workspace, source: str, *, ref: str | None = None) -> NewSource:
        image = check_image(source)
        return NewSource(slug(image_name(image)), {"image": image}, None)

    def for_run(self, workspace: Workspace, job: JobVersion, version: str | None = None) -> RunSource:
        return RunSource(dict(job.source), None, image=self.image(job.source))

    def image(self, facts: Mapping[str, Any]) -> str | None:
        return facts.get("image")

    def source_key(self, facts: Mapping[str, Any]) -> str | None:
        return None  # the image is what runs; nothing is built from it

    def describe(self, facts: Mapping[str, Any]) -> str:
        return f"image {facts.get('image')}"
