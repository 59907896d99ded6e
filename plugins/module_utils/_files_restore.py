# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore without Ansible: plan, extract into staging, verify, swap in.

A restore extracts into a staging directory beside the target (same
filesystem) with _safe_extract, which never follows a link in a parent path
and refuses whatever is unsafe or not in the backup's listing; it checks the
staged tree against the listing, and only then swaps it in: the whole
directory with one ``renameat2(RENAME_EXCHANGE)``, or each of ``paths`` (only
below real directories of the target, never through a link). The live tree is
never touched before the new one is verified; the old one is kept as
``<path>.pre-restore-<backup_id>``, and once swapped out a failure never
deletes it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import functools
import grp
import os
import pwd
import shutil
import stat
import tarfile
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    RepositoryError,
    SwapFailed,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._files import (
    ARCHIVE,
    DIFF_LIMIT,
    KIND,
    Listing,
    Written,
    check_subset,
    check_target,
    compare,
    in_subset,
    scan_tree,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import (
    Selection,
    would_restore_message,
)
from ansible_collections.resilience.dr.plugins.module_utils._safe_extract import (
    OPEN_DIRECTORY,
    Extractor,
    OwnerOf,
    check_free_space,
)
from ansible_collections.resilience.dr.plugins.module_utils._tar_stream import open_archive
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_time


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


def owner_function(user: tuple[int, str] | None, group: tuple[int, str] | None, owners: bool) -> OwnerOf:
    """The uid and gid of an extracted member as tar sets them (by name, else number), with the mapping applied."""
    if not owners:
        return None

    def owner_of(member: tarfile.TarInfo) -> tuple[int, int]:
        uid, gid = _local_ids(member.uname, member.gname, member.uid, member.gid)
        return (user[0] if user is not None else uid), (group[0] if group is not None else gid)

    return owner_of


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(first: str, second: str, second_dir: int = _AT_FDCWD) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False when the system cannot.

    second is relative to the directory descriptor second_dir when one is given.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), second_dir, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), first)


@dataclasses.dataclass
class Swapped:
    """The outcome of one swap: atomic or not, and a warning when the old content stayed where new was."""

    atomic: bool
    warning: str | None = None


def swap_in(new: str, live: str, previous: str, live_dir: int = _AT_FDCWD, shown: str | None = None) -> Swapped:
    """Put new at live; what was at live goes to previous.

    With live_dir, live is a name in that directory descriptor (opened
    without following links), shown as shown in messages. Once the old entry
    is out of its place, a failure never loses it: it stays where it is and
    the outcome says where.
    """
    shown = shown or live
    os.makedirs(os.path.dirname(previous), exist_ok=True)
    dir_fd = None if live_dir == _AT_FDCWD else live_dir
    try:
        os.lstat(live, dir_fd=dir_fd)
    except FileNotFoundError:
        if dir_fd is None:
            os.makedirs(os.path.dirname(live), exist_ok=True)
        os.rename(new, live, dst_dir_fd=dir_fd)
        return Swapped(True)
    if exchange(new, live, live_dir):
        try:
            os.rename(new, previous)
        except OSError as error:
            return Swapped(True, f"the old content of {shown} was swapped out to {new} but could not be moved to "
                                 f"{previous} ({error.strerror}); it is kept at {new}: compare, then remove it")
        return Swapped(True)
    os.rename(live, previous, src_dir_fd=dir_fd)
    try:
        os.rename(new, live, dst_dir_fd=dir_fd)
    except OSError as error:
        try:
            os.rename(previous, live, dst_dir_fd=dir_fd)
        except OSError:
            raise SwapFailed(
                f"putting the restored content at {shown} failed ({error.strerror}) and the old content could not be "
                f"moved back: it is at {previous}; move it back by hand", path=previous,
            ) from None
        raise SwapFailed(f"putting the restored content at {shown} failed ({error.strerror}); the old content is back "
                         "in place, unchanged", path=shown) from None
    return Swapped(False)


def open_live_parent(target: str, name: str) -> int:
    """A descriptor of the directory that holds target/name, each directory opened without following a link.

    Missing directories are created (mode 0755 before the umask); a symlink
    or a file on the way is refused: a restore of paths never writes through a
    link of the live tree.
    """
    fd = os.open(target, OPEN_DIRECTORY)
    walked = target
    try:
        for part in name.split("/")[:-1]:
            walked = os.path.join(walked, part)
            try:
                child = os.open(part, OPEN_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, OPEN_DIRECTORY, dir_fd=fd)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise ConfigurationError(_live_parent_message(walked, name)) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _live_parent_message(walked: str, name: str) -> str:
    what = f"a symlink (to {os.readlink(walked)})" if os.path.islink(walked) else "not a directory"
    return (f"paths entry {name}: {walked} is {what}; a restore of paths writes only below real directories of "
            "path, never through a link. Replace it with the directory it should be, or restore the whole tree")


