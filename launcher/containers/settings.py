"""resource_args["local-container"]: checked, then turned into the engine's container settings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from launcher.errors import ResourceError
from launcher.options import Option, OptionKind, grace_option

RESOURCE = "local-container"
DEFAULT_GRACE_SECONDS = 10.0
#: Label keys the launcher sets on every container; users may not override them.
LABEL_RUN, LABEL_JOB, LABEL_WORKSPACE = "launcher.run_id", "launcher.job", "launcher.workspace"
MOUNT_TYPES = ("bind", "volume", "tmpfs")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _bad(key: str, value: Any, expected: str) -> ResourceError:
    return ResourceError(f"resource_args {RESOURCE}.{key} {value!r} is not valid; expected {expected}")


def _word(key: str) -> Any:
    def check(label: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or value.startswith("-") \
                or any(c.isspace() for c in value):
            raise _bad(key, value, "a non-empty string without spaces")
        return value
    return check


def _check_working_dir(label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _bad("working_dir", value, "an absolute path inside the container, e.g. '/app'")
    return value


def _check_labels(label: str, value: Any) -> Mapping[str, Any]:
    labels = _string_map("labels", value)
    reserved = sorted(k for k in labels if k.startswith("launcher."))
    if reserved:
        raise _bad("labels", reserved[0], "label names not starting with 'launcher.' (the launcher sets those)")
    return value


def _check_gpus(label: str, value: Any) -> Any:
    _gpu_count(value)
    return value


def _check_cpus(label: str, value: Any) -> Any:
    import math

    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0 \
            or value > 4096:
        raise _bad("cpus", value, "a number of CPUs > 0, e.g. 1.5")
    return value


def _via(function: Any) -> Any:
    """A checker that runs a conversion for its errors and keeps the value as given."""
    def check(label: str, value: Any) -> Any:
        function(value)
        return value
    return check


def grace_period(args: Mapping[str, Any]) -> float:
    return float(args.get("grace_period", DEFAULT_GRACE_SECONDS))


def environment(args: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in _string_map("env", args.get("env", {})).items()}


def host_settings(args: Mapping[str, Any]) -> dict[str, Any]:
    """The HostConfig part of the container's settings for these resource args."""
    # An init process (the engine's docker-init) as PID 1 forwards signals and reaps zombies: a program
    # that is PID 1 itself ignores SIGTERM unless it handles it, so every cancel would wait out the grace
    # period and end in SIGKILL.
    host: dict[str, Any] = {"Init": args.get("init", True) is not False}
    binds = _binds(args.get("volumes"))
    if binds:
        host["Binds"] = binds
    mounts = _mounts(args.get("mounts"))
    if mounts:
        host["Mounts"] = mounts
    gpus = args.get("gpus")
    if gpus is not None:
        host["DeviceRequests"] = [{"Driver": "", "Count": _gpu_count(gpus), "Capabilities": [["gpu"]]}]
    cpus = args.get("cpus")
    if cpus is not None:
        host["NanoCpus"] = int(_check_cpus("cpus", cpus) * 1e9)
    for key, field in (("memory", "Memory"), ("shm_size", "ShmSize")):
        if args.get(key) is not None:
            host[field] = _size(key, args[key])
    network = args.get("network")
    if isinstance(network, str):
        host["NetworkMode"] = network
    extra = args.get("extra_hosts")
    if extra is not None:
        host["ExtraHosts"] = _extra_hosts(extra)
    return host


def _gpu_count(gpus: Any) -> int:
    if gpus == "all":
        return -1
    if isinstance(gpus, int) and not isinstance(gpus, bool) and 1 <= gpus <= 1024:
        return gpus
    if isinstance(gpus, str) and gpus.isdigit() and 1 <= int(gpus) <= 1024:
        return int(gpus)
    raise _bad("gpus", gpus, "'all' or a number of GPUs from 1 to 1024")


#: The program the Docker engine looks for to give containers NVIDIA GPUs (`--gpus`).
NVIDIA_HOOK = "nvidia-container-runtime-hook"


