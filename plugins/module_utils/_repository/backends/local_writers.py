# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writers of a local repository: a temporary file beside the target, checked, then renamed into place.

Files are created 0600 from the start. Large streams and kernel copies are
followed by a thread that writes them out (and hashes copies) behind the
writer, so commit's fsync and check have little left to do.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import secrets
import threading
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import HASH_CHUNK, ReadBackWriter, size_mismatch

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend


FILE_MODE = 0o600


def raise_os_error(error: OSError, action: str, where: str) -> t.NoReturn:
    hint = ""
    if error.errno == errno.ENOSPC:
        hint = "; the file system is full: free space or use another repository"
    elif error.errno in (errno.EACCES, errno.EPERM):
        hint = "; check the owner and mode of the repository directory"
    raise RepositoryError(f"cannot {action} {where}: {error.strerror or error}{hint}", path=where) from None


# Errors of os.copy_file_range / os.sendfile that mean "not between these two
# files" (old kernel, other file systems, special files): fall back to the next way.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}
# ioctl FICLONE (linux/fs.h): the target shares the source's blocks (a reflink, as `cp --reflink` makes) on
# file systems that can (XFS, Btrfs); others refuse it with one of these, and the file is copied instead.
FICLONE = 0x40049409
_NO_CLONE = _NO_KERNEL_COPY | {errno.ENOTTY}
KERNEL_COPY_STEP = 32 * 1024 * 1024  # bytes per copy_file_range call: the hashing follows step by step
FLUSH_EVERY = 64 * 1024 * 1024  # a file being copied is written out (fdatasync) every this many bytes


class WriteFollower(threading.Thread):
    """Follows a file being written: has it written out as it grows and (for copies) hashes it behind the writer.

    The kernel holds dirty pages until fsync (or its 30 s timer), so a plain
    write first writes, then waits for the disk; writing out every
    FLUSH_EVERY bytes, and hashing what was copied while the next step is
    copied, overlaps the three. Streams hashed by their writer (a backup
    being compressed) are only written out (hashing=False).
    """

    def __init__(self, descriptor: int, hashing: bool = True) -> None:
        super().__init__(name="copy-check" if hashing else "write-behind", daemon=True)
        self.descriptor = descriptor
        self.hashing = hashing
        self._digest = hashlib.sha256()
        self._followed = 0
        self._flushed = 0
        self._copied = 0
        self._finished = False
        self._stopping = False
        self._changed = threading.Condition()
        self.error: OSError | None = None

    def copied(self, total: int) -> None:
        with self._changed:
            self._copied = total
            self._changed.notify()

    def finish(self) -> tuple[int, str] | None:
        """Wait for the hashing and writing out to catch up; the size and SHA-256 of the file (None without hashing)."""
        with self._changed:
            self._finished = True
            self._changed.notify()
        self.join()
        if self.error is not None:
            raise self.error
        return (self._followed, self._digest.hexdigest()) if self.hashing else None

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self.join()

    def run(self) -> None:
        try:
            while True:
                with self._changed:
                    while self._copied == self._followed and not (self._finished or self._stopping):
                        self._changed.wait()
                    if self._stopping or (self._finished and self._copied == self._followed):
                        return
                    copied = self._copied
                if self.hashing:
                    self._hash(self._followed, copied)
                self._followed = copied
                if copied - self._flushed >= FLUSH_EVERY:
                    os.fdatasync(self.descriptor)
                    self._flushed = copied
        except OSError as error:
            self.error = error

    def _hash(self, start: int, end: int) -> None:
        # Mapped, the page cache is hashed where it lies, without a copy into this process.
        offset = start - start % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(self.descriptor, end - offset, access=mmap.ACCESS_READ, offset=offset) as mapped:
            with memoryview(mapped) as view:
                self._digest.update(view[start - offset:])


