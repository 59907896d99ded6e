# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file-like pieces of the byte pipelines (streams.py): readers and writers that count, hash and verify."""

from __future__ import annotations

import hashlib
import io
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError

CHUNK_SIZE = 1024 * 1024
UNUSABLE = "the backup is unusable: restore an older one (backup_info lists them) and run backup_verify on the repository"


class Readable(t.Protocol):
    def read(self, size: int = ..., /) -> bytes | None:
        ...


def as_file(stream: io.RawIOBase) -> t.BinaryIO:
    """A raw stream as the file object pyrage takes (it calls only read, or only write)."""
    return t.cast(t.BinaryIO, stream)


class NullSink:
    """A sink that keeps nothing: for reading a file only to check it."""

    def write(self, data: bytes) -> int:
        return len(data)


class GatheringWriter:
    """Gathers small writes into chunks of at least `size` bytes for target.write; flush() hands on the rest.

    pyrage hands out what it decrypts 8 KiB at a time. Passed on as they
    come, those pieces cost the decompressor, every hash and the thread that
    consumes them one call each: over a hundred thousand per GiB.
    """

    def __init__(self, target: t.Any, size: int = CHUNK_SIZE) -> None:
        self._target = target
        self._size = size
        self._buffer = bytearray()

    def write(self, data: t.Any) -> int:
        self._buffer += data
        if len(self._buffer) >= self._size:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            # A new buffer rather than clear(): the target may keep the chunk it was given.
            chunk, self._buffer = self._buffer, bytearray()
            self._target.write(chunk)


def copy(source: Readable, sink: t.Any) -> None:
    """Everything source.read gives, into sink.write, a chunk at a time."""
    while True:
        data = source.read(CHUNK_SIZE)
        if not data:
            return
        sink.write(data)


class _Measuring(io.RawIOBase):
    """Counts the bytes that pass, and hashes them when asked to."""

    def __init__(self, hashing: bool) -> None:
        super().__init__()
        self.count = 0
        self._digest = hashlib.sha256() if hashing else None

    def _measure(self, data: t.Any) -> int:
        size = len(data)
        self.count += size
        if self._digest is not None:
            self._digest.update(data)
        return size

    def hexdigest(self) -> str:
        if self._digest is None:
            raise ValueError(f"this {type(self).__name__} does not hash")
        return self._digest.hexdigest()


class CountingReader(_Measuring):
    """Passes reads through, counting bytes and (optionally) hashing them."""

    def __init__(self, source: t.BinaryIO, hashing: bool = False) -> None:
        super().__init__(hashing)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self._source.read(len(buffer))
        if not data:
            return 0
        buffer[:len(data)] = data
        return self._measure(data)


class HashingWriter(_Measuring):
    """Hashes and counts what passes to target.write; keeps the target's own error.

    pyrage wraps exceptions raised by its output into EncryptError, which would
    hide a full disk behind "encryption failed"; the original is kept here and
    re-raised by the pipeline.
    """

    def __init__(self, target: t.Any, hashing: bool = True) -> None:
        super().__init__(hashing)
        self._target = target
        self.error: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: t.Any) -> int:
        try:
            self._target.write(data)
        except BaseException as error:
            self.error = error
            raise
        return self._measure(data)


class VerifyingReader(io.RawIOBase):
    """Reads a stored file, checking its size and SHA-256 before its end.

    One chunk is read ahead; the chunk being served is known to be the last
    when the look-ahead finds the end of the source, and the totals are
    checked before that chunk is served, so a consumer never sees a complete
    file that failed its checksum.
    """

    def __init__(self, source: t.BinaryIO, expected_size: int, expected_sha256: str, what: str) -> None:
        self._source = source
        self._expected_size = expected_size
        self._expected_sha256 = expected_sha256
        self._what = what
        self._digest = hashlib.sha256()
        self._count = 0
        self._current = b""
        self._offset = 0
        self._lookahead: bytes | None = None
        self._exhausted = False

    def readable(self) -> bool:
        return True

    def _fail(self, problem: str) -> t.NoReturn:
        raise IntegrityError(f"{self._what} {problem}; {UNUSABLE}")

    def _fetch(self) -> bytes:
        data = self._source.read(CHUNK_SIZE)
        if data:
            self._digest.update(data)
            self._count += len(data)
            if self._count > self._expected_size:
                self._fail(f"is larger than the {self._expected_size} bytes the manifest records")
        return data

    def _check_totals(self) -> None:
        if self._count != self._expected_size:
            self._fail(f"has {self._count} bytes where the manifest records {self._expected_size} (truncated?)")
        actual = self._digest.hexdigest()
        if actual != self._expected_sha256:
            self._fail(f"failed its SHA-256 check (expected {self._expected_sha256[:12]}..., got {actual[:12]}...)")

    def _advance(self) -> None:
        self._current = self._fetch() if self._lookahead is None else self._lookahead
        self._offset = 0
        self._lookahead = self._fetch() if self._current else b""
        if not self._lookahead:
            self._check_totals()
            self._exhausted = True

    def readinto(self, buffer: t.Any) -> int:
        if self._offset >= len(self._current):
            if self._exhausted:
                return 0
            self._advance()
        size = min(len(buffer), len(self._current) - self._offset)
        buffer[:size] = self._current[self._offset:self._offset + size]
        self._offset += size
        return size


class IteratorReader(io.RawIOBase):
    """A readable over an iterator of bytes; keeps the iterator's own error (pyrage would wrap it)."""

    def __init__(self, chunks: t.Iterator[bytes]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        while not self._current:
            try:
                self._current = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except BaseException as error:
                self.error = error
                raise
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size
