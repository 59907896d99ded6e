# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writers of an S3 repository: one PUT for a small object, a multipart upload for a large one.

An object becomes visible only when its PUT or its multipart upload
completes. The checksummed writer sends every PUT and part with its CRC32,
which S3 checks on receipt, and compares the checksum S3 stored for the
object with the one computed from what was sent. The SHA-256 of the data is
the caller's to check (backup_copy hashes the source as it reads it): CRC32
costs less than half as much CPU per byte, and on this leg it only has to
catch damage in transit or storage, not a forgery (docs/backup-copy.md).
"""

from __future__ import annotations

import base64
import threading
import typing as t
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3 import S3Backend


# S3 multipart: parts start at 8 MiB (boto3's own default, and the size that
# kept the most requests busy at once in benchmarks/bench_copy.py) and double
# every 1,000 parts, so a file up to S3's 5 TB limit fits in the 10,000 parts
# S3 allows while memory stays bounded (part size x (uploads in flight + 1)).
PART_SIZE = 8 * 1024 * 1024
PARTS_PER_SIZE_STEP = 1000
MAX_SIZE_STEPS = 9  # 8 MiB << 9 = 4 GiB, under S3's 5 GiB largest part
UPLOADS_IN_FLIGHT = 4
# What S3 answers when a body does not match the checksum sent with it: the part arrived damaged.
DAMAGED_ON_RECEIPT = ("BadDigest", "InvalidDigest")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def crc32_checksum(data: bytes) -> str:
    """The CRC32 of data as S3 writes it (x-amz-checksum-crc32: base64 of the 4 big-endian bytes)."""
    return _b64(zlib.crc32(data).to_bytes(4, "big"))


def composite_crc32(part_checksums: t.Sequence[str]) -> str:
    """The checksum S3 reports for a multipart object with CRC32 part checksums: CRC32 of the parts' CRC32s, -N."""
    joined = b"".join(base64.b64decode(checksum) for checksum in part_checksums)
    return f"{crc32_checksum(joined)}-{len(part_checksums)}"


class S3Writer:
    """Streams into one object: a single PUT for small files, multipart above PART_SIZE.

    With checksum, every PUT and part carries its CRC32, which S3 checks on
    receipt (refusing a part that arrived damaged) and stores with the object;
    `checksum_crc32` is then the value S3 should report for the object (for a
    multipart upload the CRC32 of the parts' CRC32s, as S3 computes it).
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
        self.checksum_crc32: str | None = None

    def _part_size(self) -> int:
        return PART_SIZE << min(len(self._parts) // PARTS_PER_SIZE_STEP, MAX_SIZE_STEPS)

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
            extra = {"ChecksumAlgorithm": "CRC32"} if self._checksum else {}
            response = backend.call(
                "create_multipart_upload", self._key, Bucket=backend.bucket, Key=self._key, **backend.put_arguments(),
                **extra,
            )
            self._upload_id = response["UploadId"]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT)
        number = len(self._parts) + 1
        self._slots.acquire()  # bounds memory: at most UPLOADS_IN_FLIGHT parts wait in memory

        def upload() -> dict[str, t.Any]:
            try:
                # Computed here, in the part's own thread: zlib releases the GIL over large buffers.
                extra = {"ChecksumCRC32": crc32_checksum(chunk)} if self._checksum else {}
                try:
                    response = backend.call(
                        "upload_part", self._key, Bucket=backend.bucket, Key=self._key,
                        UploadId=self._upload_id, PartNumber=number, Body=chunk, **extra,
                        client=backend.checksummed_client() if self._checksum else None,
                    )
                except RepositoryError as error:
                    if error.details.get("aws_error_code") in DAMAGED_ON_RECEIPT:
                        raise IntegrityError(
                            f"part {number} of s3://{backend.bucket}/{self._key} arrived damaged: S3 refused it "
                            f"({error.message})", damaged_in_transit=True,
                        ) from None
                    raise
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
                    self.checksum_crc32 = crc32_checksum(body)
                    extra["ChecksumCRC32"] = self.checksum_crc32
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
                    self.checksum_crc32 = composite_crc32([part["ChecksumCRC32"] for part in parts])
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
                self._backend.call(
                    "abort_multipart_upload", self._key, Bucket=self._backend.bucket, Key=self._key,
                    UploadId=self._upload_id,
                )
            except RepositoryError:
                pass  # a lifecycle rule for incomplete uploads is the backstop (docs/repository-format.md)


class S3VerifiedWriter:
    """A checksummed S3Writer whose commit compares what S3 stored with what was sent.

    The caller checks the data's SHA-256 as it writes it (a damaged source is
    refused before commit); this writer proves that S3 holds those bytes: the
    size, and the CRC32 S3 computed over the parts it received, against the
    CRC32 computed here over the parts sent. A store that keeps no checksums
    (some S3-compatible ones) gets the object read back and its SHA-256 checked.
    """

    def __init__(self, backend: S3Backend, key: str) -> None:
        self._backend = backend
        self._key = key
        self._writer = S3Writer(backend, key, checksum=True)

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
        sent = self._writer.checksum_crc32 or ""
        try:
            object_key = backend.object_key(key)
            head = backend.call("head_object", key, Bucket=backend.bucket, Key=object_key, ChecksumMode="ENABLED")
            stored = str(head.get("ChecksumCRC32") or "")
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
        return "S3 CRC32 checksums"
