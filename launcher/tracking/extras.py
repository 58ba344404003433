"""Optional tracking libraries: imported when a reader needs one, with one clear line when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from launcher.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import `module` (e.g. "wandb.proto.wandb_internal_pb2") or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"reading {extra} metrics needs the {extra} package ({error.name or module} is missing): "
            f"install launcher[{extra}]") from None
