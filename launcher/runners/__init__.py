"""Resources, one module each, imported only when used (docker and ray are slow to import)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from launcher.errors import ResourceError

if TYPE_CHECKING:
    from launcher.runners.base import Runner

LOCAL_PROCESS = "local-process"
LOCAL_CONTAINER = "local-container"
RAY = "ray"

#: resource name -> "module:Class"
RESOURCES: dict[str, str] = {
    LOCAL_PROCESS: "launcher.runners.local_process:LocalProcessRunner",
    LOCAL_CONTAINER: "launcher.runners.local_container:LocalContainerRunner",
    RAY: "launcher.runners.ray:RayRunner",
}


def resource_names() -> list[str]:
    return list(RESOURCES)


@cache
def get_runner(name: str) -> Runner:
    if name not in RESOURCES:
        raise ResourceError(f"unknown resource {name!r}; expected one of: {', '.join(RESOURCES)}")
    module_name, class_name = RESOURCES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
