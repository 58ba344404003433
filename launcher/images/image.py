"""Making sure the image a container run needs exists: found, pulled, or built (then pushed when asked).

Runs inside the container run supervisor, so it uses the standard library, the engine client and the source
policy (launcher/jobs/sources/policy.py) only.
A built image is tagged `launcher/<job>:<hash>`, the hash covering the source (what is sent of it: a
.dockerignore at its root applies), the requirements, the Dockerfile and the base image's id: a launch
whose image exists skips the build entirely."""

from __future__ import annotations

import hashlib
import json
import os
import re  # loaded by json anyway
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from launcher.containers.engine import Engine, EngineError, split_tag
from launcher.errors import LaunchError
from launcher.images import dockerignore
from launcher.images.dockerignore import DockerignoreError, Matcher
from launcher.logfile import LAUNCHER, LogWriter

#: Bump when the way images are built changes, so old tags are not reused for new recipes.
#: 2: generated Dockerfiles have no ENTRYPOINT (images of 1 carry a stale one).
RECIPE_VERSION = 2
CONTEXT_FILE = "build-context.tar"


class ImageError(LaunchError):
    """An image cannot be found, pulled, built or pushed."""


class Cancelled(LaunchError):
    """The run was cancelled while its image was being prepared."""


def resolve_image(engine: Engine, plan: dict[str, Any], run_dir: Path, log: LogWriter,
                  cancelled: Callable[[], bool]) -> str:
    """The reference of the image to run, after pulling, building and pushing as the plan says."""
    if "given" in plan:
        return _given_image(engine, plan["given"], log, cancelled)
    build = plan["build"]
    local = f"{build['repo']}:{image_hash(engine, build)}"
    pushed = push_target(build, split_tag(local)[1])
    if pushed is not None:
        if engine.image(pushed) is not None:
            log.note(f"image {pushed} is already built and pushed; no build needed")
            return pushed
        if engine.image(local) is None and _try_pull(engine, pushed, log, cancelled):
            log.note(f"pulled {pushed} from its registry; no build needed")
            return pushed
    if engine.image(local) is not None:
        log.note(f"image {local} exists; no build needed")
    else:
        _build(engine, build, local, run_dir, log, cancelled)
    if pushed is None:
        return local
    _push(engine, local, pushed, log, cancelled)
    return pushed


def ready_image(engine: Engine, plan: dict[str, Any]) -> str | None:
    """The image to run when it already exists in the engine (nothing to pull, build or push), else None."""
    if "given" in plan:
        return plan["given"] if engine.image(plan["given"]) is not None else None
    build = plan["build"]
    try:
        local = f"{build['repo']}:{image_hash(engine, build)}"
    except ImageError:
        return None  # the supervisor reports it
    wanted = push_target(build, split_tag(local)[1]) or local
    return wanted if engine.image(wanted) is not None else None


def image_hash(engine: Engine, build: dict[str, Any]) -> str:
    key: dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "source": _source_digest(build),
        "dockerfile": build.get("dockerfile"),
        "generated": build.get("generated"),
        "requirements": sorted(build.get("requirements") or []),
    }
    if build.get("generated") is not None:
        base = build["base_image"]
        info = engine.image(base)
        if info is None:
            raise ImageError(f"base image {base!r} does not exist in the Docker engine; build the default one with "
                             "'launcher images base' (or bash scripts/docker-up), or set another with resource_args "
                             "local-container.base_image, e.g. 'python:3.11-slim'")
        key["base"] = info["Id"]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def push_target(build: dict[str, Any], tag: str) -> str | None:
    """Where a built image goes: `repository:tag`, or `registry/<repo>:tag` for a registry prefix."""
    if build.get("repository"):
        return f"{build['repository']}:{tag}"
    if build.get("registry"):
        return f"{build['registry'].rstrip('/')}/{build['repo']}:{tag}"
    return None


