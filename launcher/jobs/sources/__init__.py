"""Job sources, one module each (a JobSource: launcher/jobs/sources/base.py), imported only when used.

Kept free of imports beyond the error types: every run owner that checks a source out imports this."""

from __future__ import annotations

from launcher.errors import JobError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.jobs.sources.base import JobSource

CODE = "code"
GIT = "git"
IMAGE = "image"

#: job kind -> "module:Class". A new kind of source is one module and one line here.
SOURCES: dict[str, str] = {
    CODE: "launcher.jobs.sources.code:CodeSource",
    GIT: "launcher.jobs.sources.git:GitSource",
    IMAGE: "launcher.jobs.sources.image:ImageSource",
}

_sources: dict[str, JobSource] = {}


def source_kinds() -> list[str]:
    return list(SOURCES)


def get_source(kind: str) -> JobSource:
    source = _sources.get(kind)
    if source is None:
        if kind not in SOURCES:
            raise JobError(f"job kind {kind!r} is not known; expected one of: {', '.join(SOURCES)}")
        import importlib

        module_name, class_name = SOURCES[kind].split(":")
        source = _sources[kind] = getattr(importlib.import_module(module_name), class_name)()
    return source


def versioned_kinds() -> list[str]:
    """The kinds whose jobs take a version (a branch, tag or commit) at launch."""
    return [kind for kind in SOURCES if get_source(kind).takes_version]
