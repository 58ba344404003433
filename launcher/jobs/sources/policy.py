"""The source policy: what a job's source may hold, applied the same way to every kind of source (a
directory, a git commit, an unpacked archive) and by every resource that receives it.

- Files and folders are kept. A link is kept as a link when it leads somewhere inside the source,
  following the links on its way as the kernel does; one that leads outside (an absolute target, `..`
  above the root, or a chain of links that ends outside) is refused with one line naming it.
- Special files (FIFO, socket, device) are skipped with a note: they hold no content, and reading a FIFO
  blocks forever.
- Every name (and link target) must be UTF-8. Names that are not are refused with one line: a Ray package
  (zip) and JSON facts cannot carry them, so storing them losslessly here would only move the failure
  to one resource.
- Copies never read through a link (files are opened with O_NOFOLLOW), and uploads to resources that read
  through links themselves (Ray's packager) get copies of the link's target inside the source instead of
  the link.

Standard library only (pathspec for .gitignore when asked): run owners use it during set-up."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from launcher.errors import SourceError

if TYPE_CHECKING:
    import tarfile

#: The kernel's limit on links followed while resolving one path (Linux MAXSYMLINKS).
MAX_LINK_HOPS = 40
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class EntryKind(StrEnum):
    FILE = "file"
    LINK = "link"


@dataclass(frozen=True)
class Entry:
    """One file or link of a source; folders are implied by the paths."""

    path: str  # slash path relative to the source's root
    kind: EntryKind
    executable: bool = False
    target: str | None = None  # a link's target, as written


@dataclass(frozen=True)
class SourceTree:
    """What a source holds under the policy: its files and links (sorted), and notes on what was skipped."""

    entries: tuple[Entry, ...]
    notes: tuple[str, ...] = ()
    _by_path: dict[str, Entry] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_path.update((entry.path, entry) for entry in self.entries)

    def get(self, path: str) -> Entry | None:
        return self._by_path.get(path)

    def links(self) -> dict[str, str]:
        return {e.path: e.target for e in self.entries if e.kind is EntryKind.LINK and e.target is not None}

    def under(self, folder: str) -> list[Entry]:
        """The entries inside `folder` ("" for the root)."""
        prefix = folder + "/" if folder else ""
        return [e for e in self.entries if e.path.startswith(prefix)]


@dataclass(frozen=True)
class LinkEnd:
    """Where a link leads: `path` inside the source ("" is its root), or None for a loop of links."""

    path: str | None


def special_kind(mode: int) -> str | None:
    """What a file that is neither a regular file, a folder nor a link is, or None for those three."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def skipped_note(path: str, what: str) -> str:
    return f"skipped {what} {path!r}: only files, folders and links are part of a job's source"


def shown(name: str | bytes) -> str:
    """A name as a user can read it, bytes that are not UTF-8 as \\x escapes."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    return raw.decode("utf-8", "backslashreplace")


def check_name(name: str | bytes, origin: str, what: str = "name") -> str:
    """The name as text; SourceError when it is not UTF-8 (a str from the file system carries such bytes as
    surrogates)."""
    try:
        if isinstance(name, bytes):
            return name.decode("utf-8")
        name.encode("utf-8")
        return name
    except UnicodeError:
        raise SourceError(f"{origin}: the {what} '{shown(name)}' is not UTF-8; rename it (or leave it out "
                          "with .gitignore): a job's source may only hold UTF-8 names") from None


def resolve_link(path: str, links: Mapping[str, str]) -> LinkEnd:
    """Where the link at `path` leads, following further links on the way as the kernel does; SourceError
    when it leaves the source. A missing target is fine (a dangling link stays inside)."""
    target = links[path]
    if target.startswith("/"):
        raise _Escape(path, target)
    pending = [*path.split("/")[:-1], *target.split("/")]
    pending.reverse()  # a stack: the next component last
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise _Escape(path, target)
            resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        next_target = links.get(candidate)
        if next_target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return LinkEnd(None)
        if next_target.startswith("/"):
            raise _Escape(path, target)
        pending.extend(reversed(next_target.split("/")))  # relative to the folder the link is in: `resolved`
    return LinkEnd("/".join(resolved))


class _Escape(SourceError):
    def __init__(self, path: str, target: str) -> None:
        super().__init__(f"the link {path!r} points outside the source (to {target!r})")


def check_links(links: Mapping[str, str], origin: str) -> None:
    """SourceError naming the first link (in path order) that leads outside the source."""
    for path in sorted(links):
        try:
            resolve_link(path, links)
        except _Escape:
            raise SourceError(f"{origin}: the link {path!r} points outside the source (to {links[path]!r}); a "
                              "job's source may only link to its own files") from None


def checked_tree(entries: Iterable[Entry], notes: Iterable[str], origin: str) -> SourceTree:
    """A tree from entries read anywhere (a directory, a git commit, an archive), after the policy's checks."""
    ordered = tuple(sorted(entries, key=lambda e: e.path))
    for entry in ordered:
        check_name(entry.path, origin)
        if entry.target is not None:
            check_name(entry.target, origin, f"target of link {entry.path!r}")
    tree = SourceTree(ordered, tuple(notes))
    check_links(tree.links(), origin)
    return tree


