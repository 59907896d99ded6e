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
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    DependencyMissing,
    IntegrityError,
    RepositoryError,
    missing_library_message,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository import crypto
from ansible_collections.resilience.dr.plugins.module_utils._repository.pipes import PipeFromProducer
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import (
    CHUNK_SIZE,
    UNUSABLE,
    CountingReader,
    HashingWriter,
    IteratorReader,
    VerifyingReader,
    as_file,
    copy,
)

try:
    import zstandard

    HAS_ZSTANDARD = True
except ImportError:  # reported when a stream is actually made
    HAS_ZSTANDARD = False


def require_zstandard() -> None:
    if not HAS_ZSTANDARD:
        raise DependencyMissing(missing_library_message("zstandard", "to write and read backups"))


def library_versions() -> dict[str, str]:
    """Versions of the compression and encryption libraries, for the manifest."""
    versions = {}
    if HAS_ZSTANDARD:
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


def _keeping_own_errors(step: t.Callable[[], None], *ends: HashingWriter | IteratorReader) -> None:
    """Run a pipeline step; when one of its ends (a reader or writer) failed, raise that end's own error.

    pyrage wraps an exception raised by its input or output into its own
    error, which would hide a full disk behind "encryption failed", and drops
    one raised by its very last read or write: never report such a file as
    written.
    """
    try:
        step()
    except RepositoryError:
        for end in ends:
            if end.error is not None:
                raise end.error from None
        raise
    for end in ends:
        if end.error is not None:
            raise end.error


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
    counted = CountingReader(source)
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    compressed = CountingReader(compressor.stream_reader(as_file(counted), read_size=CHUNK_SIZE), hashing=True)
    sink = HashingWriter(target)

    def store() -> None:
        if recipients:
            crypto.encrypt_stream(io.BufferedReader(compressed, CHUNK_SIZE), as_file(sink), recipients)
        else:
            copy(compressed, sink)

    _keeping_own_errors(store, sink)
    return StreamStats(
        content_size=counted.count,
        compressed_size=compressed.count,
        compressed_sha256=compressed.hexdigest(),
        size=sink.count,
        sha256=sink.hexdigest(),
    )


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
    source = IteratorReader(compressed())
    sink = HashingWriter(target)
    _keeping_own_errors(lambda: crypto.encrypt_stream(io.BufferedReader(source, CHUNK_SIZE), as_file(sink), recipients),
                        sink, source)
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
    counted_sink = HashingWriter(sink, hashing=False)
    decompressor = zstandard.ZstdDecompressor().stream_writer(as_file(counted_sink), write_size=CHUNK_SIZE, closefd=False)
    # Decrypted data is checked against compressed_sha256; unencrypted, it is the stored file already checked.
    compressed = HashingWriter(decompressor, hashing=encrypted)
    try:
        if encrypted:
            crypto.decrypt_stream(verified, as_file(compressed), identities, what)
            # pyrage drops an error raised by its very last write.
            if compressed.error is not None:
                raise compressed.error
            if compressed.hexdigest() != compressed_sha256:
                raise IntegrityError(f"{what} decrypted to data whose SHA-256 differs from the manifest's; {UNUSABLE}")
        else:
            copy(verified, compressed)
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
    copy(VerifyingReader(source, size, sha256, what), sink)


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
        hashing = HashingWriter(pipe)

        def decrypt() -> None:
            if encrypted:
                crypto.decrypt_stream(verified, as_file(hashing), identities, what)
            else:
                copy(verified, hashing)

        _keeping_own_errors(decrypt, hashing)
        plaintext.append(hashing.hexdigest())

    pipe = PipeFromProducer(produce, name=f"decrypt {what}")
    output = HashingWriter(sink)
    try:
        crypto.encrypt_stream(pipe.reader, as_file(output), recipients)
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
