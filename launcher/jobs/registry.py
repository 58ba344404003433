"""The job registry: jobs named entity/project/name, with versions v0, v1, ... and aliases.

A version's data is JSON: the source facts its kind's JobSource recorded (launcher/jobs/sources/: a
snapshot digest, url/ref/commit, an image), the entry point argv, the MLproject entry points, requirements,
the config schema and notes on what the source policy skipped. The kind is the one of the JobSource that
made the data (launcher/jobs/create.py asks the sources' registry for it before anything is stored)."""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from launcher.errors import JobError
from launcher.jobs.refs import LATEST, VERSION_ALIAS, JobRef, check_name, parse_job_ref
from launcher.records import JobVersion
from launcher.store import Store

__all__ = ["JobRegistry", "JobVersion"]


class JobRegistry:
    def __init__(self, store: Store, *, defaults: Callable[[], tuple[str, str]]) -> None:
        self.store = store
        #: The workspace's (default entity, default project), read when a reference leaves them out.
        self.defaults = defaults

    def parse(self, text: str) -> JobRef:
        entity, project = self.defaults()
        return parse_job_ref(text, default_entity=entity, default_project=project)

    def add_version(self, *, entity: str, project: str, name: str, kind: str, data: dict[str, Any]) -> JobVersion:
        """Record a version; an unchanged source (same data as the latest version) makes no new one."""
        for label, value in (("entity", entity), ("project", project), ("job name", name)):
            check_name(label, value)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        now = time.time()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT id, kind FROM jobs WHERE entity=? AND project=? AND name=?",
                               (entity, project, name)).fetchone()
            if row is None:
                job_id = conn.execute("INSERT INTO jobs (entity, project, name, kind, created_at) VALUES (?,?,?,?,?)",
                                      (entity, project, name, kind, now)).lastrowid
            else:
                job_id = row["id"]
                if row["kind"] != kind:
                    raise JobError(f"job {entity}/{project}/{name} is a {row['kind']} job; "
                                   f"a {kind} source needs another name")
            latest = conn.execute("SELECT version, digest FROM job_versions WHERE job_id=? ORDER BY version DESC LIMIT 1",
                                  (job_id,)).fetchone()
            if latest is not None and latest["digest"] == digest:
                version = latest["version"]
            else:
                version = 0 if latest is None else latest["version"] + 1
                conn.execute("INSERT INTO job_versions (job_id, version, digest, data, created_at) VALUES (?,?,?,?,?)",
                             (job_id, version, digest, json.dumps(data), now))
                conn.execute("INSERT INTO job_aliases (job_id, alias, version) VALUES (?, ?, ?) "
                             "ON CONFLICT(job_id, alias) DO UPDATE SET version=excluded.version",
                             (job_id, LATEST, version))
        return self.get(JobRef(entity, project, name, f"v{version}"))

    def resolve(self, text: str) -> JobVersion:
        return self.get(self.parse(text))

    def get(self, ref: JobRef) -> JobVersion:
        rows = self.store.query("SELECT id, kind FROM jobs WHERE entity=? AND project=? AND name=?",
                                (ref.entity, ref.project, ref.name))
        if not rows:
            raise JobError(f"job {ref.base!r} does not exist (see 'launcher job list')")
        job_id, kind = rows[0]["id"], rows[0]["kind"]
        number = VERSION_ALIAS.match(ref.alias)
        if number:
            version = int(number.group(1))
        else:
            alias_rows = self.store.query("SELECT version FROM job_aliases WHERE job_id=? AND alias=?", (job_id, ref.alias))
            if not alias_rows:
                raise JobError(f"job {ref.base!r} has no alias {ref.alias!r} (aliases: {', '.join(self._aliases(job_id))})")
            version = alias_rows[0]["version"]
        version_rows = self.store.query("SELECT data, created_at FROM job_versions WHERE job_id=? AND version=?",
                                        (job_id, version))
        if not version_rows:
            raise JobError(f"job {ref.base!r} has no version v{version}")
        aliases = tuple(r["alias"] for r in self.store.query(
            "SELECT alias FROM job_aliases WHERE job_id=? AND version=? ORDER BY alias", (job_id, version)))
        return JobVersion(ref.entity, ref.project, ref.name, version, kind, json.loads(version_rows[0]["data"]),
                          version_rows[0]["created_at"], aliases)

    def _aliases(self, job_id: int) -> builtins.list[str]:
        return [r["alias"] for r in self.store.query("SELECT alias FROM job_aliases WHERE job_id=? ORDER BY alias", (job_id,))]

    def add_alias(self, text: str, alias: str) -> JobVersion:
        check_name("alias", alias)
        if alias == LATEST or VERSION_ALIAS.match(alias):
            raise JobError(f"alias {alias!r} is reserved; 'latest' and 'vN' are managed by the launcher")
        version = self.resolve(text)
        self.store.execute(
            "INSERT INTO job_aliases (job_id, alias, version) SELECT id, ?, ? FROM jobs WHERE entity=? AND project=? AND name=? "
            "ON CONFLICT(job_id, alias) DO UPDATE SET version=excluded.version",
            (alias, version.version, version.entity, version.project, version.name))
        return self.get(JobRef(version.entity, version.project, version.name, f"v{version.version}"))

    def remove_alias(self, text: str, alias: str) -> JobVersion:
        """Drop an alias of the job `text` names; returns the version it pointed at."""
        if alias == LATEST or VERSION_ALIAS.match(alias):
            raise JobError(f"alias {alias!r} is reserved; 'latest' and 'vN' are managed by the launcher")
        ref = self.parse(text)
        version = self.get(JobRef(ref.entity, ref.project, ref.name, alias))  # JobError for an unknown alias
        self.store.execute("DELETE FROM job_aliases WHERE alias=? AND job_id=(SELECT id FROM jobs WHERE entity=? "
                           "AND project=? AND name=?)", (alias, ref.entity, ref.project, ref.name))
        return self.get(JobRef(version.entity, version.project, version.name, f"v{version.version}"))

    def list(self) -> builtins.list[JobVersion]:
        """The latest version of every job."""
        rows = self.store.query("SELECT entity, project, name FROM jobs ORDER BY entity, project, name")
        return [self.get(JobRef(r["entity"], r["project"], r["name"], LATEST)) for r in rows]

    def versions(self, text: str) -> builtins.list[JobVersion]:
        ref = self.parse(text)
        rows = self.store.query("SELECT v.version FROM job_versions v JOIN jobs j ON j.id=v.job_id "
                                "WHERE j.entity=? AND j.project=? AND j.name=? ORDER BY v.version", (ref.entity, ref.project, ref.name))
        if not rows:
            raise JobError(f"job {ref.base!r} does not exist (see 'launcher job list')")
        return [self.get(JobRef(ref.entity, ref.project, ref.name, f"v{r['version']}")) for r in rows]
