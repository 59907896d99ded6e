# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The byte pipelines between a data source and the repository.

Writing:  source -> zstd -> [age] -> SHA-256 -> backend writer
Reading:  backend reader -> SHA-256 check -> [age] -> zstd -> sink

Everything streams in chunks, so memory does not grow with the size of a
backup. On reading, the last chunk of a file is handed out only after its
size and SHA-256 matched the manifest: a consumer never sees a complete but
unverified file. zstd frames also carry their own checksum of the content.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import queue
import threading
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import DependencyMissing, IntegrityError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository import crypto

try:
    import zstandard
except ImportError:  # reported when a stream is actually made
    zstandard = None

CHUNK_SIZE = 1024 * 1024


def require_zstandard() -> None:
    if zstandard is None:
        raise DependencyMissing(
            "the Python library zstandard is required to write and read backups but is not installed for the "
            "Python that runs this module; install it there (pip install zstandard)"
        )


def library_versions() -> dict[str, str]:
    """Versions of the compression and encryption libraries, for the manifest."""
    versions = {}
    if zstandard is not None:
        versions["zstandard"] = zstandard.__version__
        versions["libzstd"] = ".".join(str(part) for part in zstandard.ZSTD_VERSION)
    if crypto.pyrage is not None:
        try:
            versions["pyrage"] = importlib.metadata.version("pyrage")
        except importlib.metadata.PackageNotFoundError:
            versions["pyrage"] = "unknown"
    return versions


@dataclass(frozen=True)
class StreamStats:
    """What a write pipeline measured."""

    content_size: int  # bytes read from the source
    compressed_size: int
    compressed_sha256: str  # of the zstd stream (what age decrypts to)
    size: int  # bytes stored
    sha256: str  # of the stored bytes


class _CountingReader(io.RawIOBase):
    """Passes reads through, counting bytes and (optionally) hashing them."""

    def __init__(self, source: t.BinaryIO, hashing: bool = False) -> None:
        self._source = source
        self.count = 0
        self._digest = hashlib.sha256() if hashing else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self._source.read(len(buffer))
        if not data:
            return 0
        size = len(data)
        buffer[:size] = data
        self.count += size
        if self._digest is not None:
            self._digest.update(data)
        return size

    def hexdigest(self) -> str:
        if self._digest is None:
            raise ValueError("this reader does not hash")
        return self._digest.hexdigest()


class _HashingWriter(io.RawIOBase):
    """Hashes and counts what passes to target.write; keeps the target's own error.

    pyrage wraps exceptions raised by its output into EncryptError, which would
    hide a full disk behind "encryption failed"; the original is kept here and
    re-raised by the pipeline.
    """

    def __init__(self, target: t.Any, hashing: bool = True) -> None:
        self._target = target
        self._digest = hashlib.sha256() if hashing else None
        self.count = 0
        self.error: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: t.Any) -> int:
        try:
            self._target.write(data)
        except BaseException as error:
            self.error = error
            raise
        if self._digest is not None:
            self._digest.update(data)
        size = len(data)
        self.count += size
        return size

    def hexdigest(self) -> str:
        if self._digest is None:
            raise ValueError("this writer does not hash")
        return self._digest.hexdigest()


UNUSABLE = "the backup is unusable: restore an older one (backup_info lists them) and run backup_verify on the repository"


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


def _copy(source: t.BinaryIO, sink: t.Any) -> None:
    while True:
        data = source.read(CHUNK_SIZE)
        if not data:
            return
        sink.write(data)


def write_stream(
    source: t.BinaryIO,
    target: t.Any,
    *,
    level: int,
    threads: int,
    recipients: t.Sequence[t.Any] = (),
) -> StreamStats:
    """Compress (and encrypt) everything read from source into target.write, measuring it."""
    require_zstandard()
    counted = _CountingReader(source)
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    compressed = _CountingReader(compressor.stream_reader(counted, read_size=CHUNK_SIZE), hashing=True)
    sink = _HashingWriter(target)
    try:
        if recipients:
            crypto.encrypt_stream(io.BufferedReader(compressed, CHUNK_SIZE), sink, recipients)
        else:
            _copy(compressed, sink)
    except RepositoryError:
        if sink.error is not None:
            raise sink.error from None
        raise
    # pyrage drops an error raised by its very last write; never report such a file as written.
    if sink.error is not None:
        raise sink.error
    return StreamStats(
        content_size=counted.count,
        compressed_size=compressed.count,
        compressed_sha256=compressed.hexdigest(),
        size=sink.count,
        sha256=sink.hexdigest(),
    )


class _IteratorReader(io.RawIOBase):
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


