# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup without Ansible, and the listings files_restore checks against.

A backup is one PAX tar archive of the directory (``files.tar``, stored
compressed and optionally encrypted by the repository) plus, as verification
data, the listing of every entry: type, size, mode, mtime, owner, SHA-256 of
the content, symlink target and hard link. The archive is written while the
tree is read, so the digests cost no second read.

The restore is in _files_restore, its extraction in _safe_extract.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import grp
import hashlib
import os
import pwd
import queue
import stat
import sys
import tarfile
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local_writers import file_digest
from ansible_collections.resilience.dr.plugins.module_utils._repository.producer import Producer
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._tar_stream import pax_header
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, utc_now

KIND = "files"
METHOD = "tar"
ARCHIVE = "files.tar"
BUFFER_SIZE = 1024 * 1024  # the archive is handed to the compressor in buffers of this size
DIFF_LIMIT = 1000  # paths listed per category in diff and result
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID


Listing = t.Dict[str, t.Dict[str, t.Any]]
# The SHA-256 of files as they were written, by (device, inode): (size, digest).
Written = t.Dict[t.Tuple[int, int], t.Tuple[int, str]]


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
            entry["sha256"] = known[1] if known is not None and known[0] == st.st_size else file_digest(path)[1]
    else:
        entry["type"] = "special"
    return entry


def _content_decides(want: dict[str, t.Any] | None, st: os.stat_result) -> bool:
    """Whether comparing with the backup's entry `want` needs the file's SHA-256: not for a path the backup does
    not hold (extra), nor for a file whose type, size or mtime already differ (changed either way)."""
    return (want is not None and want.get("type") == "file" and stat.S_ISREG(st.st_mode)
            and want.get("size") == st.st_size and want.get("mtime") == int(st.st_mtime))


def scan_tree(root: str, subset: t.Sequence[str] = (), patterns: t.Sequence[str] = (),
              written: Written | None = None, expected: Listing | None = None) -> Listing:
    """The listing of a tree on disk (the root is "."), for comparing with a backup's.

    With expected (the backup's listing), a file is read and hashed only when its content can decide the
    comparison (_content_decides); compare() gives the same differences as with every file hashed.
    """
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
            try:
                st = os.lstat(full)
            except OSError as error:
                raise SourceUnavailable(f"cannot read {full}: {error.strerror}", path=full) from None
            inside = in_subset(relative, subset)
            if inside:
                digest = expected is None or _content_decides(expected.get(relative), st)
                listing[relative] = entry_of(full, st, digest=digest, written=written)
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
        one, so at most depth + 2 buffers exist (queued, being consumed, being
        filled). The producer's error (a file that shrank, an unreadable
        directory) is raised by the iteration; leaving the block early stops
        the producer.
        """
        spare: queue.SimpleQueue[bytearray] = queue.SimpleQueue()  # buffers the caller is done with

        def buffer() -> memoryview:
            try:
                return memoryview(spare.get_nowait())
            except queue.Empty:
                return memoryview(bytearray(self._buffer_size))

        def produce(put: t.Callable[[memoryview], None]) -> None:
            def emit(view: memoryview) -> memoryview:
                put(view)
                return buffer()

            self._view = buffer()
            self._produce(emit)

        def consume(produced: Producer[memoryview]) -> t.Iterator[memoryview]:
            for view in produced:
                yield view
                spare.put(t.cast(bytearray, view.obj))

        with Producer(produce, name=f"archive {self.root}", depth=depth) as produced:
            yield consume(produced)

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
        self._put(pax_header(info))

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
        "backup_id": backup.backup_id, "consistency_point": backup.consistency_point,
        "files": archiver.files, "bytes": archiver.bytes,
        "entries": len(archiver.listing), "excluded": archiver.excluded, "stored_size": record.size,
        "skipped_special_files": archiver.skipped[:DIFF_LIMIT], "vanished": archiver.vanished[:DIFF_LIMIT],
        "warnings": warnings,
    }
