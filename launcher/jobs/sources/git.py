"""Git sources: a repository at a branch, tag or commit, fetched with GitPython into a bare cache per URL
(launcher/jobs/git_source.py). A job version records the commit its ref named; a launch may name another
version. The commit's tree follows the source policy (launcher/jobs/sources/policy.py), read from git's
own listing when a job is made or a launch names a new commit, and read again from `git archive`'s output
when the run's owner checks the commit out during set-up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from launcher.jobs.git_source import GitCache, check_ref, normalize_url
from launcher.jobs.refs import slug
from launcher.jobs.sources import policy
from launcher.jobs.sources.base import JobSource, NewSource, RunSource

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

LINK_MODE = "120000"
SUBMODULE_MODE = "160000"
EXECUTABLE_MODE = "100755"
CACHE_DIR = "git-cache"  # under the workspace home (Workspace.git_cache)


class GitFiles:
    """The files of a commit (SourceFiles)."""

    def __init__(self, cache: GitCache, url: str, commit: str) -> None:
        self.cache, self.url, self.commit = cache, url, commit

    def read_file(self, path: str) -> str | None:
        return self.cache.read_file(self.url, self.commit, path)

    def exists(self, path: str) -> bool:
        return self.cache.exists(self.url, self.commit, path)


def _origin(url: str, commit: str) -> str:
    return f"git repository {url!r} at {commit[:12]}"


def commit_tree(cache: GitCache, url: str, commit: str) -> policy.SourceTree:
    """The commit's tree under the policy, from git's listing (SourceError for a link out or a name that
    is not UTF-8)."""
    origin = _origin(url, commit)
    entries: list[policy.Entry] = []
    notes: list[str] = []
    for mode, raw_path, sha in cache.list_tree(url, commit):
        path = policy.check_name(raw_path, origin)
        if mode == LINK_MODE:
            target = policy.check_name(cache.blob(url, sha), origin, f"target of link {path!r}")
            entries.append(policy.Entry(path, policy.EntryKind.LINK, target=target))
        elif mode == SUBMODULE_MODE:
            notes.append(f"left out submodule {path!r}: runs get an empty folder in its place")
        else:
            entries.append(policy.Entry(path, policy.EntryKind.FILE, executable=mode == EXECUTABLE_MODE))
    return policy.checked_tree(entries, notes, origin)


class GitSource(JobSource):
    kind = "git"
    given_as = "a git URL or path"
    takes_version = True

    def create(self, workspace: Workspace, source: str, *, ref: str | None = None) -> NewSource:
        url = normalize_url(source)
        cache = workspace.git_cache
        cache.fetch(url)
        ref = check_ref(ref) if ref is not None else cache.default_branch(url)
        commit = cache.resolve(url, ref, fetch=False)
        tree = commit_tree(cache, url, commit)
        return NewSource(slug(PurePosixPath(url.rstrip("/")).name.removesuffix(".git")),
                         {"url": url, "ref": ref, "commit": commit}, GitFiles(cache, url, commit), tree.notes)

    def for_run(self, workspace: Workspace, job: JobVersion, version: str | None = None) -> RunSource:
        from launcher.jobs.inspect import describe_tree

        cache = workspace.git_cache
        url = job.source["url"]
        entry_points: dict[str, Any] | None = job.entry_points
        requirements = list(job.data.get("requirements") or [])
        dependencies, docker_env = job.data.get("dependencies"), job.data.get("docker_env")
        if version is None:
            # A job version runs the commit it recorded, wherever its branch has moved since.
            version, commit = job.source["ref"], job.source["commit"]
        else:  # a branch, tag or commit named at launch is resolved anew, and may declare other things
            commit = cache.resolve(url, version)
            if commit != job.source["commit"]:
                commit_tree(cache, url, commit)
                facts = describe_tree(GitFiles(cache, url, commit).read_file)
                entry_points, requirements = facts["entry_points"] or {}, list(facts["requirements"])
                dependencies = facts["dependencies"].to_data()
                docker_env = facts["docker_env"].to_data() if facts["docker_env"] is not None else None
        return RunSource({"url": url, "ref": version, "commit": commit}, GitFiles(cache, url, commit),
                         version=version, entry_points=entry_points, requirements=requirements,
                         dependencies=dependencies, docker_env=docker_env,
                         owner_plan={"kind": self.kind, "url": url, "ref": version, "commit": commit})

    def checkout(self, workspace_home: Path, plan: Mapping[str, str], destination: Path) -> None:
        """The commit's tree from `git archive`, checked under the policy before anything is written."""
        url, commit = plan["url"], plan["commit"]
        cache = GitCache(workspace_home / CACHE_DIR)
        with policy.open_tar(cache.archive(url, commit)) as archive:
            policy.extract_tar(archive, destination, _origin(url, commit))

    def source_key(self, facts: Mapping[str, Any]) -> str | None:
        return f"git:{facts['commit']}" if facts.get("commit") else None

    def describe(self, facts: Mapping[str, Any]) -> str:
        return f"{facts.get('url')} at {facts.get('ref')} ({str(facts.get('commit'))[:12]})"

