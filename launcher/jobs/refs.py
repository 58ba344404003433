"""Job references in W&B's form: `entity/project/name:alias` (entity and project may be left out)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from launcher.errors import JobError

_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_REF = re.compile(rf"^(?:(?:(?P<entity>{_PART})/)?(?P<project>{_PART})/)?(?P<name>{_PART})(?::(?P<alias>{_PART}))?$")
ALIAS_PATTERN = re.compile(rf"^{_PART}$")
VERSION_ALIAS = re.compile(r"^v(\d+)$")
LATEST = "latest"


@dataclass(frozen=True)
class JobRef:
    entity: str
    project: str
    name: str
    alias: str = LATEST

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}:{self.alias}"

    @property
    def base(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"


def parse_job_ref(text: str, *, default_entity: str, default_project: str) -> JobRef:
    if not isinstance(text, str):
        raise JobError(f"job reference must be a string like 'entity/project/name:alias', got {text!r}")
    match = _REF.match(text.strip())
    if not match:
        raise JobError(f"job reference {text!r} is malformed; expected 'entity/project/name:alias' "
                       "(entity, project and alias optional; letters, digits, '_', '.', '-')")
    return JobRef(entity=match["entity"] or default_entity, project=match["project"] or default_project,
                  name=match["name"], alias=match["alias"] or LATEST)


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not re.match(rf"^{_PART}$", value):
        raise JobError(f"{kind} {value!r} is not valid; expected letters, digits, '_', '.' or '-' "
                       "(starting with a letter or digit)")
    return value


def slug(text: str) -> str:
    """A job name derived from a directory, repository or image name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")
    return cleaned[:100] or "job"