# -- directories ---------------------------------------------------------------------------------------
def scan(root: Path, origin: str, *, gitignore: bool = False, skip_dirs: frozenset[str] = frozenset(),
         exclude: tuple[Path, ...] = ()) -> SourceTree:
    """The source tree of a directory: every file and link, without reading through any link, leaving out
    folders named in `skip_dirs`, the folders `exclude` (resolved paths) and, with `gitignore`, what git
    would ignore."""
    entries: list[Entry] = []
    notes: list[str] = []
    ignores = _GitIgnores() if gitignore else None
    stack = [("", root)]
    while stack:
        relative_dir, directory = stack.pop()
        if ignores is not None:
            ignores.enter(relative_dir, directory)
        try:
            listing = sorted(os.scandir(directory), key=lambda item: item.name)
        except OSError as error:
            raise SourceError(f"{origin}: cannot read the folder {shown(relative_dir or '.')!r}: "
                              f"{error.strerror}") from None
        below = []
        for item in listing:
            relative = f"{relative_dir}/{item.name}" if relative_dir else item.name
            info = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                if (item.name in skip_dirs or (ignores is not None and ignores.ignored(relative, True))
                        or (exclude and Path(item.path).resolve() in exclude)):
                    continue
                check_name(relative, origin)
                below.append((relative, Path(item.path)))
                continue
            if ignores is not None and ignores.ignored(relative, False):
                continue
            what = special_kind(info.st_mode)
            if what is not None:
                notes.append(skipped_note(shown(relative), what))
                continue
            if stat.S_ISLNK(info.st_mode):
                entries.append(Entry(relative, EntryKind.LINK, target=os.readlink(item.path)))
            else:
                entries.append(Entry(relative, EntryKind.FILE, executable=bool(info.st_mode & stat.S_IXUSR)))
        stack.extend(reversed(below))
    return checked_tree(entries, notes, origin)


class _GitIgnores:
    """The .gitignore files in effect while walking down a tree (each applies to its own folder and below)."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, object]] = []

    def enter(self, relative_dir: str, directory: Path) -> None:
        import pathspec

        self.specs = [(base, spec) for base, spec in self.specs
                      if base == "" or relative_dir == base or relative_dir.startswith(base + "/")]
        ignore_file = directory / ".gitignore"
        if ignore_file.is_file() and not ignore_file.is_symlink():
            lines = ignore_file.read_text(errors="replace").splitlines()
            self.specs.append((relative_dir, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, relative: str, is_dir: bool) -> bool:
        for base, spec in self.specs:
            inside = relative[len(base) + 1:] if base else relative
            if spec.match_file(inside + ("/" if is_dir else "")):  # type: ignore[attr-defined]
                return True
        return False


def open_file(root: Path, entry: Entry, origin: str) -> int:
    """A descriptor of the regular file `entry` names, never through a link (nor blocking on a FIFO put in
    its place since the scan)."""
    try:
        fd = os.open(root / entry.path, _OPEN_FLAGS)
    except OSError as error:
        raise SourceError(f"{origin}: {entry.path!r} cannot be read ({error.strerror}); was the source changed "
                          "while it was read?") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SourceError(f"{origin}: {entry.path!r} is no longer a regular file; was the source changed while "
                          "it was read?")
    return fd


def tree_digest(tree: SourceTree, root: Path, origin: str, hashes: dict[str, str] | None = None) -> str:
    """The content digest of a tree: every entry's path, kind (file, executable or link), content or target.
    `hashes`, when given, receives each file's content hash (a code job's manifest keeps them)."""
    digest = hashlib.sha256()
    for entry in tree.entries:
        if entry.kind is EntryKind.LINK:
            _digest_link(digest, entry)
            continue
        digest_of_file = file_hash(root, entry, origin)
        if hashes is not None:
            hashes[entry.path] = digest_of_file
        _digest_file(digest, entry, digest_of_file)
    return digest.hexdigest()


def file_hash(root: Path, entry: Entry, origin: str) -> str:
    fd = open_file(root, entry, origin)
    with os.fdopen(fd, "rb") as f:
        return _hash_stream(f.read)


def copy_tree(tree: SourceTree, root: Path, destination: Path, origin: str) -> str:
    """Copy the tree into `destination` (a new folder): files by content, read without following links;
    links as links (never followed). Returns the tree's digest, computed from the bytes copied."""
    digest = hashlib.sha256()
    destination.mkdir(parents=True, exist_ok=True)
    for entry in tree.entries:
        target = destination / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind is EntryKind.LINK:
            os.symlink(entry.target or "", target)
            _digest_link(digest, entry)
            continue
        fd = open_file(root, entry, origin)
        with os.fdopen(fd, "rb") as source:
            info = os.fstat(source.fileno())
            with open(target, "xb") as out:
                content_hash = _hash_stream(source.read, out.write)
            os.chmod(target, stat.S_IMODE(info.st_mode) & 0o777)
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
        _digest_file(digest, entry, content_hash)
    return digest.hexdigest()


