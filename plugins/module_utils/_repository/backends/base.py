# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every repository backend offers, and the writer pieces they share.

Backends work on '/'-separated keys relative to the repository root. Writes
become visible only when committed (temporary file + rename locally,
completed multipart upload on S3), so a reader never sees half a file.
"""

from __future__ import annotations

import abc
import hashlib
import typing as t
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError


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

    @property
    def chunk_size(self) -> int:
        """The size of write() that costs the fewest copies (it may change as the object grows)."""

    def write(self, data: bytes) -> int: ...

    def copy_file(self, source: t.BinaryIO) -> bool:
        """Copy the rest of an open local file inside the kernel; False when this writer cannot (then write())."""

    def commit(self, size: int, sha256: str) -> str:
        """Make the object visible, then check it holds size bytes with this SHA-256; returns how it was checked."""

    def abort(self) -> None: ...


READ_CHUNK = 1024 * 1024
HASH_CHUNK = 4 * 1024 * 1024  # read-back: larger reads into one reused buffer


def size_mismatch(where: str, actual: tuple[int, str], expected: tuple[int, str]) -> IntegrityError:
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
            raise size_mismatch(self.describe(key), actual, (size, sha256))

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer that, on commit, reads the object back and checks its size and SHA-256."""
        return ReadBackWriter(self, key)


class ReadBackWriter:
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
