"""Pushing and pulling images through the docker SDK with the registry's credentials (credentials.py),
a push verified against the registry, and one-line errors that say which registry wants what.

The engine talks to the registry, not this process: a remote engine (ssh://, tcp://) pushes from where it
is, with the credentials sent along in the request (the SDK's `auth_config`, the X-Registry-Auth header).
An empty `auth_config` is sent when there are none, so the SDK does not look them up a second time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.containers.credentials import (
    CredentialsError,
    RegistryCredentials,
    credentials_for,
    registry_of,
)
from launcher.errors import ResourceError

if TYPE_CHECKING:
    import docker

#: Words engines and registries use when a registry wants credentials it did not get or did not accept.
_AUTH_REFUSALS = ("no basic auth credentials", "unauthorized", "authentication required", "access denied",
                  "access to the resource is denied", "401")
StatusCallback = Callable[[str], None]


class TransferError(ResourceError):
    """A push or pull the engine or the registry refused for a reason other than credentials."""


class CredentialsRequired(CredentialsError):
    pass


class CredentialsRejected(CredentialsError):
    pass


@dataclass(frozen=True)
class PushedImage:
    reference: str
    digest: str  # the manifest digest the registry serves for `reference`, checked after the push


@dataclass(frozen=True)
class PulledImage:
    reference: str
    image_id: str


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag), the tag `latest` when none is given; a digest reference keeps its digest."""
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(reference)
    return repository, tag or "latest"


def push(client: docker.DockerClient, reference: str, *, credentials: RegistryCredentials | None = None,
         config_dir: Path | None = None, on_status: StatusCallback | None = None) -> PushedImage:
    """Push `reference` (already tagged in the engine) and check that the registry now serves the pushed
    manifest. Credentials: `credentials`, else those of the docker config for the reference's registry."""
    import docker.errors

    registry = registry_of(reference)
    if credentials is None:
        credentials = credentials_for(registry, config_dir)
    repository, tag = split_reference(reference)
    auth = credentials.auth_config() if credentials is not None else {}
    digest = None
    try:
        for message in _messages(client.api.push(repository, tag=tag, auth_config=auth, stream=True, decode=True)):
            digest = (message.get("aux") or {}).get("Digest") or digest
            _report(message, on_status)
    except _StreamError as error:
        raise _refusal(registry, reference, str(error), credentials, "push") from None
    except docker.errors.APIError as error:
        raise _refusal(registry, reference, _api_message(error), credentials, "push") from None
    if digest is None:
        raise TransferError(f"pushing {reference} ended without the registry's digest; the push may not have "
                            "completed, try again")
    served = _registry_digest(client, reference, auth, registry, credentials)
    if served != digest:
        raise TransferError(f"after pushing {reference} the registry {registry} serves {served}, not the pushed "
                            f"{digest}; another push to the same tag may have raced this one")
    return PushedImage(reference, digest)


def pull(client: docker.DockerClient, reference: str, *, credentials: RegistryCredentials | None = None,
         config_dir: Path | None = None, on_status: StatusCallback | None = None) -> PulledImage:
    """Pull `reference` into the engine with the registry's credentials."""
    import docker.errors

    registry = registry_of(reference)
    if credentials is None:
        credentials = credentials_for(registry, config_dir)
    repository, tag = split_reference(reference)
    auth = credentials.auth_config() if credentials is not None else {}
    try:
        for message in _messages(client.api.pull(repository, tag=tag, auth_config=auth, stream=True, decode=True)):
            _report(message, on_status)
        image = client.images.get(reference)
    except _StreamError as error:
        raise _refusal(registry, reference, str(error), credentials, "pull") from None
    except docker.errors.APIError as error:
        raise _refusal(registry, reference, _api_message(error), credentials, "pull") from None
    return PulledImage(reference, image.id)


class _StreamError(Exception):
    """An error message in a push or pull progress stream."""


def _messages(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for message in stream:
        if "error" in message or "errorDetail" in message:
            detail = (message.get("errorDetail") or {}).get("message") or message.get("error") or "no reason given"
            raise _StreamError(" ".join(str(detail).split()))
        yield message


def _report(message: dict[str, Any], on_status: StatusCallback | None) -> None:
    """Step lines (`abc123: Pushed`), not every byte counter."""
    status = message.get("status")
    if on_status is not None and status and not message.get("progress"):
        on_status(f"{message['id']}: {status}" if message.get("id") else status)


def _registry_digest(client: docker.DockerClient, reference: str, auth: dict[str, str], registry: str,
                     credentials: RegistryCredentials | None) -> str:
    """The digest the registry serves for `reference`, asked through the engine (which reaches the
    registry from where it runs, like the push did)."""
    import docker.errors

    try:
        return client.images.get_registry_data(reference, auth_config=auth).id
    except docker.errors.APIError as error:
        raise _refusal(registry, reference, _api_message(error), credentials, "check the push of") from None


def _api_message(error: Any) -> str:
    return " ".join(str(getattr(error, "explanation", None) or error).split())


def _refusal(registry: str, reference: str, message: str, credentials: RegistryCredentials | None,
             action: str) -> ResourceError:
    lowered = message.lower()
    if any(marker in lowered for marker in _AUTH_REFUSALS):
        if credentials is None:
            return CredentialsRequired(f"the registry {registry} asks for credentials to {action} {reference} and "
                                       f"there are none for it; run `docker login {registry}`")
        return CredentialsRejected(f"the registry {registry} refused {credentials.describe()} to {action} "
                                   f"{reference} ({message[:200]}); run `docker login {registry}` again")
    return TransferError(f"{action} {reference} failed: {message[:300]}")