def tree_digest(root: Path, matcher: Matcher | None = None) -> str:
    """Paths, kinds, executable bits and contents of what is sent from root: every file, directory and
    symlink the matcher (a .dockerignore) does not exclude, or all of them without one."""
    digest = hashlib.sha256()
    for relative, info in sent_entries(root, matcher):
        path = root / relative
        digest.update(relative.encode() + b"\0")
        if stat.S_ISDIR(info.st_mode):
            digest.update(b"d\0")
            continue
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"l" + os.readlink(path).encode() + b"\0")
            continue
        digest.update(b"x" if info.st_mode & stat.S_IXUSR else b"f")
        with _open_regular(root, relative) as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def sent_entries(root: Path, matcher: Matcher | None,
                 note: Callable[[str], None] | None = None) -> list[tuple[str, os.stat_result]]:
    """What a build context sends from root, under the source policy (launcher/jobs/sources/policy.py):
    folders, files and links (as links: never followed), each name UTF-8; special files are left out
    (with a note); a link leading outside the tree stops the build with one line."""
    from launcher.jobs.sources import policy

    origin = "the image's build context"
    sent = []
    links = {}
    for relative in dockerignore.walk(root, matcher):
        policy.check_name(relative, origin)
        info = os.lstat(root / relative)
        what = policy.special_kind(info.st_mode)
        if what is not None:
            if note is not None:
                note(policy.skipped_note(relative, what))
            continue
        if stat.S_ISLNK(info.st_mode):
            links[relative] = policy.check_name(os.readlink(root / relative), origin, f"target of link {relative!r}")
        sent.append((relative, info))
    try:
        policy.check_links(links, origin)
    except LaunchError as error:
        raise ImageError(str(error)) from None
    return sent


def _open_regular(root: Path, relative: str):
    from launcher.jobs.sources import policy

    entry = policy.Entry(relative, policy.EntryKind.FILE)
    return os.fdopen(policy.open_file(root, entry, "the image's build context"), "rb")


def context_matcher(build: dict[str, Any]) -> Matcher | None:
    """The .dockerignore at the root of the job's source, or None. With the job's own Dockerfile the
    source root is the build context, and (as the docker CLI does) the Dockerfile and the .dockerignore
    are sent even when matched: the engine reads them and drops the matched ones from the context itself.
    A generated build sends the source under src/ beside our own Dockerfile, so there the .dockerignore
    is simply applied to the source (a matched .dockerignore stays out of the image, as with Docker)."""
    always = () if build.get("generated") is not None else (build["dockerfile"], dockerignore.FILE_NAME)
    try:
        return dockerignore.load(Path(build["context"]), always)
    except (DockerignoreError, OSError) as error:
        raise ImageError(f"cannot use the job's .dockerignore: {error}") from None


def _source_digest(build: dict[str, Any]) -> str:
    """What the tag says about the source: with a .dockerignore, the digest of exactly what is sent (an
    edit to an ignored file then reuses the image); without one, the source's recorded key (a snapshot
    digest or a commit) when there is one, which costs nothing to compute."""
    matcher = context_matcher(build)
    if matcher is not None:
        return "sent:" + tree_digest(Path(build["context"]), matcher)
    return build.get("source_key") or tree_digest(Path(build["context"]))


def _given_image(engine: Engine, ref: str, log: LogWriter, cancelled: Callable[[], bool]) -> str:
    if engine.image(ref) is not None:
        return ref
    log.note(f"image {ref} is not in the Docker engine; pulling it")
    try:
        _follow(engine.pull(ref), log, cancelled, verbose=False)
    except ImageError as error:
        raise ImageError(f"image {ref!r} does not exist locally and cannot be pulled: {error}") from None
    if engine.image(ref) is None:
        raise ImageError(f"image {ref!r} does not exist locally and cannot be pulled")
    return ref


def _try_pull(engine: Engine, ref: str, log: LogWriter, cancelled: Callable[[], bool]) -> bool:
    try:
        _follow(engine.pull(ref), log, cancelled, verbose=False)
    except ImageError:
        return False
    return engine.image(ref) is not None


def _build(engine: Engine, build: dict[str, Any], tag: str, run_dir: Path, log: LogWriter,
           cancelled: Callable[[], bool]) -> None:
    context = run_dir / CONTEXT_FILE
    dockerfile = write_context(build, context, log.note)
    log.note(f"building image {tag}" + (f" from the job's {build['dockerfile']}" if build.get("dockerfile")
                                        else f" on {build['base_image']}"))
    step = "the start of the build"
    try:
        with open(context, "rb") as body:
            for message in engine.build(body, tag=tag, dockerfile=dockerfile):
                if cancelled():
                    raise Cancelled("cancelled during the image build")
                text = message.get("stream")
                if text:
                    text = strip_terminal_codes(text)
                    log.write(LAUNCHER, text.encode("utf-8", "replace"))
                    for line in text.splitlines():
                        if line.startswith("Step "):
                            step = line.strip()
                if "error" in message:
                    error = strip_terminal_codes((message.get("errorDetail") or {}).get("message") or message["error"])
                    log.note(error)
                    raise ImageError(f"image build failed at {step}: {error.strip()}")
    except EngineError as error:
        raise ImageError(f"image build failed at {step}: {error}") from None
    finally:
        context.unlink(missing_ok=True)
    if engine.image(tag) is None:
        raise ImageError(f"image build ended without producing {tag} (last step: {step})")