class LocalWriter:
    """A temporary file beside the target, renamed over it on commit."""

    def __init__(self, backend: LocalBackend, key: str) -> None:
        self._backend = backend
        self._path = backend.path(key)
        directory = os.path.dirname(self._path)
        backend.make_dirs(directory)
        self._temporary = os.path.join(directory, f".{os.path.basename(self._path)}.partial-{secrets.token_hex(4)}")
        try:
            descriptor = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except OSError as error:
            raise_os_error(error, "create", self._temporary)
        self._file = os.fdopen(descriptor, "wb", buffering=0)
        self._done = False
        self._follower: WriteFollower | None = None
        self._written = 0
        self._announced = 0

    def write(self, data: bytes) -> int:
        try:
            view = memoryview(data)
            while view:
                written = self._file.write(view)
                view = view[written:]
        except OSError as error:
            self.abort()
            raise_os_error(error, "write", self._path)
        self._written += len(data)
        if self._written - self._announced >= FLUSH_EVERY:
            # Large streams are written out behind the writer, so commit's fsync has little left to wait for.
            if self._follower is None:
                self._follower = WriteFollower(os.dup(self._file.fileno()), hashing=False)
                self._follower.start()
            self._follower.copied(self._written)
            self._announced = self._written
        return len(data)

    def copy_file(self, source: t.BinaryIO) -> None:
        """Copy the open file source (from its start) into this empty file, by the kernel where it can.

        A thread follows the copy, hashing what was copied and writing it out,
        for commit((size, sha256)) to check. Where the file system shares
        blocks between files, the file is cloned instead: nothing is copied,
        and the one hash then reads what the disk holds for it.
        """
        source_fd = source.fileno()
        target_fd = self._file.fileno()
        # The follower maps the file read-only (fdatasync works on such a descriptor too).
        self._follower = WriteFollower(os.open(self._temporary, os.O_RDONLY | os.O_CLOEXEC))
        self._follower.start()
        try:
            if clone_file(source_fd, target_fd):
                self._follower.copied(os.fstat(target_fd).st_size)
                return
        except OSError as error:
            self.abort()
            raise_os_error(error, "clone to", self._path)
        ways: list[t.Callable[[int, int, int], int]] = [
            os.copy_file_range,
            lambda src, dst, count: os.sendfile(dst, src, None, count),
            lambda src, dst, count: self.write(os.read(src, min(count, HASH_CHUNK))),
        ]
        copied = 0
        try:
            while ways:
                try:
                    count = ways[0](source_fd, target_fd, KERNEL_COPY_STEP)
                except OSError as error:
                    if copied == 0 and len(ways) > 1 and error.errno in _NO_KERNEL_COPY:
                        ways.pop(0)  # copy_file_range and sendfile move no offsets when they refuse
                        continue
                    raise
                if count == 0:
                    break
                copied += count
                self._follower.copied(copied)
        except OSError as error:
            self.abort()
            raise_os_error(error, "copy to", self._path)

    def commit(self, expect: tuple[int, str] | None = None) -> None:
        """fsync, rename into place, fsync the directory.

        With expect (size, SHA-256), the file is first read back and checked,
        while fsync writes it out; a file that differs is removed, never
        renamed into place (IntegrityError).
        """
        try:
            followed = None
            if self._follower is not None:
                followed = self._follower.finish()
                self._close_follower()
            if expect is None:
                os.fsync(self._file.fileno())
            elif followed is not None:
                os.fsync(self._file.fileno())
                if followed != expect:
                    raise size_mismatch(self._path, followed, expect)
            else:
                self._flush_and_check(expect)
            self._file.close()
            os.replace(self._temporary, self._path)
            self._backend.sync_dir(os.path.dirname(self._path))
        except OSError as error:
            self.abort()
            raise_os_error(error, "write", self._path)
        except IntegrityError:
            self.abort()
            raise
        self._done = True

    def _flush_and_check(self, expect: tuple[int, str]) -> None:
        # The read-back hashes what the kernel holds for the file, which is what
        # fsync hands to the disk: both run at once, the CPU of one under the I/O of the other.
        failures: list[OSError] = []

        def flush() -> None:
            try:
                os.fsync(self._file.fileno())
            except OSError as error:
                failures.append(error)

        flusher = threading.Thread(target=flush, name="fsync", daemon=True)
        flusher.start()
        try:
            actual = file_digest(self._temporary)
        finally:
            flusher.join()
        if failures:
            raise failures[0]
        if actual != expect:
            raise size_mismatch(self._path, actual, expect)

    def _close_follower(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            os.close(self._follower.descriptor)
            self._follower = None

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._close_follower()
        self._file.close()
        try:
            os.unlink(self._temporary)
        except FileNotFoundError:
            pass


def clone_file(source_fd: int, target_fd: int) -> bool:
    """Make the empty target share the source's blocks (FICLONE); False where the file system cannot."""
    try:
        fcntl.ioctl(target_fd, FICLONE, source_fd)
    except OSError as error:
        if error.errno in _NO_CLONE:
            return False
        raise
    return True


def file_digest(path: str) -> tuple[int, str]:
    """Size and SHA-256 of a local file, read in large chunks into one buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            size += count
    return size, digest.hexdigest()


class LocalVerifiedWriter(ReadBackWriter):
    """A local file checked before it is renamed into place: read back and hashed while fsync writes it out.

    The read-back is served by the page cache, i.e. it checks the bytes the
    kernel hands to the disk (the source was read right, nothing is missing
    or out of order, nothing else wrote the file); fsync's success is the
    disk's word that it stored them. A writer a subclass of the backend wraps
    is checked by reading the object back afterwards, as any backend's.
    """

    chunk_size = HASH_CHUNK

    def copy_file(self, source: t.BinaryIO) -> bool:
        if not isinstance(self._writer, LocalWriter):
            return False  # a wrapped writer (a subclass's) sees every byte through write()
        self._writer.copy_file(source)
        return True

    def commit(self, size: int, sha256: str) -> str:
        if isinstance(self._writer, LocalWriter):
            self._writer.commit((size, sha256))
            return "read back"
        return super().commit(size, sha256)