def write_chunks(
    chunks: t.Iterable[t.Any],
    target: t.Any,
    *,
    level: int,
    threads: int,
    recipients: t.Sequence[t.Any] = (),
) -> StreamStats:
    """Like write_stream, for a source that hands over its content as chunks (bytes-like objects).

    Each chunk goes to the compressor as it is, without a copy into a reader's
    buffer; zstd has taken its bytes when the next chunk is asked for, so a
    producer may reuse a chunk's memory then. The compressed stream is hashed
    once, as it is produced: unencrypted, it is the stored file, so the same
    digest is both compressed_sha256 and sha256.
    """
    require_zstandard()
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True).compressobj()
    digest = hashlib.sha256()
    sizes = [0, 0]  # content, compressed

    def compressed() -> t.Iterator[bytes]:
        for chunk in chunks:
            sizes[0] += len(chunk)
            data = compressor.compress(chunk)
            if data:
                digest.update(data)
                sizes[1] += len(data)
                yield data
        data = compressor.flush()
        digest.update(data)
        sizes[1] += len(data)
        yield data

    if not recipients:
        for data in compressed():
            target.write(data)
        return StreamStats(content_size=sizes[0], compressed_size=sizes[1], compressed_sha256=digest.hexdigest(),
                           size=sizes[1], sha256=digest.hexdigest())
    source = _IteratorReader(compressed())
    sink = _HashingWriter(target)
    try:
        crypto.encrypt_stream(io.BufferedReader(source, CHUNK_SIZE), sink, recipients)
    except RepositoryError:
        if sink.error is not None:
            raise sink.error from None
        if source.error is not None:
            raise source.error from None
        raise
    # pyrage drops an error raised by its very last write or read; never report such a file as written.
    if sink.error is not None:
        raise sink.error
    if source.error is not None:
        raise source.error
    return StreamStats(content_size=sizes[0], compressed_size=sizes[1], compressed_sha256=digest.hexdigest(),
                       size=sink.count, sha256=sink.hexdigest())


def read_stream(
    source: t.BinaryIO,
    sink: t.Any,
    *,
    size: int,
    sha256: str,
    compressed_sha256: str,
    encrypted: bool,
    identities: t.Sequence[t.Any],
    what: str,
) -> int:
    """Verify, decrypt and decompress a stored file into sink.write; returns the content size.

    `what` names the file in errors: "backup X of component Y: file data/1.dat.zst.age".
    """
    require_zstandard()
    verified = io.BufferedReader(VerifyingReader(source, size, sha256, what), CHUNK_SIZE)
    # Only counted: the content's integrity is the stored SHA-256's and zstd's frame checksum's job.
    counted_sink = _HashingWriter(sink, hashing=False)
    decompressor = zstandard.ZstdDecompressor().stream_writer(counted_sink, write_size=CHUNK_SIZE, closefd=False)
    # Decrypted data is checked against compressed_sha256; unencrypted, it is the stored file already checked.
    compressed = _HashingWriter(decompressor, hashing=encrypted)
    try:
        if encrypted:
            crypto.decrypt_stream(verified, compressed, identities, what)
            # pyrage drops an error raised by its very last write.
            if compressed.error is not None:
                raise compressed.error
            if compressed.hexdigest() != compressed_sha256:
                raise IntegrityError(f"{what} decrypted to data whose SHA-256 differs from the manifest's; {UNUSABLE}")
        else:
            _copy(verified, compressed)
        decompressor.flush()
    except (RepositoryError, zstandard.ZstdError) as error:
        # pyrage wraps what its output raised; find the original cause.
        cause = counted_sink.error or compressed.error or error
        if isinstance(cause, zstandard.ZstdError):
            raise IntegrityError(f"{what} is not a valid zstd stream ({cause}); {UNUSABLE}") from None
        if cause is error:
            raise
        raise cause from None
    return counted_sink.count


def copy_stream(source: t.BinaryIO, sink: t.Any, *, size: int, sha256: str, what: str) -> None:
    """Copy a stored file as it is into sink.write, checking its size and SHA-256 before its last chunk."""
    verified = VerifyingReader(source, size, sha256, what)
    while True:
        data = verified.read(CHUNK_SIZE)
        if not data:
            return
        sink.write(data)


