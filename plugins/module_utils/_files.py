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

import ctypes
import errno
import fnmatch
import functools
import grp
import hashlib
import os
import pwd
import shutil
import stat
import sys
import tarfile
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
    with open(path, "rb") as handle:
        while True:
            data = handle.read(CHUNK)
            if not data:
                break
            digest.update(data)
    return digest.hexdigest()


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


def entry_of(path: str, st: os.stat_result, digest: bool = True) -> dict[str, t.Any]:
    """The listing entry of one path as it is on disk."""
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
            entry["sha256"] = _digest_file(path)
    else:
        entry["type"] = "special"
    return entry


def scan_tree(root: str, subset: t.Sequence[str] = (), patterns: t.Sequence[str] = ()) -> Listing:
    """The listing of a tree on disk (the root is "."), for comparing with a backup's."""
    listing: Listing = {}
    if not subset:
        listing["."] = entry_of(root, os.lstat(root))

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
                listing[relative] = entry_of(full, st)
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
    """A directory as a readable PAX tar stream, with its listing recorded while it is read.

    The archive is produced on demand by read() in the caller's thread (no
    producer thread, no pipe): headers come from tarfile.TarInfo.tobuf, file
    data is read, hashed and padded to tar's 512-byte blocks here.
    """

    def __init__(self, root: str, patterns: t.Sequence[str] = ()) -> None:
        self.root = root
        self.patterns = list(patterns)
        self.listing: Listing = {}
        self.excluded = 0
        self.skipped: list[str] = []  # sockets, devices, fifos: never restored, so never stored
        self.vanished: list[str] = []
        self.files = 0
        self.bytes = 0
        self._tar = tarfile.TarFile(fileobj=_Discard(), mode="w", format=tarfile.PAX_FORMAT)  # for gettarinfo's hard links
        self._chunks = self._generate()
        self._buffer = bytearray()
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        """Up to size bytes; may return fewer (a whole chunk, without copying), b"" at the end."""
        if not self._buffer and size > 0 and self._chunks is not None:
            chunk = b""
            while not chunk:  # padding may be empty; b"" means the end only when the archive ends
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    self._chunks = None
                    return b""
            if len(chunk) <= size:
                return chunk
            self._buffer += chunk
        while (size < 0 or len(self._buffer) < size) and self._chunks is not None:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._chunks = None
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def write(self, sink: t.BinaryIO) -> None:
        """Write the whole archive to sink (for consumers that are pushed to)."""
        while True:
            data = self.read(CHUNK)
            if not data:
                return
            sink.write(data)

    def _generate(self) -> t.Iterator[bytes]:
        yield from self._entry(self.root, ".")
        yield from self._walk(self.root, "")
        end = b"\0" * (2 * tarfile.BLOCKSIZE)
        self._offset += len(end)
        yield end + b"\0" * (-self._offset % tarfile.RECORDSIZE)

    def _walk(self, directory: str, prefix: str) -> t.Iterator[bytes]:
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
            is_directory = yield from self._entry(full, relative)
            if is_directory:
                yield from self._walk(full, relative + "/")

    def _header(self, info: tarfile.TarInfo) -> bytes:
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        self._offset += len(header)
        return header

    def _entry(self, full: str, relative: str) -> t.Generator[bytes, None, bool]:
        try:
            st = os.lstat(full)
            info = self._tar.gettarinfo(full, arcname=relative)
        except FileNotFoundError:
            self.vanished.append(relative)
            return False
        except OSError as error:
            raise SourceUnavailable(f"cannot read {full} to back it up: {error.strerror}", path=full) from None
        if info is None or not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
            self.skipped.append(relative)
            return False
        entry = entry_of(full, st, digest=False)
        if info.isreg():
            try:
                handle = open(full, "rb")
            except FileNotFoundError:
                self.vanished.append(relative)
                return False
            except OSError as error:
                raise SourceUnavailable(f"cannot read {full} to back it up: {error.strerror}", path=full) from None
            with handle:
                yield self._header(info)
                digest = hashlib.sha256()
                remaining = info.size
                while remaining:
                    data = handle.read(min(CHUNK, remaining))
                    if not data:
                        raise SourceUnavailable(
                            f"{full} shrank while it was being backed up (from {info.size} bytes); the backup is "
                            "discarded: run it again when the file is not being rewritten", path=full,
                        )
                    digest.update(data)
                    remaining -= len(data)
                    self._offset += len(data)
                    yield data
                padding = -info.size % tarfile.BLOCKSIZE
                self._offset += padding
                yield b"\0" * padding
            entry["sha256"] = digest.hexdigest()
            self.files += 1
            self.bytes += info.size
        elif info.islnk():
            yield self._header(info)
            first = self.listing.get(info.linkname, {})
            entry.update(sha256=first.get("sha256"), link=info.linkname)
            self.files += 1
        else:
            yield self._header(info)
        self.listing[relative] = entry
        return info.isdir()


class _Discard:
    """A file object that drops what is written (the TarFile above only lends its gettarinfo)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def tell(self) -> int:
        return 0


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
        record = backup.add_stream(ARCHIVE, archiver)  # type: ignore[arg-type]
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

    entry: BackupEntry = repository.select_backup(component, backup_id)
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
        "previous_path": None, "atomic_swap": None,
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
        _extract(repository, entry, staging, listing, subset, user, grp_, label)
        staged = scan_tree(staging, subset)
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


def _extract(repository: Repository, entry: BackupEntry, staging: str, listing: Listing, subset: list[str],
             user: tuple[int, str] | None, group: tuple[int, str] | None, label: str) -> None:
    # Hard links whose first name lies outside the subset need that file extracted too (into staging only).
    needed = {item["link"] for name, item in listing.items() if item.get("link") and in_subset(name, subset)}

    def wanted(name: str) -> bool:
        return in_subset(name, subset) or name in needed

    safe = SafeFilter(wanted, user, group, label)
    try:
        with repository.open_file(entry, ARCHIVE) as stream:
            with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as archive:  # type: ignore[call-overload]
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
