"""What a code or git job's image is built from: the inputs known when the run is launched, and the
build plan made from them once the run's source tree exists (the job's own Dockerfile or a generated one).
Standard library only: the container run's owner makes the plan for a source it checked out itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.images import dockerfile as recipes

if TYPE_CHECKING:
    from launcher.spec import LaunchSpec


def build_inputs(spec: LaunchSpec, base_image: str, repo: str) -> dict[str, Any]:
    """Everything about the build that does not need the source tree (stored in the run's plan)."""
    return {
        "argv": list(spec.argv),
        "requirements": list(spec.requirements),
        "source_key": source_key(spec),
        "base_image": base_image,
        "repo": repo,
        "repository": spec.repository,
        "registry": spec.resource_args.get("registry"),
    }


def build_plan(inputs: dict[str, Any], source: Path) -> dict[str, Any]:
    """The build of the image that runs `inputs` from the source tree at `source`."""
    own = recipes.find_dockerfile(source, inputs["argv"])
    generated = None if own else recipes.generated_dockerfile(inputs["base_image"], bool(inputs["requirements"]))
    return {
        "context": str(source),
        "dockerfile": own,
        "generated": generated,
        "requirements": list(inputs["requirements"]),
        "requirements_file": recipes.REQUIREMENTS_FILE,
        "source_dir": recipes.SOURCE_DIR,
        "source_key": inputs["source_key"],
        "base_image": inputs["base_image"],
        "repo": inputs["repo"],
        "repository": inputs["repository"],
        "registry": inputs["registry"],
    }


def source_key(spec: LaunchSpec) -> str | None:
    """What names the run's source content without reading it (a snapshot digest, a commit), or None."""
    if spec.job_kind is None:
        return None
    from launcher.jobs.sources import get_source

    return get_source(spec.job_kind).source_key(spec.source)
