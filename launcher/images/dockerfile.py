"""Which Dockerfile builds a job's image: the job's own, or one generated for it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from launcher.jobs.inspect import script_of

#: Names of a job's own Dockerfile, most specific first.
DOCKERFILE_NAMES = ("Dockerfile.launcher", "Dockerfile")
#: Inside the generated build context: the job's source, and its requirements in their own file.
SOURCE_DIR = "src"
REQUIREMENTS_FILE = "requirements.launcher.txt"
APP_DIR = "/app"
VENV_DIR = "/opt/venv"
USER_ID = 1000


def find_dockerfile(source: Path, argv: tuple[str, ...] | list[str]) -> str | None:
    """The job's own Dockerfile (path relative to the source root): beside the entry point's script
    first, then at the root."""
    places = []
    script = script_of(list(argv))
    if script is not None:
        parent = PurePosixPath(script).parent
        if str(parent) not in ("", "."):
            places.append(parent)
    places.append(PurePosixPath("."))
    for place in places:
        for name in DOCKERFILE_NAMES:
            candidate = place / name
            if (source / candidate).is_file():
                return candidate.as_posix()
    return None


def generated_dockerfile(base_image: str, has_requirements: bool) -> str:
    """A Dockerfile for a job without one. Requirements get their own layer before the source, so a code
    change does not reinstall them; the program runs as a non-root user.

    No ENTRYPOINT: every run passes its entry point and arguments when its container is created, so one
    image serves every entry point of a source and a change of entry point needs no build. An ENTRYPOINT
    left out of the tag's hash would be stale in a reused image (misleading for a plain `docker run` of a
    pushed one); one kept in the hash would rebuild for every entry point. Such an image runs the base
    image's command (python3); run it with the job's command: `docker run IMAGE python train.py`."""
    lines = [
        f"FROM {base_image}",
        f"RUN python3 -m venv {VENV_DIR}",
        f"ENV PATH={VENV_DIR}/bin:$PATH VIRTUAL_ENV={VENV_DIR} PYTHONUNBUFFERED=1",
    ]
    if has_requirements:
        lines += [
            f"COPY {REQUIREMENTS_FILE} /tmp/{REQUIREMENTS_FILE}",
            f"RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/{REQUIREMENTS_FILE}",
        ]
    lines += [
        f"RUN useradd --create-home --uid {USER_ID} launcher",
        f"COPY --chown={USER_ID}:{USER_ID} {SOURCE_DIR}/ {APP_DIR}/",
        f"WORKDIR {APP_DIR}",
        "USER launcher",
    ]
    return "\n".join(lines) + "\n"
