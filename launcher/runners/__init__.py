"""Resources, one runner each, imported only when used (docker and ray are slow to import).

Kept free of imports beyond the error types: every run owner imports this package on each launch."""

from __future__ import annotations

from launcher.errors import ResourceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.runners.base import Runner

LOCAL_PROCESS = "local-process"
LOCAL_CONTAINER = "local-container"
RAY = "ray"

#: resource name -> "module:Class". A new resource is one module and one line here.
RESOURCES: dict[str, str] = {
    LOCAL_PROCESS: "launcher.runners.local_process:LocalProcessRunner",
    LOCAL_CONTAINER: "launcher.runners.local_container:LocalContainerRunner",
    RAY: "launcher.runners.ray:RayRunner",
}

_runners: dict[str, Runner] = {}


def resource_names() -> list[str]:
    return list(RESOURCES)


def get_runner(name: str) -> Runner:
    runner = _runners.get(name)
    if runner is None:
        if name not in RESOURCES:
            raise ResourceError(f"unknown resource {name!r}; expected one of: {', '.join(RESOURCES)}")
        import importlib

        module_name, class_name = RESOURCES[name].split(":")
        runner = _runners[name] = getattr(importlib.import_module(module_name), class_name)()
    return runner
