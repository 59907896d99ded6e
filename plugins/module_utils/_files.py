# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup and files_restore without Ansible.

A backup is one PAX tar archive of the directory (``files.tar``, stored
compressed and optionally encrypted by the repository) plus, as verification
data, the listing of every entry: type, size, mode, mtime, owner, SHA-256 of
the content, symlink target and hard link. The archive is written while the
tree is read, so the digests cost no second read.

A restore extracts into a staging directory beside the target (same
filesystem), through Python's tar extraction filter ``data_filter`` for its
safety checks (absolute names, ``..``, links out of the tree, device files are
refused), checks the staged tree against the listing, and only then swaps it
in: the whole directory with one ``renameat2(RENAME_EXCHANGE)``, or each of
``paths``. The live tree is never touched before the new one is verified; the
old one is kept as ``<path>.pre-restore-<backup_id>``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import functools
import grp
import hashlib
import os
import pwd
import queue
import shutil
import stat
import sys
import tarfile
import threading
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    DrError,
    RepositoryError,
    SourceUnavailable,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import BackupEntry, Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, utc_now

KIND = "files"
METHOD = "tar"
ARCHIVE = "files.tar"
CHUNK = 1024 * 1024
BUFFER_SIZE = 1024 * 1024  # the archive is handed to the compressor in buffers of this size
DIFF_LIMIT = 1000  # paths listed per category in diff and result
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID


class UnsafeArchive(DrError):
    """An archive entry that would escape the target or create a device: refused."""


Listing = t.Dict[str, t.Dict[str, t.Any]]


# ---------------------------------------------------------------- paths and names


def check_target(path: str, option: str = "path") -> str:
    if not path or not os.path.isabs(path):
        raise ConfigurationError(f"{option} {path!r} must be an absolute path")
    normalized = os.path.normpath(path)
    if normalized == os.sep:
        raise ConfigurationError(f"{option} must not be the root directory")
    return normalized


def check_subset(paths: t.Sequence[str] | None) -> list[str]:
    """Relative, normalized member names for `paths`; no absolute names, no `..`."""
    names = []
    for raw in paths or []:
        name = os.path.normpath(raw.strip()) if raw else ""
        if not name or name == "." or os.path.isabs(name) or name == ".." or name.startswith("../"):
            raise ConfigurationError(
                f"paths entry {raw!r} must name something inside the backed up directory, relative to it "
                "(for example uploads/2026 or config/app.yml)"
            )
        names.append(name)
    # An entry inside another entry is already restored with it.
    names.sort()
    kept: list[str] = []
    for name in names:
        if not any(name == other or name.startswith(other + "/") for other in kept):
            kept.append(name)
    return kept


def in_subset(name: str, subset: t.Sequence[str]) -> bool:
    return not subset or any(name == path or name.startswith(path + "/") for path in subset)


def excluded(name: str, patterns: t.Sequence[str]) -> bool:
    """Like tar --exclude: a pattern matches the relative path or the last component."""
    base = name.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(base, pattern) for pattern in patterns)


# ---------------------------------------------------------------- listings