#: Terminal control sequences (colours, cursor moves, titles, charsets) that build steps print for a terminal.
_TERMINAL_CODES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()*+][0-9A-Za-z]|[@-Z\\-_])")


def strip_terminal_codes(text: str) -> str:
    """The build's output without ANSI escape sequences: the run's log holds text, not screen codes."""
    return _TERMINAL_CODES.sub("", text)


def write_context(build: dict[str, Any], destination: Path, note: Callable[[str], None] | None = None) -> str:
    """Write the build context as a tar file, without what the job's .dockerignore excludes; return the
    Dockerfile's path inside it. `note` takes a line on what the source policy left out."""
    import tarfile

    source = Path(build["context"])
    matcher = context_matcher(build)
    with tarfile.open(destination, "w") as tar:
        if build.get("generated") is None:
            _add_tree(tar, source, "", matcher, note)
            return build["dockerfile"]
        _add_bytes(tar, "Dockerfile", build["generated"].encode())
        _add_bytes(tar, build["requirements_file"], "".join(f"{r}\n" for r in build["requirements"]).encode())
        _add_tree(tar, source, build["source_dir"] + "/", matcher, note)
        return "Dockerfile"


def _add_tree(tar, root: Path, prefix: str, matcher: Matcher | None, note: Callable[[str], None] | None) -> None:
    if prefix:
        info = tar.gettarinfo(str(root), prefix.rstrip("/"))
        _normalize(info)
        tar.addfile(info)
    for relative, _ in sent_entries(root, matcher, note):
        path = root / relative
        info = tar.gettarinfo(str(path), prefix + relative)  # lstat: a link is sent as a link
        _normalize(info)
        if info.isreg():
            with _open_regular(root, relative) as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)


def _add_bytes(tar, name: str, data: bytes) -> None:
    import io
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _normalize(info) -> None:
    # Owner and time do not change what the image is; keeping them out keeps builds reproducible.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0


def _push(engine: Engine, local: str, pushed: str, log: LogWriter, cancelled: Callable[[], bool]) -> None:
    repo, tag = split_tag(pushed)
    engine.tag(local, repo, tag)
    log.note(f"pushing {pushed}")
    try:
        _follow(engine.push(pushed), log, cancelled, verbose=True)
    except (ImageError, EngineError) as error:
        engine.remove_image(pushed)  # the tag must not claim an image the registry does not have
        raise ImageError(push_error_message(pushed, str(error))) from None
    log.note(f"pushed {pushed}")


def push_error_message(pushed: str, error: str) -> str:
    """One line for a failed push: a registry that answered with an HTTP error is named with that status
    (the engine's own text for it is often a body parse error such as "invalid character 'M'")."""
    import http

    found = re.search(r"\bHTTP (?:status:? )?([45]\d\d)\b", error) or re.search(r"\b([45]\d\d) ([A-Z][A-Za-z ]+)", error)
    if found is None:
        return f"pushing {pushed} failed: {error.splitlines()[0] if error else 'no reason given'}"
    status = int(found.group(1))
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    registry = pushed.split("/", 1)[0] if "/" in pushed else "docker.io"
    hint = ("check the credentials for it (docker login)" if status in (401, 403)
            else "check the repository and that the registry accepts pushes")
    return f"the registry at {registry} refused the push of {pushed} (HTTP {status} {phrase}); {hint}"


def _follow(messages: Iterator[dict[str, Any]], log: LogWriter, cancelled: Callable[[], bool],
            verbose: bool) -> None:
    """Log a pull's or push's progress (the step lines, not every byte counter); raise on an error."""
    try:
        for message in messages:
            if cancelled():
                raise Cancelled("cancelled while pulling or pushing an image")
            if "error" in message:
                raise ImageError((message.get("errorDetail") or {}).get("message") or message["error"])
            status = message.get("status")
            if status and not message.get("progress") and (verbose or message.get("id") is None):
                log.note(f"{message['id']}: {status}" if message.get("id") else status)
    except EngineError as error:
        raise ImageError(str(error)) from None
