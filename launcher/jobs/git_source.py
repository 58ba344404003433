"""Git sources: repositories fetched with GitPython into a cache in the workspace, checked out per run.

Everything a user types (URL, ref) is checked before git sees it, and passed after `--` or
`--end-of-options`, so neither can become an option (`--upload-pack=...`). Transport helpers such as
`ext::` are refused here and again by git itself through GIT_ALLOW_PROTOCOL."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from launcher.errors import SourceError

ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def normalize_url(url: str) -> str:
    """Check a repository URL or path; local paths become absolute."""
    if not isinstance(url, str) or not url.strip():
        raise SourceError(f"git URL must be a non-empty string, got {url!r}")
    url = url.strip()
    if url.startswith("-"):
        raise SourceError(f"git URL {url!r} is refused: it would be read by git as an option")
    if _TRANSPORT_HELPER.match(url) or "::" in url.split("/", 1)[0]:
        raise SourceError(f"git URL {url!r} is refused: transport helpers like 'ext::' can run commands; "
                          "use file://, ssh://, https:// or a local path")
    if any(ord(c) < 32 for c in url):
        raise SourceError(f"git URL {url!r} contains control characters")
    host = _host(url)
    if host is not None and host.startswith("-"):
        raise SourceError(f"git URL {url!r} is refused: its host {host!r} would be read by ssh as an option")
    match = _SCHEME.match(url)
    if match:
        if match["scheme"].lower() not in ("file", "git", "http", "https", "ssh"):
            raise SourceError(f"git URL {url!r} uses the unsupported scheme {match['scheme']!r}; "
                              "expected file, git, http, https or ssh")
        return url
    if _SCP_LIKE.match(url):
        return url
    path = Path(url).expanduser()
    if not path.exists():
        raise SourceError(f"git repository {url!r} does not exist (expected a URL or a local repository path)")
    return str(path.resolve())


def _host(url: str) -> str | None:
    """The host part of a scheme URL (ssh://user@host:port/path) or an scp-like one (user@host:path)."""
    scheme = _SCHEME.match(url)
    if scheme:
        authority = url[scheme.end():].split("/", 1)[0]
        return authority.rsplit("@", 1)[-1]
    if "@" in url.split("/", 1)[0] and ":" in url:
        return url.split(":", 1)[0].rsplit("@", 1)[-1]
    return None


def check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not ref.strip():
        raise SourceError(f"git ref must be a non-empty string, got {ref!r}")
    ref = ref.strip()
    if ref.startswith("-"):
        raise SourceError(f"git ref {ref!r} is refused: a ref may not start with '-'")
    if any(ord(c) < 33 for c in ref) or any(c in ref for c in "~^:?*[\\") or ".." in ref:
        raise SourceError(f"git ref {ref!r} is not a valid branch, tag or commit name")
    return ref


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true",
               GIT_SSH_COMMAND=env.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"))
    return env


class GitCache:
    """Bare mirrors of the repositories jobs use, one per URL, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _repo_dir(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".git")

    @contextmanager
    def _locked(self, url: str):
        # One lock for the whole cache (fetches are short), so a URL that turns out not to exist leaves
        # no file of its own behind.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time, across processes
            yield

    def _repo(self, url: str):
        import git  # GitPython costs ~100 ms to import; only git jobs pay it

        path = self._repo_dir(url)
        if not (path / "HEAD").exists():
            shutil.rmtree(path, ignore_errors=True)
            return git.Repo.init(path, bare=True), True
        return git.Repo(path), False

    def fetch(self, url: str) -> None:
        import git

        with self._locked(url):
            repo, created = self._repo(url)
            try:
                repo.git.execute(["git", "fetch", "--prune", "--force", "--tags", "--", url,
                                  "+refs/heads/*:refs/heads/*"], env=_git_env())
            except git.GitCommandError as error:
                if created:
                    shutil.rmtree(self._repo_dir(url), ignore_errors=True)
                raise SourceError(f"git repository {url!r} cannot be fetched: {_git_reason(error)}") from None

    def resolve(self, url: str, ref: str, *, fetch: bool = True) -> str:
        """The commit that `ref` (branch, tag or commit) names, fetching first unless it is a known sha."""
        import git

        ref = check_ref(ref)
        if fetch and not (_FULL_SHA.match(ref) and self._has_commit(url, ref)):
            self.fetch(url)
        repo, _ = self._repo(url)
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            try:
                return repo.git.execute(["git", "rev-parse", "--verify", "--quiet", "--end-of-options",
                                         f"{candidate}^{{commit}}"]).strip()
            except git.GitCommandError:
                continue
        raise SourceError(f"git ref {ref!r} is not a branch, tag or commit of {url!r}")

    def _has_commit(self, url: str, sha: str) -> bool:
        if not (self._repo_dir(url) / "HEAD").exists():
            return False
        import git

        repo, _ = self._repo(url)
        try:
            repo.git.execute(["git", "cat-file", "-e", f"{sha}^{{commit}}"])
            return True
        except git.GitCommandError:
            return False

    def default_branch(self, url: str) -> str:
        """The branch the remote's HEAD points at (main, master, ...)."""
        import git

        repo, _ = self._repo(url)
        try:
            out = repo.git.execute(["git", "ls-remote", "--symref", "--", url, "HEAD"], env=_git_env())
        except git.GitCommandError as error:
            raise SourceError(f"git repository {url!r} cannot be read: {_git_reason(error)}") from None
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/"):
                return line.split()[1].removeprefix("refs/heads/")
        heads = [h.name for h in repo.heads]
        for name in ("main", "master"):
            if name in heads:
                return name
        if heads:
            return heads[0]
        raise SourceError(f"git repository {url!r} has no branches")

    def read_file(self, url: str, commit: str, path: str) -> str | None:
        import git

        repo, _ = self._repo(url)
        try:
            return repo.git.execute(["git", "show", f"{commit}:{path}"], strip_newline_in_stdout=False)
        except git.GitCommandError:
            return None

    def exists(self, url: str, commit: str, path: str) -> bool:
        import git

        repo, _ = self._repo(url)
        try:
            repo.git.execute(["git", "cat-file", "-e", f"{commit}:{path}"])
            return True
        except git.GitCommandError:
            return False

    def list_tree(self, url: str, commit: str) -> list[tuple[str, bytes, str]]:
        """Every entry of the commit's tree, recursively, as (mode, path as git stores it, object id)."""
        import git

        repo, _ = self._repo(url)
        try:
            out = repo.git.execute(["git", "ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit],
                                   stdout_as_string=False, strip_newline_in_stdout=False)
        except git.GitCommandError as error:
            raise SourceError(f"git commit {commit!r} of {url!r} cannot be listed: {_git_reason(error)}") from None
        entries = []
        for record in out.split(b"\0"):
            if record:
                meta, path = record.split(b"\t", 1)
                mode, _kind, sha = meta.decode().split(" ")
                entries.append((mode, path, sha))
        return entries

    def blob(self, url: str, sha: str) -> bytes:
        """The content of one object (a link's target, for a link)."""
        repo, _ = self._repo(url)
        return repo.git.get_object_data(sha)[3]

    def archive(self, url: str, commit: str) -> io.BytesIO:
        """The tree at `commit` as a tar archive (no .git: runs get files, not history)."""
        repo, _ = self._repo(url)
        buffer = io.BytesIO()
        repo.archive(buffer, treeish=commit, format="tar")
        buffer.seek(0)
        return buffer


def _git_reason(error) -> str:
    stderr = (getattr(error, "stderr", "") or "").strip().strip("'").strip()
    # GitPython prefixes what git printed with "stderr: '" and quotes it.
    lines = [line.strip().removeprefix("stderr:").strip().strip("'").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if line.lower().startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else f"git exited with status {getattr(error, 'status', '?')}"
