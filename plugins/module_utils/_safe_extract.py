# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extracting a files_backup archive without trusting it.

tarfile only reads the headers and the members' bytes; every file system
change is made here, relative to open directory descriptors, so the safety
does not depend on the interpreter's tar filters (which a chain of symlinks
longer than PATH_MAX got past before Python 3.11.13, 3.12.11 and 3.13.4):

- each directory of a member's path is opened with O_NOFOLLOW from its
  parent's descriptor, so a symlink (or a file) anywhere in a parent path is
  refused, never followed;
- files are created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, here; their
  content is hashed and written, and they get their owner and mode (fchown,
  fchmod) once written, by the content writer's thread (_content_writer);
- a symlink is created only when its target stays inside the tree, read
  lexically from the link's own directory: not absolute, ``..`` only at its
  start and no more of them than the link is deep;
- a hard link only to a file extracted earlier from the same archive;
- no devices, fifos or other special entries, no absolute names, no ``..``;
- every member must be in the backup's listing, with the type it records, and
  a file's header may not claim more bytes than the listing says: the bytes
  are written with that budget, so a decompression bomb stops before it
  writes anything;
- free space (and inodes) for what the listing says is checked first.
"""

from __future__ import annotations

import collections
import errno
import os
import stat
import tarfile
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._content_writer import ContentWriter
from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError
from ansible_collections.resilience.dr.plugins.module_utils._files import SPECIAL_BITS, Listing, Written
from ansible_collections.resilience.dr.plugins.module_utils._tar_stream import ArchiveReader

OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CREATE_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
OPEN_DIRECTORIES = 64  # directory descriptors kept open while extracting (most recently used)

# The uid and gid an extracted entry gets, from its tar header; None: owners are not set (not root).
OwnerOf = t.Optional[t.Callable[[tarfile.TarInfo], t.Tuple[int, int]]]

ARCHIVE_HINT = ("nothing was changed in the target. The archive was not written by files_backup or was tampered "
                "with: restore another backup and inspect this one by hand (zstd -d | tar -tv)")
TYPE_NAMES = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a fifo"}


class UnsafeArchive(DrError):
    """An archive entry that would escape the target, create a device or differs from the listing: refused."""


class InsufficientSpace(DrError):
    """The file system of the staging directory cannot hold what the backup's listing says it holds."""


def member_path(name: str) -> tuple[str, list[str]] | str:
    """The listing key and the components of an archive name, or why the name is refused."""
    if name.startswith("/"):
        return "absolute path"
    if "\0" in name:
        return "NUL byte in the name"
    parts = [part for part in name.split("/") if part and part != "."]
    if ".." in parts:
        return "'..' in the path"
    return ("/".join(parts) or "."), parts


def link_escape(depth: int, target: str) -> str | None:
    """Why a symlink `depth` directories below the root with this target could point out of the tree, or None.

    Read lexically from the link's directory, which is a real directory of the
    tree (parents are never links). ``..`` counts only at the start: after a
    name, that name could be another link, and ``..`` would climb from
    wherever it points (how a chain of links gets out).
    """
    if not target:
        return "symlink with an empty target"
    if target.startswith("/"):
        return f"symlink to the absolute path {target!r}"
    ups, named = 0, False
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if named:
                return f"symlink target {target!r} has '..' after a name, which could climb out through another link"
            ups += 1
        else:
            named = True
    if ups > depth:
        return f"symlink to {target!r}, outside the restored tree"
    return None