def gpu_problem(gpus: Any, info: Mapping[str, Any]) -> str | None:
    """Why the engine described by `info` (its /info answer) cannot give containers GPUs, or None.

    The engine registers its GPU driver when the NVIDIA hook is on its PATH, when an 'nvidia' runtime is
    configured, or (newer engines) from NVIDIA CDI specs; the engine of local-container runs on this machine,
    so its files are ours to look at."""
    import shutil

    if "nvidia" in (info.get("Runtimes") or {}) or shutil.which(NVIDIA_HOOK, path=_hook_path()):
        return None
    for folder in info.get("CDISpecDirs") or ():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        if any("nvidia" in name for name in names):
            return None
    return (f"resource_args {RESOURCE}.gpus {gpus!r} cannot be met: the Docker engine on this machine has no GPU "
            f"runtime (no 'nvidia' runtime, no {NVIDIA_HOOK}, no NVIDIA CDI spec); expected a machine with the "
            "NVIDIA Container Toolkit, or leave gpus out")


def _hook_path() -> str:
    # The engine's PATH usually holds the system folders even when ours does not.
    folders = [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    return os.pathsep.join(f for f in folders if f)


def _string_map(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k and isinstance(v, str | int | float)
                                                 and not isinstance(v, bool) for k, v in value.items()):
        raise _bad(key, value, "a mapping of names to string values")
    return value


#: The largest size accepted (memory, shm_size): 1 PiB; anything larger is a typo.
MAX_SIZE = 1 << 50


def _size(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()]) if match else 0
    if not 0 < size <= MAX_SIZE:
        raise _bad(key, value, "a size such as '512m', '2g' or a number of bytes, up to 1 PiB")
    return size