def check_live_parents(target: str, subset: t.Sequence[str]) -> None:
    """Refuse paths whose parent in the live tree is a symlink or a file (before anything is extracted)."""
    for name in subset:
        walked = target
        for part in name.split("/")[:-1]:
            walked = os.path.join(walked, part)
            try:
                st = os.lstat(walked)
            except FileNotFoundError:
                break
            if not stat.S_ISDIR(st.st_mode):
                raise ConfigurationError(_live_parent_message(walked, name))


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


def select_files_backup(repository: Repository, component: str, backup_id: str | None,
                        target_time: datetime | None = None) -> Selection:
    """The files backup to restore (and the newer ones passed over); a backup of another kind is refused naming it.

    target_time: the newest one consistent at or before it."""
    return repository.choose_backup(component, backup_id, target_time=target_time, kind=KIND)


def files_restore(repository: Repository, *, component: str, path: str, backup_id: str | None = None,
                  target_time: str | None = None,
                  paths: t.Sequence[str] | None = None, keep_previous: bool = True, owner: str | None = None,
                  group: str | None = None, check_mode: bool = False, diff: bool = False) -> dict[str, t.Any]:
    moment = parse_time(target_time, "target_time") if target_time else None
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
    check_live_parents(target, subset)
    user, grp_ = resolve_owner(owner, group)
    owners = os.geteuid() == 0
    if (owner or group) and not owners:
        raise ConfigurationError("owner and group need the module to run as root (become: true)")

    selection = select_files_backup(repository, component, backup_id, moment)
    entry = selection.entry
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
        live = scan_tree(target, subset, patterns, expected=expected)
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
    if changed and check_mode:
        result["msg"] = would_restore_message(entry, target)
    if not changed or check_mode:
        return result

    parent, base = os.path.split(target)
    staging = os.path.join(parent, f".{base}.restore-{entry.backup_id}")
    if os.path.lexists(staging):
        _remove(staging)  # left over by an interrupted restore of the same backup
    os.mkdir(staging, 0o700)
    swaps: list[Swapped] = []
    try:
        written = _extract(repository, entry, staging, listing, subset, owner_function(user, grp_, owners), label)
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
        try:
            _swap(staging, target, previous, subset, swaps)
        except SwapFailed as error:
            raise SwapFailed(f"{label}: {error.message}", **error.details) from None
        except OSError as error:
            done = f"; {len(swaps)} of the paths were already swapped in (the old ones are in {previous})" if swaps else ""
            raise SwapFailed(f"{label}: swapping the verified tree into {target} failed: {error}{done}; nothing "
                             "else was changed. Fix the cause and run the restore again", path=target) from None
    finally:
        # Staging holds only restored data, unless a swap could not move the old content out of it.
        if os.path.lexists(staging) and not any(swap.warning for swap in swaps):
            _remove(staging)
    result["atomic_swap"] = all(swap.atomic for swap in swaps)
    warnings = [swap.warning for swap in swaps if swap.warning]
    if warnings:  # the old content stayed in staging (the whole old tree, or the old entries of paths)
        result["warnings"] = warnings
        result["previous_path"] = staging
    elif os.path.lexists(previous):
        if keep_previous:
            result["previous_path"] = previous
        else:
            _remove(previous)
    return result


def _swap(staging: str, target: str, previous: str, subset: list[str], swaps: list[Swapped]) -> None:
    """Swap the staged tree (or each staged entry of subset) in; each outcome is appended to swaps."""
    if not subset:
        swaps.append(swap_in(staging, target, previous))
        return
    parents: list[int] = []
    try:
        for name in subset:  # every live parent is checked (and held) before anything is swapped
            parents.append(open_live_parent(target, name))
        for name, live_dir in zip(subset, parents):
            swaps.append(swap_in(os.path.join(staging, name), os.path.basename(name), os.path.join(previous, name),
                                 live_dir, os.path.join(target, name)))
    finally:
        for fd in parents:
            os.close(fd)


def _extract(repository: Repository, entry: BackupEntry, staging: str, listing: Listing, subset: list[str],
             owner_of: OwnerOf, label: str) -> Written:
    """Extract the archive into staging; returns the SHA-256 of every regular file as it was written."""
    # Hard links whose first name lies outside the subset need that file extracted too (into staging only).
    needed = {item["link"] for name, item in listing.items() if item.get("link") and in_subset(name, subset)}

    def wanted(name: str) -> bool:
        return in_subset(name, subset) or name in needed

    check_free_space(staging, listing, wanted, label)
    root = os.open(staging, OPEN_DIRECTORY)
    extractor = Extractor(root, listing, wanted, owner_of, label)
    try:
        with repository.open_reader(entry, ARCHIVE) as stream:
            with open_archive(stream) as (archive, reader):
                written = extractor.extract(archive, reader)
        return written
    except tarfile.TarError as error:
        raise RepositoryError(
            f"{label}: the archive {ARCHIVE} cannot be read ({error}); nothing was changed in the target. "
            "Restore another backup (backup_info lists them) and run backup_verify"
        ) from None
    except OSError as error:
        raise RepositoryError(
            f"{label}: extracting {extractor.current!r} into {staging} failed: {error}; nothing was changed in the "
            "target (free space beside the target is needed for a full copy of the restored tree)", path=staging,
        ) from None
    finally:
        extractor.close()
        os.close(root)


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