def space_needed(listing: Listing, wanted: t.Callable[[str], bool], block: int) -> tuple[int, int]:
    """Bytes (whole blocks) and entries the wanted part of a listing takes on disk."""
    size = entries = 0
    block = block or 4096
    for name, entry in listing.items():
        if not wanted(name):
            continue
        entries += 1
        kind = entry.get("type")
        if kind == "file" and not entry.get("link"):
            size += -(-int(entry.get("size") or 0) // block) * block
        elif kind == "dir":
            size += block
    return size, entries


def _human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # not reached


def check_free_space(directory: str, listing: Listing, wanted: t.Callable[[str], bool], label: str) -> None:
    """Refuse before extracting when the file system of directory cannot hold the listing's files."""
    st = os.statvfs(directory)
    needed, entries = space_needed(listing, wanted, st.f_frsize)
    free = st.f_bavail * st.f_frsize
    if needed > free:
        raise InsufficientSpace(
            f"{label}: restoring needs about {_human(needed)} for {entries} entries in {directory}, but its file "
            f"system has only {_human(free)} free; nothing was changed in the target. Free space there, or restore "
            "to a path on a larger file system", path=directory,
        )
    if st.f_files and entries > st.f_favail:  # f_files is 0 where inodes are not limited
        raise InsufficientSpace(
            f"{label}: restoring creates {entries} entries in {directory}, but its file system has only "
            f"{st.f_favail} free inodes; nothing was changed in the target. Free inodes there, or restore to a "
            "path on another file system", path=directory,
        )


class Extractor:
    """Extracts the members of a tar stream below root_fd, refusing whatever is unsafe or not in the listing.

    root_fd is an open directory descriptor (the empty staging directory);
    wanted(name) says which members to extract (the others are skipped
    unread); owner_of gives the uid and gid of a member (None: owners are not
    set). Directories get their mode, owner and mtime at the end (finish), so
    that a read-only directory can still be filled.
    """

    def __init__(self, root_fd: int, listing: Listing, wanted: t.Callable[[str], bool], owner_of: OwnerOf,
                 label: str) -> None:
        self.root_fd = root_fd
        self.listing = listing
        self.wanted = wanted
        self.owner_of = owner_of
        self.label = label
        self._content = ContentWriter()
        self.written: Written = self._content.written  # the SHA-256 of each file as it was written
        self._files: set[str] = set()  # regular files extracted so far (hard link sources)
        self._directories: list[tuple[str, list[str], tarfile.TarInfo]] = []
        self._fds: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.current = ""  # the member being extracted, as the archive names it (for messages)
        self._key = ""  # and as the listing does

    # ------------------------------------------------------------ errors

    def refuse(self, why: str) -> t.NoReturn:
        raise UnsafeArchive(f"{self.label}: the archive entry {self.current!r} was refused ({why}); {ARCHIVE_HINT}")

    # ------------------------------------------------------------ directories

    def _open(self, parent_fd: int, name: str, relative: str) -> int:
        """A descriptor of the directory name in parent_fd, never through a link; created (0700) when missing."""
        try:
            return os.open(name, OPEN_DIRECTORY, dir_fd=parent_fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            try:
                is_link = stat.S_ISLNK(os.lstat(name, dir_fd=parent_fd).st_mode)
            except OSError:
                is_link = False
            what = "a symlink" if is_link else "not a directory"
            where = relative if relative == self._key else f"its parent {relative}"
            self.refuse(f"{where} is {what}; extraction never follows a link in a path")
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # a parent the archive does not list (a subset's)
        return os.open(name, OPEN_DIRECTORY, dir_fd=parent_fd)

    def directory(self, parts: list[str]) -> int:
        """The descriptor of the directory with these components below the root (cached)."""
        if not parts:
            return self.root_fd
        key = "/".join(parts)
        fd = self._fds.get(key)
        if fd is not None:
            self._fds.move_to_end(key)
            return fd
        known = len(parts) - 1
        while known and "/".join(parts[:known]) not in self._fds:
            known -= 1
        fd = self._fds["/".join(parts[:known])] if known else self.root_fd
        for depth in range(known, len(parts)):
            relative = "/".join(parts[:depth + 1])
            fd = self._open(fd, parts[depth], relative)
            self._fds[relative] = fd
        return fd

    def _trim(self) -> None:
        while len(self._fds) > OPEN_DIRECTORIES:
            os.close(self._fds.popitem(last=False)[1])

    def close(self) -> None:
        self._content.close()
        while self._fds:
            os.close(self._fds.popitem()[1])

    # ------------------------------------------------------------ members

    def extract(self, archive: tarfile.TarFile, source: ArchiveReader) -> Written:
        """Extract every wanted member of archive, whose data source hands out (_tar_stream.open_archive); then finish()."""
        try:
            self._members(archive, source)
            self.finish()
        except OSError:
            # Writing a file's content fails in the content writer's thread, found out a few members later.
            self.current = self._content.failed_name or self.current
            raise
        return self.written

    def _members(self, archive: tarfile.TarFile, source: ArchiveReader) -> None:
        while True:
            member = archive.next()
            if member is None:
                break
            # Nothing looks members up; the list would grow with the archive. typeshed does not declare
            # TarFile.members, and getmembers() would read the whole stream first.
            archive.members.clear()  # type: ignore[attr-defined]
            self.current = member.name
            checked = member_path(member.name)
            if isinstance(checked, str):
                self.refuse(checked)
            name, parts = checked
            self._key = name
            if not self.wanted(name):
                continue
            entry = self.listing.get(name)
            if entry is None:
                self.refuse("it is not in the backup's listing")
            self._trim()
            if member.isreg():
                self._file(member, name, parts, entry, source)
            elif member.isdir():
                self._directory(member, name, parts, entry)
            elif member.issym():
                self._symlink(member, parts, entry)
            elif member.islnk():
                self._hard_link(member, name, parts, entry)
            else:
                self.refuse(f"it is {TYPE_NAMES.get(member.type, f'an entry of type {member.type!r}')}; "
                            "only files, directories and links are restored")

    def _expect(self, entry: dict[str, t.Any], kind: str) -> None:
        if entry.get("type") != kind:
            self.refuse(f"the archive has a {kind}, the backup's listing a {entry.get('type')}")

    def _file(self, member: tarfile.TarInfo, name: str, parts: list[str], entry: dict[str, t.Any],
              source: ArchiveReader) -> None:
        self._expect(entry, "file")
        listed = entry.get("size")
        if entry.get("link") or not isinstance(listed, int):
            self.refuse("the backup's listing records a hard link or no size for it")
        if member.size > listed:
            self.refuse(f"its header says {member.size} bytes, the backup's listing {listed}")
        if member.sparse is not None:
            self.refuse("a sparse file, which files_backup never writes")
        parent = self.directory(parts[:-1])
        try:
            fd = os.open(parts[-1], CREATE_FILE, 0o600, dir_fd=parent)
        except FileExistsError:
            self.refuse("the name is already taken: the archive names it twice")
        self._content.begin(fd, member.name)  # hashed, written, closed by the content writer's thread
        source.seek(member.offset_data)
        for view in source.views(member.size):
            self._content.write(view)
        owner = self.owner_of(member) if self.owner_of is not None else None
        self._content.end((owner, member.mode & 0o7777 & ~SPECIAL_BITS, member.mtime))
        self._files.add(name)

    def _directory(self, member: tarfile.TarInfo, name: str, parts: list[str], entry: dict[str, t.Any]) -> None:
        self._expect(entry, "dir")
        if parts:
            parent = self.directory(parts[:-1])
            try:
                os.mkdir(parts[-1], 0o700, dir_fd=parent)
            except FileExistsError:
                pass  # made as the parent of an earlier member, or named twice: it must be a real directory
            self.directory(parts)
        self._directories.append((name, parts, member))

    def _symlink(self, member: tarfile.TarInfo, parts: list[str], entry: dict[str, t.Any]) -> None:
        self._expect(entry, "symlink")
        if not parts:
            self.refuse("the root of the tree cannot be a symlink")
        why = link_escape(len(parts) - 1, member.linkname)
        if why:
            self.refuse(why)
        if entry.get("target") != member.linkname:
            self.refuse(f"the backup's listing records the target {entry.get('target')!r}")
        parent = self.directory(parts[:-1])
        try:
            os.symlink(member.linkname, parts[-1], dir_fd=parent)
        except FileExistsError:
            self.refuse("the name is already taken: the archive names it twice")
        if self.owner_of is not None:
            os.chown(parts[-1], *self.owner_of(member), dir_fd=parent, follow_symlinks=False)

    def _hard_link(self, member: tarfile.TarInfo, name: str, parts: list[str], entry: dict[str, t.Any]) -> None:
        self._expect(entry, "file")
        checked = member_path(member.linkname)
        if isinstance(checked, str):
            self.refuse(f"hard link to {member.linkname!r}: {checked}")
        source, source_parts = checked
        if source not in self._files:
            self.refuse(f"hard link to {member.linkname!r}, which is not a file extracted earlier from this archive")
        if not parts:
            self.refuse("the root of the tree cannot be a hard link")
        parent = self.directory(parts[:-1])
        source_parent = self.directory(source_parts[:-1])
        try:
            os.link(source_parts[-1], parts[-1], src_dir_fd=source_parent, dst_dir_fd=parent, follow_symlinks=False)
        except FileExistsError:
            self.refuse("the name is already taken: the archive names it twice")
        self._files.add(name)

    def finish(self) -> None:
        """Owners, modes and mtimes of the directories, deepest first (a read-only parent stays enterable)."""
        self._content.finish()
        for _name, parts, member in reversed(self._directories):
            self.current = member.name
            fd = self.directory(parts)
            if self.owner_of is not None:
                os.fchown(fd, *self.owner_of(member))
            os.fchmod(fd, member.mode & 0o7777 & ~SPECIAL_BITS)
            os.utime(fd, (member.mtime, member.mtime))
            self._trim()
        self._directories.clear()
