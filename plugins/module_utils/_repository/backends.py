# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backups are stored: a local directory or an S3 prefix.

Both backends offer the same small set of operations on '/'-separated keys
relative to the repository root. Writes become visible only when committed
(temporary file + rename locally, completed multipart upload on S3), so a
reader never sees half a file. Local files are created 0600 and directories
0700 from the start.
"""

from __future__ import annotations

import abc
import base64
import errno
import hashlib
import mmap
import os
import secrets
import sys
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    IntegrityError,
    RepositoryError,
)

# boto3 takes most of a second to import; it is imported only for S3 repositories.
boto3: t.Any = None
botocore: t.Any = None


def _import_boto3() -> None:
    global boto3, botocore  # pylint: disable=global-statement
    if boto3 is not None:
        return
    try:
        import boto3 as _boto3  # pylint: disable=import-outside-toplevel
        import botocore.config  # pylint: disable=import-outside-toplevel,unused-import
        import botocore.exceptions  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        raise DependencyMissing(
            "the Python library boto3 is required for an s3:// repository but is not installed for the Python "
            "that runs this module; install it there (pip install boto3)"
        ) from None
    boto3, botocore = _boto3, sys.modules["botocore"]


FILE_MODE = 0o600
DIR_MODE = 0o700
# S3 multipart: parts start at 16 MiB and double every 2,000 parts, so a file
# of any size fits in the 10,000 parts S3 allows while memory stays bounded
# (part size x (uploads in flight + 1)).
PART_SIZE = 16 * 1024 * 1024
PARTS_PER_SIZE_STEP = 2000
UPLOADS_IN_FLIGHT = 3
# Connections kept per S3 client: enough for the parts of several files
# uploaded at once (backup_copy sends four files at a time), so none is
# opened and discarded per part.
S3_CONNECTIONS = 4 * UPLOADS_IN_FLIGHT + 4


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime | None = None


class ObjectWriter(t.Protocol):
    def write(self, data: bytes) -> int: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class VerifiedWriter(t.Protocol):
    """A writer whose commit checks that the stored object is what was written."""

    chunk_size: int  # the size of write() that costs the fewest copies

    def write(self, data: bytes) -> int: ...

    def copy_file(self, source: t.BinaryIO) -> bool:
        """Copy the rest of an open local file inside the kernel; False when this writer cannot (then write())."""

    def commit(self, size: int, sha256: str) -> str:
        """Make the object visible, then check it holds size bytes with this SHA-256; returns how it was checked."""

    def abort(self) -> None: ...


READ_CHUNK = 1024 * 1024
HASH_CHUNK = 4 * 1024 * 1024  # read-back: larger reads into one reused buffer


def _mismatch(where: str, actual: tuple[int, str], expected: tuple[int, str]) -> IntegrityError:
    return IntegrityError(
        f"{where} holds {actual[0]} bytes with SHA-256 {actual[1][:12]}... where "
        f"{expected[0]} bytes with SHA-256 {expected[1][:12]}... were written",
        path=where,
    )


class Backend(abc.ABC):
    """Operations every repository backend provides."""

    location: str

    @abc.abstractmethod
    def describe(self, key: str) -> str:
        """Full location of key for messages: /srv/backups/x or s3://bucket/prefix/x."""

    @abc.abstractmethod
    def list_objects(self, prefix: str) -> t.Iterator[StoredObject]:
        """Every object under prefix (recursively), in no particular order."""

    @abc.abstractmethod
    def list_children(self, prefix: str) -> list[str]:
        """Names of the immediate 'directories' under prefix."""

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes | None:
        """Content of a small object, or None if it does not exist."""

    @abc.abstractmethod
    def open_read(self, key: str) -> t.BinaryIO:
        """A stream of the object's bytes; the caller closes it."""

    @abc.abstractmethod
    def open_write(self, key: str) -> ObjectWriter:
        """A writer whose data becomes visible under key only on commit()."""

    @abc.abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create key with data unless it exists; False when it exists."""

    @abc.abstractmethod
    def replace_if_unchanged(self, key: str, expected: bytes, data: bytes) -> bool:
        """Overwrite key with data only while it still holds expected."""

    @abc.abstractmethod
    def delete_if_unchanged(self, key: str, expected: bytes) -> bool:
        """Delete key only while it still holds expected."""

    @abc.abstractmethod
    def delete(self, keys: t.Sequence[str]) -> None:
        """Delete keys; missing ones are ignored."""

    def write_bytes(self, key: str, data: bytes) -> None:
        writer = self.open_write(key)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def close(self) -> None:
        """Release resources held by the backend."""

    def stored_digest(self, key: str) -> tuple[int, str]:
        """Size and SHA-256 of a stored object, read back in full."""
        digest = hashlib.sha256()
        size = 0
        source = self.open_read(key)
        try:
            while True:
                data = source.read(READ_CHUNK)
                if not data:
                    break
                digest.update(data)
                size += len(data)
        finally:
            source.close()
        return size, digest.hexdigest()

    def check_stored(self, key: str, size: int, sha256: str) -> None:
        """Read an object back; an IntegrityError when its size or SHA-256 differ from those given."""
        actual = self.stored_digest(key)
        if actual != (size, sha256):
            raise _mismatch(self.describe(key), actual, (size, sha256))

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer that, on commit, reads the object back and checks its size and SHA-256."""
        return _ReadBackWriter(self, key)