def _digest_link(digest, entry: Entry) -> None:
    digest.update(entry.path.encode() + b"\0" + b"link\0" + (entry.target or "").encode() + b"\0")


def _digest_file(digest, entry: Entry, content_hash: str) -> None:
    digest.update(entry.path.encode() + b"\0" + (b"x\0" if entry.executable else b"f\0")
                  + content_hash.encode() + b"\0")


def _hash_stream(read: Callable[[int], bytes], write: Callable[[bytes], object] | None = None) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: read(1 << 20), b""):
        h.update(block)
        if write is not None:
            write(block)
    return h.hexdigest()


# -- archives ------------------------------------------------------------------------------------------
def open_tar(fileobj: BinaryIO) -> tarfile.TarFile:
    import tarfile  # only run owners that check a source out pay for it

    return tarfile.open(fileobj=fileobj, mode="r:")


def extract_tar(archive: tarfile.TarFile, destination: Path, origin: str) -> SourceTree:
    """Extract an archive of a source (e.g. `git archive`) under the policy: every member is checked
    before anything is written; special files are skipped; tarfile's "data" filter guards the writing."""
    entries: list[Entry] = []
    notes: list[str] = []
    members: list[tarfile.TarInfo] = []
    for member in archive.getmembers():
        name = member.name.rstrip("/")
        if member.isdir():
            check_name(name, origin)
            members.append(member)
        elif member.isreg():
            entries.append(Entry(name, EntryKind.FILE, executable=bool(member.mode & stat.S_IXUSR)))
            members.append(member)
        elif member.issym():
            entries.append(Entry(name, EntryKind.LINK, target=member.linkname))
            members.append(member)
        else:
            notes.append(skipped_note(shown(name), "hard link" if member.islnk() else _tar_kind(member)))
    tree = checked_tree(entries, notes, origin)
    destination.mkdir(parents=True, exist_ok=True)
    import tarfile

    try:
        archive.extractall(destination, members=members, filter="data")
    except tarfile.FilterError as error:
        raise SourceError(f"{origin}: {error}") from None
    return tree


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.isfifo():
        return "FIFO"
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    return "special file"


# -- uploads that read through links -------------------------------------------------------------------
def stage_for_upload(tree: SourceTree, root: Path, destination: Path, origin: str, *,
                     keep: Callable[[str], bool], note: Callable[[str], None]) -> tuple[int, int]:
    """Write the entries `keep` accepts into `destination` with no link at all, for a packager that reads
    through links (Ray's): files are hard links (copies across file systems) of the source's own files,
    and each link becomes a copy of what it leads to inside the source. A link that leads nowhere, into a
    loop, or to a folder that holds it is left out with a note. Returns (files, bytes)."""
    links = tree.links()
    counts = [0, 0]

    def put_file(entry: Entry, at: str) -> None:
        target = destination / at
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / entry.path, target, follow_symlinks=False)
        except OSError:  # another file system, or hard links not allowed: copy, never through a link
            fd = open_file(root, entry, origin)
            with os.fdopen(fd, "rb") as source, open(target, "xb") as out:
                _hash_stream(source.read, out.write)
                os.chmod(target, stat.S_IMODE(os.fstat(source.fileno()).st_mode) & 0o777)
        info = os.lstat(target)
        if not stat.S_ISREG(info.st_mode):  # the name was swapped for a link since the scan: never ship it
            target.unlink()
            raise SourceError(f"{origin}: {entry.path!r} is no longer a regular file; was the source changed "
                              "while it was read?")
        counts[0] += 1
        counts[1] += info.st_size

    def put(entry: Entry, at: str, holders: tuple[str, ...]) -> None:
        """Stage `entry` at `at`; `holders` are the folders whose copies hold `at` (to stop cycles)."""
        if not (keep(entry.path) and keep(at)):
            return
        if entry.kind is EntryKind.FILE:
            put_file(entry, at)
            return
        end = resolve_link(entry.path, links).path
        if end is None:
            note(f"left out the link {at!r}: it is a loop of links")
            return
        found = tree.get(end)  # never a link: resolve_link followed every link on the way
        if found is not None:
            put_file(found, at)
            return
        inside = tree.under(end)
        if not inside:
            note(f"left out the link {at!r}: it leads to nothing in the source ({entry.target!r})")
            return
        if any(end == "" or holder == end or holder.startswith(end + "/") for holder in holders):
            note(f"left out the link {at!r}: it leads to a folder that holds it ({entry.target!r})")
            return
        prefix = end + "/" if end else ""
        for child in inside:
            put(child, at + "/" + child.path[len(prefix):], (*holders, end))

    for entry in tree.entries:
        put(entry, entry.path, (_parent(entry.path),))
    _refuse_links(destination, origin)
    return counts[0], counts[1]


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _refuse_links(destination: Path, origin: str) -> None:
    """The last guard before an upload: nothing staged may be a link."""
    for directory, dirnames, filenames in os.walk(destination):
        for name in (*dirnames, *filenames):
            if os.path.islink(os.path.join(directory, name)):
                raise SourceError(f"{origin}: {name!r} became a link while the upload was staged; nothing sent")
