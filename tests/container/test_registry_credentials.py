"""Registry credentials as the docker CLI keeps them (`docker login` with plain auths, with a credsStore
helper, with per-registry credHelpers), used to push to and pull from a real registry with htpasswd basic
auth through the docker SDK; and one-line errors when there are none, or the helper is missing or fails."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import pytest

from launcher.containers.credentials import (
    CredentialHelperFailed,
    CredentialHelperMissing,
    CredentialSource,
    credentials_for,
    registry_of,
)
from launcher.containers.image_transfer import CredentialsRejected, CredentialsRequired, pull, push
from launcher.errors import ResourceError
from tests.container.conftest import MAIN_HOST
from tests.container.engines import import_tiny_image, private_folder


@pytest.fixture(scope="session")
def tiny_on_main_engine(engine_ready) -> str:
    """The tiny image in the machine's engine (removed with the session's other launcher-test/ images)."""
    import shutil

    root = private_folder("ltm")
    try:
        return import_tiny_image(MAIN_HOST, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def image_for(docker_client, tiny_on_main_engine):
    """image_for(registry) -> a new reference in that registry, tagged in the engine."""

    def tag(address: str) -> str:
        reference = f"{address}/team/tiny:{uuid.uuid4().hex[:12]}"
        repository, name = reference.rsplit(":", 1)
        docker_client.images.get(tiny_on_main_engine).tag(repository, name)
        return reference

    return tag


def docker_login(registry) -> subprocess.CompletedProcess:
    """The real `docker login`, with the password on stdin; it writes to DOCKER_CONFIG's config.json."""
    return subprocess.run(["docker", "-H", MAIN_HOST, "login", registry.address, "--username", registry.login.username,
                           "--password-stdin"], input=registry.login.password, capture_output=True, text=True,
                          timeout=60)


def one_line(caught: pytest.ExceptionInfo) -> str:
    message = str(caught.value)
    assert isinstance(caught.value, ResourceError)
    assert message and "\n" not in message and registry_secret_absent(message)
    return message


def registry_secret_absent(message: str) -> bool:
    return "s3cret-pass" not in message


def split(reference: str) -> tuple[str, str]:
    repository, tag = reference.rsplit(":", 1)
    return repository.split("/", 1)[1], tag


def test_docker_login_with_plain_auths_then_push(docker_config, docker_client, htpasswd_registry, image_for):
    login = docker_login(htpasswd_registry)
    assert login.returncode == 0, login.stderr
    stored = json.loads((docker_config / "config.json").read_text())["auths"][htpasswd_registry.address]
    assert base64.b64decode(stored["auth"]).decode() == "tester:s3cret-pass"  # plain auths, as the CLI wrote it
    reference = image_for(htpasswd_registry.address)

    found = credentials_for(htpasswd_registry.address)
    pushed = push(docker_client, reference)

    assert (found.source, found.username, found.helper) == (CredentialSource.AUTHS, "tester", None)
    assert "s3cret" not in repr(found)
    assert pushed.digest == htpasswd_registry.manifest_digest(*split(reference))


def test_docker_login_into_a_creds_store_helper_then_push(docker_config, docker_client, htpasswd_registry,
                                                          image_for, credential_helpers):
    helper = credential_helpers("launcher-test")
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "launcher-test"}))
    login = docker_login(htpasswd_registry)
    assert login.returncode == 0, login.stderr
    assert helper.stored() == {htpasswd_registry.address: {"Username": "tester", "Secret": "s3cret-pass"}}
    reference = image_for(htpasswd_registry.address)

    found = credentials_for(htpasswd_registry.address)
    pushed = push(docker_client, reference)

    assert (found.source, found.username, found.helper) == (CredentialSource.CREDS_STORE, "tester", "launcher-test")
    assert pushed.digest == htpasswd_registry.manifest_digest(*split(reference))


def test_cred_helpers_name_a_helper_per_registry(docker_config, docker_client, htpasswd_registry, image_for,
                                                 credential_helpers):
    """credHelpers wins over credsStore for its registry, even when the credsStore helper is not installed."""
    helper = credential_helpers("per-registry")
    (docker_config / "config.json").write_text(json.dumps({
        "credsStore": "not-installed", "credHelpers": {htpasswd_registry.address: "per-registry"}}))
    login = docker_login(htpasswd_registry)
    assert login.returncode == 0, login.stderr
    assert helper.stored()[htpasswd_registry.address]["Username"] == "tester"
    reference = image_for(htpasswd_registry.address)

    found = credentials_for(htpasswd_registry.address)
    pushed = push(docker_client, reference)

    assert (found.source, found.helper) == (CredentialSource.CRED_HELPERS, "per-registry")
    assert pushed.digest == htpasswd_registry.manifest_digest(*split(reference))


def test_docker_logout_erases_from_the_helper(docker_config, htpasswd_registry, credential_helpers):
    helper = credential_helpers("launcher-test")
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "launcher-test"}))
    assert docker_login(htpasswd_registry).returncode == 0
    from docker.credentials import Store

    assert Store("launcher-test").list() == {htpasswd_registry.address: "tester"}  # the SDK speaks to it too

    logout = subprocess.run(["docker", "logout", htpasswd_registry.address], capture_output=True, text=True,
                            timeout=60)

    assert logout.returncode == 0, logout.stderr
    assert helper.stored() == {}
    assert credentials_for(htpasswd_registry.address) is None