class _ReadBackWriter:
    chunk_size = READ_CHUNK

    def __init__(self, backend: Backend, key: str) -> None:
        self._backend = backend
        self._key = key
        self._writer = backend.open_write(key)

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def copy_file(self, source: t.BinaryIO) -> bool:  # pylint: disable=unused-argument
        return False

    def commit(self, size: int, sha256: str) -> str:
        self._writer.commit()
        try:
            self._backend.check_stored(self._key, size, sha256)
        except IntegrityError:
            self._backend.delete([self._key])  # never leave a wrong object where a resume would look
            raise
        return "read back"

    def abort(self) -> None:
        self._writer.abort()


# --------------------------------------------------------------------------- local


def _raise_os_error(error: OSError, action: str, where: str) -> t.NoReturn:
    hint = ""
    if error.errno == errno.ENOSPC:
        hint = "; the file system is full: free space or use another repository"
    elif error.errno in (errno.EACCES, errno.EPERM):
        hint = "; check the owner and mode of the repository directory"
    raise RepositoryError(f"cannot {action} {where}: {error.strerror or error}{hint}", path=where) from None


# Errors of os.copy_file_range / os.sendfile that mean "not between these two
# files" (old kernel, other file systems, special files): fall back to the next way.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}
KERNEL_COPY_STEP = 32 * 1024 * 1024  # bytes per copy_file_range call: the hashing follows step by step
FLUSH_EVERY = 64 * 1024 * 1024  # a file being copied is written out (fdatasync) every this many bytes


class _Follower(threading.Thread):
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


class _LocalWriter:
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
            _raise_os_error(error, "create", self._temporary)
        self._file = os.fdopen(descriptor, "wb", buffering=0)
        self._done = False
        self._follower: _Follower | None = None
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
            _raise_os_error(error, "write", self._path)
        self._written += len(data)
        if self._written - self._announced >= FLUSH_EVERY:
            # Large streams are written out behind the writer, so commit's fsync has little left to wait for.
            if self._follower is None:
                self._follower = _Follower(os.dup(self._file.fileno()), hashing=False)
                self._follower.start()
            self._follower.copied(self._written)
            self._announced = self._written
        return len(data)

    def copy_file(self, source: t.BinaryIO) -> None:
        """Copy the open file source (from its start) into this empty file, by the kernel where it can.

        A thread follows the copy, hashing what was copied and writing it out,
        for commit((size, sha256)) to check.
        """
        source_fd = source.fileno()
        target_fd = self._file.fileno()
        # The follower maps the file read-only (fdatasync works on such a descriptor too).
        self._follower = _Follower(os.open(self._temporary, os.O_RDONLY | os.O_CLOEXEC))
        self._follower.start()
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
            _raise_os_error(error, "copy to", self._path)

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
                    raise _mismatch(self._path, followed, expect)
            else:
                self._flush_and_check(expect)
            self._file.close()
            os.replace(self._temporary, self._path)
            self._backend.sync_dir(os.path.dirname(self._path))
        except OSError as error:
            self.abort()
            _raise_os_error(error, "write", self._path)
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
            actual = _file_digest(self._temporary)
        finally:
            flusher.join()
        if failures:
            raise failures[0]
        if actual != expect:
            raise _mismatch(self._path, actual, expect)

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