def _digest_file(path: str) -> str:
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    with open(path, "rb", buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            digest.update(buffer[:size])
    return digest.hexdigest()


# The SHA-256 of files as they were written, by (device, inode): (size, digest).
Written = t.Dict[t.Tuple[int, int], t.Tuple[int, str]]


@functools.lru_cache(maxsize=256)
def _owner_names(uid: int, gid: int) -> tuple[str, str]:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = ""
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = ""
    return user, group


def entry_of(path: str, st: os.stat_result, digest: bool = True, written: Written | None = None) -> dict[str, t.Any]:
    """The listing entry of one path as it is on disk.

    written has the SHA-256 of files hashed as they were written; a file of
    another size (or not in it) is read and hashed here.
    """
    user, group = _owner_names(st.st_uid, st.st_gid)
    entry: dict[str, t.Any] = {"uid": st.st_uid, "gid": st.st_gid, "user": user, "group": group}
    if stat.S_ISLNK(st.st_mode):
        entry.update(type="symlink", target=os.readlink(path))
        return entry
    entry["mode"] = stat.S_IMODE(st.st_mode) & ~SPECIAL_BITS
    if stat.S_ISDIR(st.st_mode):
        entry["type"] = "dir"
    elif stat.S_ISREG(st.st_mode):
        entry.update(type="file", size=st.st_size, mtime=int(st.st_mtime))
        if digest:
            known = written.get((st.st_dev, st.st_ino)) if written else None
            entry["sha256"] = known[1] if known is not None and known[0] == st.st_size else _digest_file(path)
    else:
        entry["type"] = "special"
    return entry


def scan_tree(root: str, subset: t.Sequence[str] = (), patterns: t.Sequence[str] = (),
              written: Written | None = None) -> Listing:
    """The listing of a tree on disk (the root is "."), for comparing with a backup's."""
    listing: Listing = {}
    if not subset:
        listing["."] = entry_of(root, os.lstat(root), written=written)

    def walk(directory: str, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError as error:
            raise SourceUnavailable(f"cannot list {directory}: {error.strerror}", path=directory) from None
        for name in names:
            relative = f"{prefix}{name}"
            if excluded(relative, patterns):
                continue
            full = os.path.join(directory, name)
            st = os.lstat(full)
            inside = in_subset(relative, subset)
            if inside:
                listing[relative] = entry_of(full, st, written=written)
            if stat.S_ISDIR(st.st_mode) and (inside or any(path.startswith(relative + "/") for path in subset)):
                walk(full, relative + "/")

    walk(root, "")
    return listing


def compare(expected: Listing, actual: Listing, check_owner: bool) -> dict[str, list[str]]:
    """What differs between the backup's listing and a tree: missing, changed and extra paths."""
    keys = ("type", "size", "mode", "mtime", "sha256", "target")
    missing, changed = [], []
    for name, want in expected.items():
        have = actual.get(name)
        if have is None:
            missing.append(name)
            continue
        fields = [key for key in keys if key in want and key in have and want[key] != have[key]
                  and not (key == "mtime" and want.get("type") != "file")]
        if want.get("type") != have.get("type"):
            fields = ["type"]
        if check_owner and want.get("type") != "symlink" and (want.get("uid"), want.get("gid")) != (have.get("uid"), have.get("gid")):
            fields.append("owner")
        if fields:
            changed.append(name)
    extra = sorted(name for name in actual if name not in expected)
    return {"missing": sorted(missing), "changed": sorted(changed), "extra": extra}


# ---------------------------------------------------------------- backup


class _Stopped(Exception):
    """The consumer of an archive went away; the producer stops (never reported)."""


class TreeArchiver:
    """A directory as a PAX tar archive, with its listing recorded while it is read.

    The archive is written into buffers of BUFFER_SIZE bytes: headers from
    tarfile.TarInfo.tobuf, file data read straight into the buffer
    (readinto) and hashed from there, so each byte is read once, copied once
    and hashed once. chunks() fills the buffers in a thread while the caller
    compresses the previous ones; write() does it all in the caller's thread.
    """

    def __init__(self, root: str, patterns: t.Sequence[str] = (), buffer_size: int = BUFFER_SIZE) -> None:
        self.root = root
        self.patterns = list(patterns)
        self.listing: Listing = {}
        self.excluded = 0
        self.skipped: list[str] = []  # sockets, devices, fifos: never restored, so never stored
        self.vanished: list[str] = []
        self.files = 0
        self.bytes = 0
        self._buffer_size = buffer_size
        self._inodes: dict[tuple[int, int], str] = {}  # first name of each file with several links
        self._emit: t.Callable[[memoryview], memoryview] = lambda view: view
        self._view = memoryview(bytearray(0))
        self._position = 0
        self._offset = 0

    # ------------------------------------------------------------ consumers

    def write(self, sink: t.BinaryIO) -> None:
        """Write the whole archive to sink (for consumers that are pushed to)."""
        def emit(view: memoryview) -> memoryview:
            sink.write(view)
            return self._view

        self._produce(emit)

    @contextlib.contextmanager
    def chunks(self, depth: int = 4) -> t.Iterator[t.Iterator[memoryview]]:
        """The archive as an iterator of filled buffers, produced by a thread while the caller consumes them.

        A buffer goes back to the producer when the caller asks for the next
        one. The producer's error (a file that shrank, an unreadable
        directory) is raised by the iteration; leaving the block early stops
        the producer.
        """
        free: queue.Queue[t.Any] = queue.Queue()
        for _buffer in range(depth + 2):
            free.put(memoryview(bytearray(self._buffer_size)))
        filled: queue.Queue[t.Any] = queue.Queue()
        stop = threading.Event()
        errors: list[BaseException] = []

        def emit(view: memoryview) -> memoryview:
            filled.put(view)
            buffer = free.get()
            if stop.is_set():
                raise _Stopped()
            return buffer

        def run() -> None:
            try:
                self._view = free.get()
                self._produce(emit)
            except _Stopped:
                pass
            except BaseException as error:  # handed to the consuming thread
                errors.append(error)
            finally:
                filled.put(None)

        def consume() -> t.Iterator[memoryview]:
            while True:
                view = filled.get()
                if view is None:
                    if errors:
                        raise errors[0]
                    return
                yield view
                free.put(memoryview(view.obj))  # type: ignore[arg-type]

        thread = threading.Thread(target=run, name=f"archive {self.root}", daemon=True)
        thread.start()
        try:
            yield consume()
        finally:
            stop.set()
            free.put(memoryview(bytearray(0)))  # wake a producer waiting for a buffer
            thread.join()

    # ------------------------------------------------------------ the archive

    def _produce(self, emit: t.Callable[[memoryview], memoryview]) -> None:
        self._emit = emit
        if not self._view.nbytes:
            self._view = memoryview(bytearray(self._buffer_size))
        self._position = 0
        if self._entry(self.root, "."):
            self._walk(self.root, "")
        self._put(b"\0" * (2 * tarfile.BLOCKSIZE))
        self._put(b"\0" * (-self._offset % tarfile.RECORDSIZE))
        if self._position:
            self._emit(self._view[:self._position])

    def _flush(self) -> None:
        view = self._emit(self._view)
        self._view, self._position = view, 0

    def _put(self, data: bytes) -> None:
        self._offset += len(data)
        while data:
            room = self._view.nbytes - self._position
            if len(data) <= room:
                self._view[self._position:self._position + len(data)] = data
                self._position += len(data)
                if self._position == self._view.nbytes:
                    self._flush()
                return
            self._view[self._position:] = data[:room]
            self._position += room
            data = data[room:]
            self._flush()

    def _put_file(self, handle: t.Any, size: int, full: str) -> str:
        """Copy size bytes of an open file into the buffers, hashing them from there."""
        digest = hashlib.sha256()
        remaining = size
        while remaining:
            room = self._view.nbytes - self._position
            if not room:
                self._flush()
                continue
            target = self._view[self._position:self._position + min(room, remaining)]
            got = handle.readinto(target)
            if not got:
                raise SourceUnavailable(
                    f"{full} shrank while it was being backed up (from {size} bytes); the backup is "
                    "discarded: run it again when the file is not being rewritten", path=full,
                )
            digest.update(target[:got])
            self._position += got
            remaining -= got
        self._offset += size
        if self._position == self._view.nbytes:
            self._flush()
        self._put(b"\0" * (-size % tarfile.BLOCKSIZE))
        return digest.hexdigest()

    def _walk(self, directory: str, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            self.vanished.append(prefix.rstrip("/") or ".")
            return
        except OSError as error:
            raise SourceUnavailable(f"cannot list {directory} to back it up: {error.strerror}", path=directory) from None
        for name in names:
            relative = f"{prefix}{name}"
            if excluded(relative, self.patterns):
                self.excluded += 1
                continue
            full = os.path.join(directory, name)
            if self._entry(full, relative):
                self._walk(full, relative + "/")

    def _tarinfo(self, full: str, relative: str, st: os.stat_result) -> tarfile.TarInfo | None:
        """What TarFile.gettarinfo makes of a path, from a stat already taken and with cached owner names."""
        info = tarfile.TarInfo(relative)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            inode = (st.st_ino, st.st_dev)
            first = self._inodes.get(inode) if st.st_nlink > 1 else None
            if first is not None and first != relative:
                info.type, info.linkname = tarfile.LNKTYPE, first
            else:
                info.type, info.size = tarfile.REGTYPE, st.st_size
                if st.st_nlink > 1:
                    self._inodes[inode] = relative
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
        else:
            return None
        info.mode, info.uid, info.gid, info.mtime = mode, st.st_uid, st.st_gid, st.st_mtime
        info.uname, info.gname = _owner_names(st.st_uid, st.st_gid)
        return info

    def _header(self, info: tarfile.TarInfo) -> None:
        self._put(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _entry(self, full: str, relative: str) -> bool:
        """Archive one path; True when it is a directory to descend into."""
        try:
            st = os.lstat(full)
            info = self._tarinfo(full, relative, st)
        except FileNotFoundError:
            self.vanished.append(relative)
            return False
        except OSError as error:
            raise SourceUnavailable(f"cannot read {full} to back it up: {error.strerror}", path=full) from None
        if info is None:
            self.skipped.append(relative)
            return False
        user, group = info.uname, info.gname
        entry: dict[str, t.Any] = {"uid": st.st_uid, "gid": st.st_gid, "user": user, "group": group}
        if info.issym():
            entry.update(type="symlink", target=info.linkname)
        else:
            entry["mode"] = stat.S_IMODE(st.st_mode) & ~SPECIAL_BITS
        if info.isreg():
            try:
                handle = open(full, "rb", buffering=0)  # pylint: disable=consider-using-with
            except FileNotFoundError:
                self.vanished.append(relative)
                return False
            except OSError as error:
                raise SourceUnavailable(f"cannot read {full} to back it up: {error.strerror}", path=full) from None
            with handle:
                self._header(info)
                entry.update(type="file", size=info.size, mtime=int(st.st_mtime), sha256=self._put_file(handle, info.size, full))
            self.files += 1
            self.bytes += info.size
        elif info.islnk():
            self._header(info)
            first = self.listing.get(info.linkname, {})
            entry.update(type="file", size=st.st_size, mtime=int(st.st_mtime), sha256=first.get("sha256"), link=info.linkname)
            self.files += 1
        else:
            self._header(info)
            if info.isdir():
                entry["type"] = "dir"
        self.listing[relative] = entry
        return info.isdir()


def backup_plan(path: str, patterns: t.Sequence[str]) -> dict[str, t.Any]:
    """Counts of what a backup would store, for check mode (no content is read)."""
    files = directories = links = size = skipped = 0
    for directory, dirnames, filenames in os.walk(path):
        prefix = os.path.relpath(directory, path)
        prefix = "" if prefix == "." else prefix + "/"
        dirnames[:] = [name for name in dirnames if not excluded(prefix + name, patterns)]
        directories += len(dirnames)
        for name in filenames + [name for name in dirnames if os.path.islink(os.path.join(directory, name))]:
            if excluded(prefix + name, patterns):
                continue
            st = os.lstat(os.path.join(directory, name))
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
            elif stat.S_ISLNK(st.st_mode):
                links += 1
            else:
                skipped += 1
    return {"files": files, "directories": directories, "symlinks": links, "bytes": size, "special_files": skipped}


def files_backup(repository: Repository, *, component: str, path: str, exclude: t.Sequence[str],
                 check_mode: bool) -> dict[str, t.Any]:
    root = check_target(path)
    if not os.path.isdir(root) or os.path.islink(root):
        raise SourceUnavailable(f"{root} is not a directory; give the directory to back up as path", path=root)
    if check_mode:
        plan = backup_plan(root, exclude)
        return {"changed": True, "component": component, "path": root, "repository": repository.location,
                "files": plan["files"], "bytes": plan["bytes"], "backup_id": None}
    archiver = TreeArchiver(root, exclude)
    started = utc_now()
    with repository.new_backup(component, kind=KIND, method=METHOD) as backup:
        with archiver.chunks() as chunks:
            record = backup.add_chunks(ARCHIVE, chunks)
        backup.source = {"path": root, "exclude": list(exclude)}
        backup.consistency_point = {"time": format_time(started)}
        backup.tools = {"tar": f"python tarfile (PAX), python {'.'.join(map(str, sys.version_info[:3]))}"}
        backup.verification = {"listing": archiver.listing}
        backup.extra = {"file_count": archiver.files, "total_bytes": archiver.bytes,
                        "entries": len(archiver.listing), "archive": ARCHIVE}
    warnings = []
    if archiver.skipped:
        warnings.append(f"{len(archiver.skipped)} special files (sockets, devices, fifos) were not backed up: "
                        + ", ".join(archiver.skipped[:20]))
    if archiver.vanished:
        warnings.append(f"{len(archiver.vanished)} paths disappeared while the backup ran: " + ", ".join(archiver.vanished[:20]))
    return {
        "changed": True, "component": component, "path": root, "repository": repository.location,
        "backup_id": backup.backup_id, "files": archiver.files, "bytes": archiver.bytes,
        "entries": len(archiver.listing), "excluded": archiver.excluded, "stored_size": record.size,
        "skipped_special_files": archiver.skipped[:DIFF_LIMIT], "vanished": archiver.vanished[:DIFF_LIMIT],
        "warnings": warnings,
    }


# ---------------------------------------------------------------- restore


def resolve_owner(owner: str | None, group: str | None) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
    user_id = group_id = None
    if owner:
        try:
            record = pwd.getpwuid(int(owner)) if owner.isdigit() else pwd.getpwnam(owner)
            user_id = (record.pw_uid, record.pw_name)
        except KeyError:
            if not owner.isdigit():
                raise ConfigurationError(f"owner {owner} is not a user on this host") from None
            user_id = (int(owner), "")
    if group:
        try:
            grecord = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
            group_id = (grecord.gr_gid, grecord.gr_name)
        except KeyError:
            if not group.isdigit():
                raise ConfigurationError(f"group {group} is not a group on this host") from None
            group_id = (int(group), "")
    return user_id, group_id


@functools.lru_cache(maxsize=256)
def _local_ids(user: str, group: str, uid: int, gid: int) -> tuple[int, int]:
    """What tar extraction does: the name's id on this host, else the recorded number."""
    try:
        uid = pwd.getpwnam(user).pw_uid if user else uid
    except KeyError:
        pass
    try:
        gid = grp.getgrnam(group).gr_gid if group else gid
    except KeyError:
        pass
    return uid, gid


def expected_owner(entry: dict[str, t.Any], user: tuple[int, str] | None, group: tuple[int, str] | None) -> tuple[int, int]:
    """The uid and gid a restored entry gets: the mapping, else the name, else the recorded number."""
    uid, gid = _local_ids(entry.get("user") or "", entry.get("group") or "", entry["uid"], entry["gid"])
    return (user[0] if user is not None else uid), (group[0] if group is not None else gid)


def expected_listing(listing: Listing, subset: t.Sequence[str], user: tuple[int, str] | None,
                     group: tuple[int, str] | None, owners: bool) -> Listing:
    """The backup's listing as the restored tree must look (subset, owner mapping applied)."""
    result: Listing = {}
    for name, entry in listing.items():
        if name == "." and subset:
            continue
        if not in_subset(name, subset):
            continue
        want = dict(entry)
        if owners:
            want["uid"], want["gid"] = expected_owner(entry, user, group)
        result[name] = want
    return result


class SafeFilter:
    """The extraction filter: data_filter's safety checks, the owners and modes of the backup kept."""

    def __init__(self, wanted: t.Callable[[str], bool], user: tuple[int, str] | None,
                 group: tuple[int, str] | None, label: str) -> None:
        self.wanted = wanted
        self.user = user
        self.group = group
        self.label = label

    def refuse(self, member: tarfile.TarInfo, why: str) -> t.NoReturn:
        raise UnsafeArchive(
            f"{self.label}: the archive entry {member.name!r} was refused ({why}); nothing was changed in the "
            "target. The archive was not written by files_backup or was tampered with: restore another backup "
            "and inspect this one by hand (zstd -d | tar -tv)"
        )

    def __call__(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        if member.name.startswith("/") or os.path.isabs(member.name):
            self.refuse(member, "absolute path")
        if member.islnk() and (member.linkname.startswith("/") or os.path.isabs(member.linkname)):
            self.refuse(member, "hard link to an absolute path")
        try:
            safe = tarfile.data_filter(member, dest)  # type: ignore[attr-defined]
        except tarfile.FilterError as error:  # type: ignore[attr-defined]
            self.refuse(member, f"{type(error).__name__}: {error}")
        if not self.wanted(safe.name):
            return None
        changes: dict[str, t.Any] = {"name": safe.name, "linkname": safe.linkname, "deep": False}
        if member.mode is not None:
            changes["mode"] = member.mode & ~SPECIAL_BITS & 0o7777
        if self.user is not None:
            changes.update(uid=self.user[0], uname=self.user[1])
        if self.group is not None:
            changes.update(gid=self.group[0], gname=self.group[1])
        return member.replace(**changes)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(first: str, second: str) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False when the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), first)


def swap_in(new: str, live: str, previous: str) -> bool:
    """Put new at live; what was at live goes to previous. True when it was atomic."""
    os.makedirs(os.path.dirname(previous), exist_ok=True)
    if not os.path.lexists(live):
        os.makedirs(os.path.dirname(live), exist_ok=True)
        os.rename(new, live)
        return True
    if exchange(new, live):
        os.rename(new, previous)
        return True
    os.rename(live, previous)
    os.rename(new, live)
    return False


def _free_name(base: str) -> str:
    candidate, number = base, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _remove(path: str) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def _limited(names: list[str]) -> list[str]:
    return names[:DIFF_LIMIT]


def files_restore(repository: Repository, *, component: str, path: str, backup_id: str | None = None,
                  paths: t.Sequence[str] | None = None, keep_previous: bool = True, owner: str | None = None,
                  group: str | None = None, check_mode: bool = False, diff: bool = False) -> dict[str, t.Any]:
    if not hasattr(tarfile, "data_filter"):
        raise DependencyMissing("files_restore needs Python's tar extraction filters (Python 3.9.17, 3.10.12, "
                                "3.11.4, 3.12 or newer) on the host that runs it")
    target = check_target(path)
    subset = check_subset(paths)
    if os.path.islink(target):
        raise ConfigurationError(f"path {target} is a symlink; give the directory it points to ({os.path.realpath(target)})")
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ConfigurationError(f"path {target} exists and is not a directory; move it away or restore elsewhere")
    if os.path.isdir(target) and os.path.ismount(target) and not subset:
        raise ConfigurationError(
            f"path {target} is a mount point, so a restored tree cannot be swapped in beside it; restore into a "
            "directory below it, or restore its content with paths"
        )
    if subset and not os.path.isdir(target):
        raise ConfigurationError(f"paths restores part of an existing directory, but {target} does not exist")
    user, grp_ = resolve_owner(owner, group)
    owners = os.geteuid() == 0
    if (owner or group) and not owners:
        raise ConfigurationError("owner and group need the module to run as root (become: true)")

    selection = repository.choose_backup(component, backup_id)
    entry: BackupEntry = selection.entry
    label = entry.label
    listing: Listing = repository.verification_data(entry).get("listing") or {}
    if not listing:
        raise VerificationFailed(f"{label} has no file listing to verify a restore against; it was not written by files_backup")
    for name in subset:
        if name not in listing:
            raise ConfigurationError(f"paths entry {name} is not in {label}; backup_info shows what it holds")
    expected = expected_listing(listing, subset, user, grp_, owners)

    # The plan: what differs between the live tree and the backup.
    if os.path.isdir(target):
        patterns = (entry.manifest.source.get("exclude") if entry.manifest else None) or []
        live = scan_tree(target, subset, patterns)
        differences = compare(expected, live, owners)
    else:
        differences = {"missing": sorted(expected), "changed": [], "extra": []}
    changed = any(differences.values())
    result: dict[str, t.Any] = {
        "changed": changed, "component": component, "backup_id": entry.backup_id, "path": target,
        "paths": subset, "repository": repository.location,
        "consistency_point": entry.manifest.consistency_point if entry.manifest else {},
        "differences": {key: _limited(value) for key, value in differences.items()},
        "previous_path": None, "atomic_swap": None, "skipped_backups": selection.skipped_backups(),
    }
    if diff:
        result["diff"] = {
            "before": "".join(f"{name}\n" for name in _limited(differences["changed"] + differences["extra"])),
            "after": "".join(f"{name}\n" for name in _limited(differences["changed"] + differences["missing"])),
            "before_header": f"{target} (now)", "after_header": f"{target} (backup {entry.backup_id})",
        }
    if not changed or check_mode:
        return result

    parent, base = os.path.split(target)
    staging = os.path.join(parent, f".{base}.restore-{entry.backup_id}")
    if os.path.lexists(staging):
        _remove(staging)  # left over by an interrupted restore of the same backup
    os.mkdir(staging, 0o700)
    try:
        written = _extract(repository, entry, staging, listing, subset, user, grp_, label)
        staged = scan_tree(staging, subset, written=written)
        problems = compare(expected, staged, owners)
        problems.update(links=_broken_links(staging, expected))
        if any(problems.values()):
            summary = "; ".join(f"{key}: {', '.join(value[:10])}" for key, value in problems.items() if value)
            raise VerificationFailed(
                f"{label}: the restored tree does not match the backup's listing ({summary}); the target {target} "
                "was not changed. Restore another backup (backup_info lists them) and run backup_verify",
                differences=problems,
            )
        previous = _free_name(f"{target}.pre-restore-{entry.backup_id}")
        atomic = True
        if subset:
            for name in subset:
                atomic = swap_in(os.path.join(staging, name), os.path.join(target, name), os.path.join(previous, name)) and atomic
        else:
            atomic = swap_in(staging, target, previous)
    finally:
        if os.path.lexists(staging):
            _remove(staging)
    result["atomic_swap"] = atomic
    if os.path.lexists(previous):
        if keep_previous:
            result["previous_path"] = previous
        else:
            _remove(previous)
    return result


class _HashingTarFile(tarfile.TarFile):
    """A TarFile whose extraction hashes each regular file's content as it writes it.

    Everything else (the filter, links, directories, attributes) is
    TarFile's own. The file is created without following a symlink already
    at its name (an archive that names a path twice is refused, never
    written through a link).
    """

    written: Written

    def makefile(self, tarinfo: tarfile.TarInfo, targetpath: str) -> None:
        if tarinfo.sparse is not None:  # never written by files_backup; hashed by reading it back
            super().makefile(tarinfo, targetpath)
            return
        source = self.fileobj
        source.seek(tarinfo.offset_data)  # type: ignore[union-attr]
        digest = hashlib.sha256()
        descriptor = os.open(targetpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(descriptor, "wb", buffering=0) as target:
            remaining = tarinfo.size
            while remaining:
                wanted = min(remaining, CHUNK)
                data = source.read(wanted)  # type: ignore[union-attr]
                if len(data) != wanted:
                    raise tarfile.ReadError("unexpected end of data")
                digest.update(data)
                target.write(data)
                remaining -= wanted
            st = os.fstat(descriptor)
        self.written[(st.st_dev, st.st_ino)] = (tarinfo.size, digest.hexdigest())


# tarfile's stream reader keeps what it read ahead in one bytes object and
# copies the rest of it on every read: small read-ahead keeps the many
# 512-byte header reads cheap, file data is read in CHUNK pieces above.
_TAR_READ_AHEAD = 16 * 1024


def _extract(repository: Repository, entry: BackupEntry, staging: str, listing: Listing, subset: list[str],
             user: tuple[int, str] | None, group: tuple[int, str] | None, label: str) -> Written:
    """Extract the archive into staging; returns the SHA-256 of every regular file as it was written."""
    # Hard links whose first name lies outside the subset need that file extracted too (into staging only).
    needed = {item["link"] for name, item in listing.items() if item.get("link") and in_subset(name, subset)}

    def wanted(name: str) -> bool:
        return in_subset(name, subset) or name in needed

    safe = SafeFilter(wanted, user, group, label)
    written: Written = {}
    try:
        with repository.open_reader(entry, ARCHIVE) as stream:
            with _HashingTarFile.open(fileobj=stream, mode="r|", bufsize=_TAR_READ_AHEAD) as archive:  # type: ignore[call-overload]
                archive.written = written
                archive.errorlevel = 2
                archive.extractall(staging, filter=safe)
    except tarfile.TarError as error:
        raise RepositoryError(
            f"{label}: the archive {ARCHIVE} cannot be read ({error}); nothing was changed in the target. "
            "Restore another backup (backup_info lists them) and run backup_verify"
        ) from None
    except OSError as error:
        raise RepositoryError(
            f"{label}: extracting into {staging} failed: {error}; nothing was changed in the target "
            "(free space beside the target is needed for a full copy of the restored tree)", path=staging,
        ) from None
    return written


def _broken_links(root: str, expected: Listing) -> list[str]:
    """Hard links of the backup that are not hard links after the restore."""
    broken = []
    for name, entry in expected.items():
        first = entry.get("link")
        if first and first in expected:
            try:
                if not os.path.samefile(os.path.join(root, name), os.path.join(root, first)):
                    broken.append(name)
            except OSError:
                broken.append(name)
    return broken
