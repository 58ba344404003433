"""Registry credentials as the docker CLI reads them from its config.json: `credHelpers` (a helper per
registry), `credsStore` (one helper for all), and plain `auths` entries.

The helpers are docker-credential-<name> programs spoken to with the docker-credential-helpers protocol;
the docker SDK implements it (docker.credentials.Store) and its AuthConfig reads config.json and matches
`auths` keys (full URLs, the index's aliases): both are used here, not re-written. What is added: the CLI's
rule that a registry with a helper gets its credentials from that helper only (the SDK falls back to
`auths` entries, which `docker login` leaves empty for helper-kept credentials), and one-line errors
naming the helper, the registry and what to do."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from launcher.containers.endpoints import docker_config_dir
from launcher.errors import ResourceError

DOCKER_HUB = "docker.io"


class CredentialsError(ResourceError):
    """Registry credentials that cannot be read, or that a registry asks for and does not have."""


class CredentialHelperMissing(CredentialsError):
    pass


class CredentialHelperFailed(CredentialsError):
    pass


class CredentialSource(StrEnum):
    AUTHS = "auths"
    CREDS_STORE = "credsStore"
    CRED_HELPERS = "credHelpers"


@dataclass(frozen=True)
class RegistryCredentials:
    """Credentials for one registry and where they came from (`helper` names the docker-credential-*
    program for credsStore and credHelpers). The secret is a password or an identity token."""

    registry: str
    source: CredentialSource
    username: str | None
    secret: str = field(repr=False)
    identity_token: bool = False
    helper: str | None = None

    def auth_config(self) -> dict[str, str]:
        """What the SDK's push(), pull() and get_registry_data() take as `auth_config` (the engine's
        X-Registry-Auth fields)."""
        if self.identity_token:
            return {"identitytoken": self.secret, "serveraddress": self.registry}
        return {"username": self.username or "", "password": self.secret, "serveraddress": self.registry}

    def describe(self) -> str:
        """`user tester (credsStore docker-credential-pass)` -- for messages; never the secret."""
        who = "an identity token" if self.identity_token else f"user {self.username}"
        origin = f"{self.source.value} docker-credential-{self.helper}" if self.helper else f"{self.source.value}"
        return f"{who} ({origin})"


def registry_of(reference: str) -> str:
    """The registry an image reference lives in: `127.0.0.1:5000/team/x:1` -> `127.0.0.1:5000`,
    `python:3.12` -> `docker.io` (the SDK's rules, which are the CLI's)."""
    from docker.auth import resolve_repository_name
    from docker.errors import InvalidRepository
    from docker.utils import parse_repository_tag

    repository, _ = parse_repository_tag(reference)
    try:
        registry, _ = resolve_repository_name(repository)
    except InvalidRepository as error:
        raise CredentialsError(f"image reference {reference!r} is not valid ({error}); "
                               "expected [REGISTRY/]REPOSITORY[:TAG]") from None
    return registry


def credentials_for(registry: str, config_dir: Path | None = None,
                    env: Mapping[str, str] | None = None) -> RegistryCredentials | None:
    """The credentials the docker CLI would send to `registry`, or None when it has none.

    `config_dir` is the docker config folder (default: DOCKER_CONFIG, else ~/.docker). A helper that is
    not on PATH, or that fails, is an error; a helper that has no entry for the registry is None."""
    config_file = (config_dir or docker_config_dir(env)) / "config.json"
    config = _load(config_file)
    helper = config.get_credential_store(registry)
    if helper:
        source = (CredentialSource.CRED_HELPERS if _helper_key(registry) in config.cred_helpers
                  or registry in config.cred_helpers else CredentialSource.CREDS_STORE)
        return _from_helper(registry, helper, source, config_file)
    entry = config.resolve_authconfig(registry)
    if not entry:
        return None
    if entry.get("IdentityToken"):
        return RegistryCredentials(registry, CredentialSource.AUTHS, None, entry["IdentityToken"], identity_token=True)
    if entry.get("username") is None:
        return None  # an empty entry: what `docker login` leaves in auths when a helper keeps the secret
    return RegistryCredentials(registry, CredentialSource.AUTHS, entry["username"], entry.get("password") or "")


def _load(config_file: Path):
    from docker import auth, errors

    try:
        return auth.load_config(config_path=str(config_file)) if config_file.is_file() else auth.AuthConfig({})
    except errors.InvalidConfigFile as error:
        raise CredentialsError(f"the docker config {config_file} has an unreadable auths entry ({error}); "
                               "fix it, or log in again with `docker login`") from None


def _helper_key(registry: str) -> str:
    """The server name a helper is asked about: the CLI keeps Docker Hub's under its old index URL."""
    from docker.auth import INDEX_NAME, INDEX_URL

    return INDEX_URL if registry in (INDEX_NAME, "index.docker.io") else registry


def _from_helper(registry: str, helper: str, source: CredentialSource,
                 config_file: Path) -> RegistryCredentials | None:
    from docker.auth import TOKEN_USERNAME
    from docker.credentials import CredentialsNotFound, Store, StoreError

    program = f"docker-credential-{helper}"
    with warnings.catch_warnings():  # the SDK warns on stderr when the program is missing; we say it below
        warnings.simplefilter("ignore")
        store = Store(helper)
    if store.exe is None:
        raise CredentialHelperMissing(
            f"the credential helper {program} ({source.value} in {config_file}) is not on PATH, so there are no "
            f"credentials for the registry {registry}; install it, or remove {source.value} from that file and "
            f"run `docker login {registry}`")
    try:
        found: dict[str, Any] = store.get(_helper_key(registry))
    except CredentialsNotFound:
        return None
    except StoreError as error:
        raise CredentialHelperFailed(
            f"the credential helper {program} ({source.value} in {config_file}) failed for the registry "
            f"{registry}: {_one_line(str(error))}; fix the helper (unlock its keychain?) or run "
            f"`docker login {registry}` again") from None
    username, secret = found.get("Username") or "", found.get("Secret") or ""
    if username == TOKEN_USERNAME:
        return RegistryCredentials(registry, source, None, secret, identity_token=True, helper=helper)
    return RegistryCredentials(registry, source, username, secret, helper=helper)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