def _binds(volumes: Any) -> list[str]:
    """Docker's `-v` forms: ['host:container[:ro]'] or {host: container} or {host: {'bind': .., 'mode': ..}}."""
    if volumes is None:
        return []
    binds: list[str] = []
    if isinstance(volumes, Mapping):
        for source, target in volumes.items():
            if isinstance(target, Mapping):
                bind, mode = target.get("bind"), target.get("mode", "rw")
            else:
                bind, mode = target, "rw"
            if not isinstance(source, str) or not isinstance(bind, str) or mode not in ("ro", "rw"):
                raise _bad("volumes", {source: target}, "{host_path: container_path} or "
                           "{host_path: {'bind': container_path, 'mode': 'ro'|'rw'}}")
            binds.append(_bind_string(source, bind, mode))
        return binds
    if isinstance(volumes, list | tuple):
        for item in volumes:
            parts = item.split(":") if isinstance(item, str) else []
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise _bad("volumes", item, "'host_path:container_path' or 'host_path:container_path:ro'")
            binds.append(_bind_string(parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"))
        return binds
    raise _bad("volumes", volumes, "a list of 'host_path:container_path[:ro]' or a mapping")


def _bind_string(source: str, target: str, mode: str) -> str:
    if not source or not target.startswith("/"):
        raise _bad("volumes", f"{source}:{target}", "a host path (or volume name) and an absolute container path")
    if "/" in source and not source.startswith("/"):
        raise _bad("volumes", source, "an absolute host path or a volume name")
    _check_host_path("volumes", source)
    return f"{source}:{target}:{mode}"


def _check_host_path(key: str, source: str) -> None:
    # The engine would create a missing bind source as an empty root-owned folder: almost always a typo.
    if source.startswith("/") and not os.path.exists(source):
        raise ResourceError(f"resource_args {RESOURCE}.{key}: host path {source!r} does not exist; expected an "
                            "existing file or folder on this machine")


def _mounts(mounts: Any) -> list[dict[str, Any]]:
    if mounts is None:
        return []
    if not isinstance(mounts, list | tuple):
        raise _bad("mounts", mounts, "a list of {'type', 'source', 'target', 'read_only'} mappings")
    result = []
    for mount in mounts:
        if not isinstance(mount, Mapping) or set(mount) - {"type", "source", "target", "read_only"}:
            raise _bad("mounts", mount, "a mapping with keys type, source, target, read_only")
        kind = mount.get("type", "bind")
        target = mount.get("target")
        if kind not in MOUNT_TYPES or not isinstance(target, str) or not target.startswith("/"):
            raise _bad("mounts", mount, f"type one of {', '.join(MOUNT_TYPES)} and an absolute target")
        entry: dict[str, Any] = {"Type": kind, "Target": target, "ReadOnly": bool(mount.get("read_only", False))}
        if kind != "tmpfs":
            source = mount.get("source")
            if not isinstance(source, str) or not source or (kind == "bind" and not source.startswith("/")):
                raise _bad("mounts", mount, "a source: an absolute host path for bind, a volume name for volume")
            if kind == "bind":
                _check_host_path("mounts", source)
            entry["Source"] = source
        result.append(entry)
    return result


def _extra_hosts(extra: Any) -> list[str]:
    pairs: list[tuple[Any, Any]]
    if isinstance(extra, Mapping):
        pairs = list(extra.items())
    elif isinstance(extra, list | tuple) and all(isinstance(e, str) and ":" in e for e in extra):
        pairs = [tuple(e.split(":", 1)) for e in extra]
    else:
        raise _bad("extra_hosts", extra, "{hostname: ip} or a list of 'hostname:ip'")
    hosts = []
    for name, address in pairs:
        if not isinstance(name, str) or not name or not isinstance(address, str) or not address:
            raise _bad("extra_hosts", {name: address}, "{hostname: ip}")
        hosts.append(f"{name}:{address}")
    return hosts


#: resource_args["local-container"], declared (launcher/options.py).
OPTIONS: tuple[Option, ...] = (
    Option("env", OptionKind.CUSTOM, "environment variables for the program", example='{"SEED": "1"}',
           checker=lambda label, value: _string_map("env", value)),
    Option("volumes", OptionKind.CUSTOM, "bind mounts, as docker run -v", example='["/data:/data:ro"]',
           checker=_via(_binds)),
    Option("mounts", OptionKind.CUSTOM, "mounts, as docker run --mount",
           example='[{"type": "tmpfs", "target": "/scratch"}]', checker=_via(_mounts)),
    Option("gpus", OptionKind.CUSTOM, "GPUs for the container", example="'all' or 2", checker=_check_gpus),
    Option("cpus", OptionKind.CUSTOM, "CPU limit", example="1.5", checker=_check_cpus),
    Option("memory", OptionKind.CUSTOM, "memory limit", example="'2g'", checker=_via(lambda v: _size("memory", v))),
    Option("shm_size", OptionKind.CUSTOM, "size of /dev/shm", example="'1g'",
           checker=_via(lambda v: _size("shm_size", v))),
    Option("network", OptionKind.CUSTOM, "the container's network", example="'host'", checker=_word("network")),
    Option("user", OptionKind.CUSTOM, "user to run the program as", example="'1000:1000'", checker=_word("user")),
    Option("working_dir", OptionKind.CUSTOM, "working directory inside the container", example="'/app'",
           checker=_check_working_dir),
    Option("labels", OptionKind.CUSTOM, "extra container labels", example='{"team": "vision"}',
           checker=_check_labels),
    Option("extra_hosts", OptionKind.CUSTOM, "extra /etc/hosts entries", example='{"db": "10.0.0.5"}',
           checker=_via(_extra_hosts)),
    Option("init", OptionKind.BOOLEAN, "a tiny init as PID 1 (a program without a SIGTERM handler still stops "
           "at once on cancel)", default=True),
    Option("base_image", OptionKind.CUSTOM, "base image of generated Dockerfiles", example="'python:3.11-slim'",
           checker=_word("base_image")),
    Option("registry", OptionKind.CUSTOM, "registry prefix to push built images to",
           example="'localhost:5000/team'", checker=_word("registry")),
    Option("keep", OptionKind.BOOLEAN, "keep the container after the run", default=False),
    grace_option(DEFAULT_GRACE_SECONDS),
)