def test_no_credentials_for_a_registry_that_asks_for_them(docker_config, docker_client, htpasswd_registry, image_for):
    reference = image_for(htpasswd_registry.address)

    with pytest.raises(CredentialsRequired) as caught:
        push(docker_client, reference)

    assert one_line(caught) == (f"the registry {htpasswd_registry.address} asks for credentials to push {reference} "
                                f"and there are none for it; run `docker login {htpasswd_registry.address}`")
    assert htpasswd_registry.manifest_digest(*split(reference)) is None


def test_a_helper_without_an_entry_for_the_registry(docker_config, docker_client, htpasswd_registry, image_for,
                                                    credential_helpers):
    credential_helpers("launcher-test")
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "launcher-test"}))

    assert credentials_for(htpasswd_registry.address) is None
    with pytest.raises(CredentialsRequired) as caught:
        push(docker_client, image_for(htpasswd_registry.address))
    assert f"run `docker login {htpasswd_registry.address}`" in one_line(caught)


def test_wrong_password(docker_config, docker_client, htpasswd_registry, image_for):
    wrong = base64.b64encode(b"tester:not-the-password").decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {htpasswd_registry.address: {"auth": wrong}}}))
    reference = image_for(htpasswd_registry.address)

    with pytest.raises(CredentialsRejected) as caught:
        push(docker_client, reference)

    message = one_line(caught)
    assert message.startswith(f"the registry {htpasswd_registry.address} refused user tester (auths) to push "
                              f"{reference} (")
    assert message.endswith(f"run `docker login {htpasswd_registry.address}` again")


def test_credential_helper_not_on_path(docker_config, docker_client, htpasswd_registry, image_for):
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "nowhere-to-be-found"}))

    with pytest.raises(CredentialHelperMissing) as caught:
        push(docker_client, image_for(htpasswd_registry.address))

    assert one_line(caught) == (
        f"the credential helper docker-credential-nowhere-to-be-found (credsStore in {docker_config / 'config.json'}) "
        f"is not on PATH, so there are no credentials for the registry {htpasswd_registry.address}; install it, or "
        f"remove credsStore from that file and run `docker login {htpasswd_registry.address}`")


def test_credential_helper_that_fails(docker_config, htpasswd_registry, credential_helpers):
    credential_helpers("locked", fail_with="the keychain is locked\nunlock it first")
    (docker_config / "config.json").write_text(json.dumps({"credHelpers": {htpasswd_registry.address: "locked"}}))

    with pytest.raises(CredentialHelperFailed) as caught:
        credentials_for(htpasswd_registry.address)

    message = one_line(caught)
    assert message.startswith(f"the credential helper docker-credential-locked (credHelpers in "
                              f"{docker_config / 'config.json'}) failed for the registry {htpasswd_registry.address}: ")
    assert "the keychain is locked unlock it first" in message


def test_pull_a_private_image(docker_config, docker_client, htpasswd_registry, image_for):
    assert docker_login(htpasswd_registry).returncode == 0
    reference = image_for(htpasswd_registry.address)
    pushed = push(docker_client, reference)
    image_id = docker_client.images.get(reference).id
    docker_client.images.remove(reference)

    pulled = pull(docker_client, reference)

    assert pulled.image_id == image_id
    assert docker_client.images.get(reference).attrs["RepoDigests"][0].endswith(pushed.digest)


def test_pull_a_private_image_without_credentials(docker_config, docker_client, htpasswd_registry, image_for):
    reference = image_for(htpasswd_registry.address)
    (docker_config / "config.json").write_text(json.dumps({"auths": {htpasswd_registry.address: {
        "auth": base64.b64encode(b"tester:s3cret-pass").decode()}}}))
    push(docker_client, reference)
    docker_client.images.remove(reference)
    (docker_config / "config.json").unlink()

    with pytest.raises(CredentialsRequired) as caught:
        pull(docker_client, reference)

    assert one_line(caught) == (f"the registry {htpasswd_registry.address} asks for credentials to pull {reference} "
                                f"and there are none for it; run `docker login {htpasswd_registry.address}`")


def test_open_registry_needs_no_credentials(docker_config, docker_client, plain_registry, image_for):
    reference = image_for(plain_registry.address)

    pushed = push(docker_client, reference)

    assert credentials_for(plain_registry.address) is None
    assert pushed.digest == plain_registry.manifest_digest(*split(reference))


def test_emptied_registry_forgets_its_images(docker_config, docker_client, plain_registry, image_for):
    reference = image_for(plain_registry.address)
    push(docker_client, reference)

    plain_registry.empty()

    assert plain_registry.manifest_digest(*split(reference)) is None


@pytest.mark.parametrize(("reference", "registry"), [
    ("python:3.12", "docker.io"),
    ("team/trainer", "docker.io"),
    ("127.0.0.1:5000/team/x:1", "127.0.0.1:5000"),
    ("localhost/x", "localhost"),
    ("ghcr.io/org/image@sha256:" + "a" * 64, "ghcr.io"),
])
def test_registry_of_an_image_reference(reference, registry):
    assert registry_of(reference) == registry