def _file_digest(path: str) -> tuple[int, str]:
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


class _LocalVerifiedWriter:
    """A local file checked before it is renamed into place: read back and hashed while fsync writes it out.

    The read-back is served by the page cache, i.e. it checks the bytes the
    kernel hands to the disk (the source was read right, nothing is missing
    or out of order, nothing else wrote the file); fsync's success is the
    disk's word that it stored them.
    """

    chunk_size = HASH_CHUNK

    def __init__(self, backend: LocalBackend, key: str) -> None:
        self._backend = backend
        self._key = key
        self._writer = backend.open_write(key)

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def copy_file(self, source: t.BinaryIO) -> bool:
        if not isinstance(self._writer, _LocalWriter):
            return False  # a wrapped writer (a subclass's) sees every byte through write()
        self._writer.copy_file(source)
        return True

    def commit(self, size: int, sha256: str) -> str:
        if isinstance(self._writer, _LocalWriter):
            self._writer.commit((size, sha256))
            return "read back"
        self._writer.commit()
        try:
            self._backend.check_stored(self._key, size, sha256)
        except IntegrityError:
            self._backend.delete([self._key])  # never leave a wrong object where a resume would look
            raise
        return "read back"

    def abort(self) -> None:
        self._writer.abort()


class LocalBackend(Backend):
    def __init__(self, root: str) -> None:
        if not os.path.isabs(root):
            raise ConfigurationError(f"repository {root!r} must be an absolute path or an s3:// URL")
        self.root = os.path.normpath(root)
        self.location = self.root

    def path(self, key: str) -> str:
        parts = [part for part in key.split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise RepositoryError(f"refusing repository key {key!r}: it leaves the repository")
        return os.path.join(self.root, *parts)

    def describe(self, key: str) -> str:
        return self.path(key)

    def make_dirs(self, directory: str) -> None:
        """Create directory and missing parents below the root with mode 0700."""
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                continue
            except OSError as error:
                _raise_os_error(error, "create directory", path)

    @staticmethod
    def sync_dir(directory: str) -> None:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def list_objects(self, prefix: str) -> t.Iterator[StoredObject]:
        base = self.path(prefix)
        if not os.path.isdir(base):
            return
        for directory, _subdirectories, files in os.walk(base):
            for name in files:
                full = os.path.join(directory, name)
                try:
                    info = os.stat(full)
                except FileNotFoundError:
                    continue
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                yield StoredObject(key, info.st_size, datetime.fromtimestamp(info.st_mtime, timezone.utc))

    def list_children(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        try:
            return sorted(entry.name for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as error:
            _raise_os_error(error, "list", base)

    def read_bytes(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            _raise_os_error(error, "read", path)

    def open_read(self, key: str) -> t.BinaryIO:
        path = self.path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise RepositoryError(f"{path} is missing", path=path) from None
        except OSError as error:
            _raise_os_error(error, "read", path)

    def open_write(self, key: str) -> ObjectWriter:
        return _LocalWriter(self, key)

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer whose commit reads the file back and checks it before renaming it into place."""
        return _LocalVerifiedWriter(self, key)

    def stored_digest(self, key: str) -> tuple[int, str]:
        path = self.path(key)
        try:
            return _file_digest(path)
        except FileNotFoundError:
            raise RepositoryError(f"{path} is missing", path=path) from None
        except OSError as error:
            _raise_os_error(error, "read", path)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create key holding data, unless it exists; it appears whole, never empty or half written.

        The data goes to a temporary file first; os.link then gives it the
        key's name only if that name is free (atomic, like O_EXCL), so a
        reader never finds the object between its creation and its content.
        """
        path = self.path(key)
        directory = os.path.dirname(path)
        temporary = os.path.join(directory, f".{os.path.basename(path)}.partial-{secrets.token_hex(4)}")
        for attempt in range(3):
            self.make_dirs(directory)
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
                break
            except FileNotFoundError as error:
                # Another process removed the directory, left empty by its release, just after we made it.
                if attempt == 2:
                    _raise_os_error(error, "create", temporary)
            except OSError as error:
                _raise_os_error(error, "create", temporary)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            except OSError as error:
                _raise_os_error(error, "create (as a hard link)", path)
            self.sync_dir(directory)
            return True
        finally:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass

    def replace_if_unchanged(self, key: str, expected: bytes, data: bytes) -> bool:
        # Local locks are taken by processes of this host; the compare and the
        # rename are not one atomic step, which is why breaking a lock is an
        # explicit operator decision (break_stale_lock), never automatic.
        if self.read_bytes(key) != expected:
            return False
        self.write_bytes(key, data)
        return True

    def delete_if_unchanged(self, key: str, expected: bytes) -> bool:
        if self.read_bytes(key) != expected:
            return False
        self.delete([key])
        return True

    def delete(self, keys: t.Sequence[str]) -> None:
        directories = set()
        for key in keys:
            path = self.path(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                _raise_os_error(error, "delete", path)
            directories.add(os.path.dirname(path))
        # Remove directories left empty, deepest first, never the root.
        for directory in sorted(directories, key=len, reverse=True):
            while directory != self.root and directory.startswith(self.root):
                try:
                    os.rmdir(directory)
                except OSError:
                    break
                directory = os.path.dirname(directory)


# --------------------------------------------------------------------------- S3


@dataclass
class S3Options:
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    validate_certs: bool = True
    sse: str | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: str | None = None
    object_lock_days: int | None = None


MISSING = ("NoSuchKey", "404", "NotFound")
PRECONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict", "412")


def _aws_error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _S3Writer:
    """Streams into one object: a single PUT for small files, multipart above PART_SIZE.

    With checksum, every PUT and part carries its SHA-256, which S3 checks on
    receipt (refusing a part that arrived damaged) and stores with the object;
    `checksum_sha256` is then the value S3 should report for the object (for a
    multipart upload the SHA-256 of the parts' digests, as S3 computes it).
    """

    def __init__(self, backend: S3Backend, key: str, checksum: bool = False) -> None:
        self._backend = backend
        self._key = backend.object_key(key)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.Semaphore(UPLOADS_IN_FLIGHT)
        self._done = False
        self._checksum = checksum
        self.checksum_sha256: str | None = None

    def _part_size(self) -> int:
        return PART_SIZE << min(len(self._parts) // PARTS_PER_SIZE_STEP, 4)

    @property
    def chunk_size(self) -> int:
        """Writes of exactly this size (a whole part) are sent as they are, without a copy."""
        return self._part_size()

    def write(self, data: bytes) -> int:
        if not self._buffer and isinstance(data, bytes) and len(data) == self._part_size():
            self._send_part(data)
            return len(data)
        self._buffer += data
        while len(self._buffer) >= self._part_size():
            size = self._part_size()
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._send_part(chunk)
        return len(data)

    def _send_part(self, chunk: bytes) -> None:
        backend = self._backend
        if self._upload_id is None:
            extra = {"ChecksumAlgorithm": "SHA256"} if self._checksum else {}
            response = backend.call(
                "create_multipart_upload", self._key, Bucket=backend.bucket, Key=self._key, **backend.put_arguments(),
                **extra,
            )
            self._upload_id = response["UploadId"]
            self._pool = ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT)
        number = len(self._parts) + 1
        self._slots.acquire()  # bounds memory: at most UPLOADS_IN_FLIGHT parts wait in memory

        def upload() -> dict[str, t.Any]:
            try:
                extra = {"ChecksumSHA256": _b64(hashlib.sha256(chunk).digest())} if self._checksum else {}
                response = backend.call(
                    "upload_part", self._key, Bucket=backend.bucket, Key=self._key,
                    UploadId=self._upload_id, PartNumber=number, Body=chunk, **extra,
                    client=backend.checksummed_client() if self._checksum else None,
                )
                return {"PartNumber": number, "ETag": response["ETag"], **extra}
            finally:
                self._slots.release()

        self._parts.append(self._pool.submit(upload))
        # Surface a failed part now rather than after gigabytes more.
        for future in self._parts:
            failure = future.exception() if future.done() else None
            if failure is not None:
                self.abort()
                raise failure

    def commit(self) -> None:
        backend = self._backend
        try:
            if self._upload_id is None:
                body = bytes(self._buffer)
                extra = {}
                if self._checksum:
                    self.checksum_sha256 = _b64(hashlib.sha256(body).digest())
                    extra["ChecksumSHA256"] = self.checksum_sha256
                backend.call(
                    "put_object", self._key, Bucket=backend.bucket, Key=self._key, Body=body,
                    **backend.put_arguments(), **extra, client=backend.checksummed_client() if self._checksum else None,
                )
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                    self._buffer.clear()
                parts = [future.result() for future in self._parts]
                if self._checksum:
                    digests = b"".join(base64.b64decode(part["ChecksumSHA256"]) for part in parts)
                    self.checksum_sha256 = f"{_b64(hashlib.sha256(digests).digest())}-{len(parts)}"
                backend.call(
                    "complete_multipart_upload", self._key, Bucket=backend.bucket, Key=self._key,
                    UploadId=self._upload_id, MultipartUpload={"Parts": parts},
                )
                backend.ensure_retention(self._key)
        except BaseException:
            self.abort()
            raise
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._upload_id is not None:
            try:
                self._backend.client.abort_multipart_upload(
                    Bucket=self._backend.bucket, Key=self._key, UploadId=self._upload_id
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                pass  # a lifecycle rule for incomplete uploads is the backstop (docs/repository-format.md)


class S3Backend(Backend):
    def __init__(self, url: str, options: S3Options) -> None:
        _import_boto3()
        rest = url[len("s3://"):]
        bucket, _separator, prefix = rest.partition("/")
        if not bucket:
            raise ConfigurationError(f"repository {url!r} names no bucket; write it as s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.options = options
        session = boto3.session.Session(
            aws_access_key_id=options.access_key,
            aws_secret_access_key=options.secret_key,
            aws_session_token=options.session_token,
            profile_name=options.profile,
            region_name=options.region,
        )
        config = botocore.config.Config(
            # Standard retry mode: exponential backoff with jitter on throttling and 5xx.
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=S3_CONNECTIONS,
            s3={"addressing_style": "path"} if options.endpoint_url else None,
        )
        self._session = session
        self._config = config
        self.client = session.client(
            "s3", endpoint_url=options.endpoint_url, verify=options.validate_certs, config=config
        )
        self._checksummed_client: t.Any = None
        self._client_guard = threading.Lock()

    def checksummed_client(self) -> t.Any:
        """A client for uploads that carry their SHA-256 checksum (x-amz-checksum-sha256).

        Such a request's body is checked by S3 against that signed header, so
        botocore need not hash the body a second time for the signature: on
        https it already leaves it unsigned, on plain http (a test endpoint,
        MinIO) it would hash every byte again. This client never signs the body,
        and is used only for requests that carry the checksum.
        """
        with self._client_guard:
            if self._checksummed_client is None:
                s3_config = dict(self._config.s3 or {})
                s3_config["payload_signing_enabled"] = False
                self._checksummed_client = self._session.client(
                    "s3", endpoint_url=self.options.endpoint_url, verify=self.options.validate_certs,
                    config=self._config.merge(botocore.config.Config(s3=s3_config)),
                )
            return self._checksummed_client

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def put_arguments(self) -> dict[str, t.Any]:
        arguments: dict[str, t.Any] = {}
        if self.options.sse:
            arguments["ServerSideEncryption"] = self.options.sse
            if self.options.sse_kms_key_id:
                arguments["SSEKMSKeyId"] = self.options.sse_kms_key_id
        if self.options.object_lock_mode:
            arguments["ObjectLockMode"] = self.options.object_lock_mode
            arguments["ObjectLockRetainUntilDate"] = datetime.now(timezone.utc) + timedelta(
                days=self.options.object_lock_days or 1
            )
        return arguments

    def ensure_retention(self, object_key: str) -> None:
        """Make sure an object written by multipart upload carries the Object Lock retention asked for.

        S3 applies the retention given to CreateMultipartUpload; some S3-compatible
        stores silently drop it, so check, and set it explicitly if it is missing.
        """
        arguments = self.put_arguments()
        if "ObjectLockMode" not in arguments:
            return
        head = self.call("head_object", object_key, Bucket=self.bucket, Key=object_key)
        if head.get("ObjectLockMode") == arguments["ObjectLockMode"]:
            return
        self.call(
            "put_object_retention", object_key, Bucket=self.bucket, Key=object_key,
            Retention={"Mode": arguments["ObjectLockMode"], "RetainUntilDate": arguments["ObjectLockRetainUntilDate"]},
        )

    def call(self, operation: str, key: str, *, client: t.Any = None, **arguments: t.Any) -> dict[str, t.Any]:
        """One S3 API call (with client, or the backend's own); failures become a RepositoryError naming the object and the AWS error."""
        try:
            return getattr(client or self.client, operation)(**arguments)
        except botocore.exceptions.ClientError as error:
            code = _aws_error_code(error)
            hints = {
                "NoSuchBucket": f"; the bucket {self.bucket} does not exist (create it, or check the repository URL and region)",
                "AccessDenied": "; the credentials lack permission for this (see the IAM policy in docs/repository-format.md)",
                "InvalidAccessKeyId": "; the access key is not known to this endpoint",
                "SignatureDoesNotMatch": "; the secret key does not match the access key",
            }
            raise RepositoryError(
                f"S3 {operation} of s3://{self.bucket}/{key} failed: {code or 'error'}: "
                f"{error.response.get('Error', {}).get('Message', error)}{hints.get(code, '')}",
                aws_error_code=code or None,
            ) from None
        except botocore.exceptions.EndpointConnectionError as error:
            raise RepositoryError(
                f"cannot reach the S3 endpoint for {self.location}: {error}; check endpoint_url, region and the network",
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise RepositoryError(f"S3 {operation} of s3://{self.bucket}/{key} failed: {error}") from None

    def list_objects(self, prefix: str) -> t.Iterator[StoredObject]:
        full = self.object_key(prefix.rstrip("/") + "/") if prefix else (self.prefix + "/" if self.prefix else "")
        token = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": full}
            if token:
                arguments["ContinuationToken"] = token
            page = self.call("list_objects_v2", full, **arguments)
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                yield StoredObject(key, int(item["Size"]), item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_children(self, prefix: str) -> list[str]:
        full = self.object_key(prefix.rstrip("/") + "/") if prefix else (self.prefix + "/" if self.prefix else "")
        names = []
        token = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": full, "Delimiter": "/"}
            if token:
                arguments["ContinuationToken"] = token
            page = self.call("list_objects_v2", full, **arguments)
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(full):].rstrip("/"))
            if not page.get("IsTruncated"):
                return sorted(names)
            token = page["NextContinuationToken"]

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))["Body"].read()
        except RepositoryError as error:
            if error.details.get("aws_error_code") in MISSING:
                return None
            raise

    def open_read(self, key: str) -> t.BinaryIO:
        return self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))["Body"]

    def open_write(self, key: str) -> ObjectWriter:
        return _S3Writer(self, key)

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer whose PUT and parts carry SHA-256 checksums that S3 checks on receipt.

        On commit, the size and the checksum S3 stored for the object are
        compared with what was sent; a store that keeps no checksums (some
        S3-compatible ones) gets the object read back instead.
        """
        return _S3VerifiedWriter(self, key)

    def _conditional(self, operation: str, key: str, **arguments: t.Any) -> bool:
        """Run a conditional write; False when its precondition did not hold."""
        try:
            self.call(operation, key, Bucket=self.bucket, Key=self.object_key(key), **arguments)
        except RepositoryError as error:
            if error.details.get("aws_error_code") in PRECONDITION_FAILED:
                return False
            raise
        return True

    def create_exclusive(self, key: str, data: bytes) -> bool:
        return self._conditional("put_object", key, Body=data, IfNoneMatch="*", **self.put_arguments())

    def _etag_if(self, key: str, expected: bytes) -> str | None:
        """The ETag of key while it holds expected, else None."""
        try:
            response = self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))
        except RepositoryError as error:
            if error.details.get("aws_error_code") in MISSING:
                return None
            raise
        return response["ETag"] if response["Body"].read() == expected else None

    def replace_if_unchanged(self, key: str, expected: bytes, data: bytes) -> bool:
        etag = self._etag_if(key, expected)
        return etag is not None and self._conditional("put_object", key, Body=data, IfMatch=etag, **self.put_arguments())

    def delete_if_unchanged(self, key: str, expected: bytes) -> bool:
        etag = self._etag_if(key, expected)
        return etag is not None and self._conditional("delete_object", key, IfMatch=etag)

    def delete(self, keys: t.Sequence[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            response = self.call(
                "delete_objects", batch[0], Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.object_key(key)} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RepositoryError(
                    f"S3 refused to delete {len(errors)} object(s), first s3://{self.bucket}/{first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message')} (an S3 Object Lock retention may still protect it)"
                )

    def close(self) -> None:
        self.client.close()
        if self._checksummed_client is not None:
            self._checksummed_client.close()


class _S3VerifiedWriter:
    def __init__(self, backend: S3Backend, key: str) -> None:
        self._backend = backend
        self._key = key
        self._writer = _S3Writer(backend, key, checksum=True)

    @property
    def chunk_size(self) -> int:
        return self._writer.chunk_size

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def copy_file(self, source: t.BinaryIO) -> bool:  # pylint: disable=unused-argument
        return False

    def abort(self) -> None:
        self._writer.abort()

    def commit(self, size: int, sha256: str) -> str:
        backend, key = self._backend, self._key
        self._writer.commit()
        sent = self._writer.checksum_sha256 or ""
        try:
            if "-" not in sent and sent != _b64(bytes.fromhex(sha256)):
                # A single PUT: its checksum is that of the whole object, which must be the one given.
                raise IntegrityError(
                    f"{backend.describe(key)} was sent with SHA-256 {base64.b64decode(sent).hex()[:12]}... where "
                    f"{sha256[:12]}... was expected"
                )
            object_key = backend.object_key(key)
            head = backend.call("head_object", key, Bucket=backend.bucket, Key=object_key, ChecksumMode="ENABLED")
            stored = str(head.get("ChecksumSHA256") or "")
            if not stored:
                backend.check_stored(key, size, sha256)
                return "read back"
            if int(head["ContentLength"]) != size or stored.split("-", maxsplit=1)[0] != sent.split("-", maxsplit=1)[0]:
                raise IntegrityError(
                    f"{backend.describe(key)} holds {head['ContentLength']} bytes with S3 checksum {stored} where "
                    f"{size} bytes with checksum {sent} were sent"
                )
        except IntegrityError:
            backend.delete([key])  # never leave a wrong object where a resume would look
            raise
        return "S3 SHA-256 checksums"


def open_backend(repository: str, s3: S3Options | None = None) -> Backend:
    """The backend for a repository given as a local absolute path or an s3:// URL."""
    if repository.startswith("s3://"):
        return S3Backend(repository, s3 or S3Options())
    if "://" in repository:
        raise ConfigurationError(
            f"repository {repository!r} is neither a local absolute path nor an s3://bucket/prefix URL"
        )
    return LocalBackend(repository)