def reencrypt_stream(
    source: t.BinaryIO,
    sink: t.Any,
    *,
    size: int,
    sha256: str,
    compressed_sha256: str,
    encrypted: bool,
    identities: t.Sequence[t.Any],
    recipients: t.Sequence[t.Any],
    what: str,
) -> tuple[int, str]:
    """Encrypt a stored file (decrypting it first when it is encrypted) to other recipients.

    The zstd stream inside is passed through untouched, so its SHA-256
    (compressed_sha256 in the manifest) stays valid and is checked. Returns the
    size and SHA-256 of what was written to sink. The source is checked
    against size and sha256 as it is read; an error of any stage is raised
    only after the sink got everything, so the caller must not commit before
    this returns.
    """
    crypto.require_pyrage()
    verified = io.BufferedReader(VerifyingReader(source, size, sha256, what), CHUNK_SIZE)
    plaintext: list[str] = []

    def produce(pipe: t.BinaryIO) -> None:
        hashing = _HashingWriter(pipe)
        try:
            if encrypted:
                crypto.decrypt_stream(verified, hashing, identities, what)
            else:
                _copy(verified, hashing)  # type: ignore[arg-type]
        except RepositoryError:
            if hashing.error is not None:
                raise hashing.error from None
            raise
        if hashing.error is not None:
            raise hashing.error
        plaintext.append(hashing.hexdigest())

    pipe = PipeFromProducer(produce, name=f"decrypt {what}")
    output = _HashingWriter(sink)
    try:
        crypto.encrypt_stream(pipe.reader, output, recipients)  # type: ignore[arg-type]
        if output.error is not None:
            raise output.error
    except BaseException as error:
        try:
            pipe.close()
        except BaseException as first:  # pylint: disable=broad-exception-caught
            # A damaged source cuts the stream short; that is the error to report.
            if isinstance(first, IntegrityError):
                raise first from None
        if output.error is not None and output.error is not error:
            raise output.error from None
        raise
    pipe.close()
    if not plaintext or plaintext[0] != compressed_sha256:
        raise IntegrityError(f"{what} decrypted to data whose SHA-256 differs from the manifest's; {UNUSABLE}")
    return output.count, output.hexdigest()


class PipeFromProducer:
    """A readable stream fed by a function that writes, run in a thread.

    For sources that push bytes (tarfile writing an archive) into a pipeline
    that pulls them. The producer's exception, if any, is re-raised by close().
    """

    def __init__(self, produce: t.Callable[[t.BinaryIO], None], name: str = "producer") -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb", buffering=CHUNK_SIZE)
        self._writer = os.fdopen(write_fd, "wb", buffering=CHUNK_SIZE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _run(self, produce: t.Callable[[t.BinaryIO], None]) -> None:
        try:
            produce(self._writer)
        except BaseException as error:  # handed to the consuming thread by close()
            self._error = error
        finally:
            try:
                self._writer.close()
            except OSError:
                pass  # the reader went away first (BrokenPipe); its own error explains why

    def read(self, size: int = -1) -> bytes:
        return self.reader.read(size)

    def close(self) -> None:
        self.reader.close()
        self._thread.join()
        if self._error is not None and not isinstance(self._error, BrokenPipeError):
            raise self._error


_END = object()


class ChunkPipe:
    """Like PipeFromProducer, with the chunks handed over in memory instead of through an OS pipe.

    What the producer writes is queued by reference (copied only when it is
    not an immutable bytes object), at most `depth` chunks ahead of the
    reader: no copies through the kernel, no small pipe buffer to fill and
    drain. The producer's exception is raised by the read that reaches it, or
    by close().
    """

    def __init__(self, produce: t.Callable[[t.Any], None], name: str = "producer", depth: int = 8) -> None:
        self._queue: queue.Queue[t.Any] = queue.Queue(maxsize=depth)
        self._current = memoryview(b"")
        self._ended = False
        self._closed = False
        self._error: BaseException | None = None
        self._reported = False
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    # The producer's side.

    def _run(self, produce: t.Callable[[t.Any], None]) -> None:
        try:
            produce(self)
        except BaseException as error:  # handed to the reading thread
            self._error = error
        finally:
            self._queue.put(_END)

    def write(self, data: t.Any) -> int:
        if self._closed:
            raise BrokenPipeError("the reader of this stream went away")
        chunk = data if type(data) is bytes else bytes(data)  # pylint: disable=unidiomatic-typecheck
        if chunk:
            self._queue.put(chunk)
        return len(chunk)

    # The reader's side.

    def _next(self) -> bool:
        while not self._current:
            if self._ended:
                return False
            item = self._queue.get()
            if item is _END:
                self._ended = True
                if self._error is not None and not self._reported:
                    self._reported = True
                    raise self._error
                return False
            self._current = memoryview(item)
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while self._next():
                parts.append(self._current.tobytes())
                self._current = memoryview(b"")
            return b"".join(parts)
        if size == 0 or not self._next():
            return b""
        current = self._current
        if len(current) <= size:
            self._current = memoryview(b"")
            return current.obj if current.nbytes == len(current.obj) else current.tobytes()  # type: ignore[arg-type]
        self._current = current[size:]
        return current[:size].tobytes()

    def readinto(self, buffer: t.Any) -> int:
        if not self._next():
            return 0
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size

    def close(self) -> None:
        """Stop the producer if it still runs (its next write fails) and raise its error if no read did."""
        self._closed = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # unblock a producer waiting for room
            except queue.Empty:
                pass
        self._thread.join()
        if self._error is not None and not self._reported and not isinstance(self._error, BrokenPipeError):
            self._reported = True
            raise self._error
