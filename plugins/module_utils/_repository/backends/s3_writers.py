# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writers of an S3 repository: one PUT for a small object, a multipart upload for a large one.

An object becomes visible only when its PUT or its multipart upload
completes. The checksummed writer sends every PUT and part with its SHA-256
and compares what S3 stored with what was sent.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3 import S3Backend


# S3 multipart: parts start at 16 MiB and double every 2,000 parts, so a file
# of any size fits in the 10,000 parts S3 allows while memory stays bounded
# (part size x (uploads in flight + 1)).
PART_SIZE = 16 * 1024 * 1024
PARTS_PER_SIZE_STEP = 2000
UPLOADS_IN_FLIGHT = 3


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Writer:
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
        if self._pool is None:
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
                self._backend.call(
                    "abort_multipart_upload", self._key, Bucket=self._backend.bucket, Key=self._key,
                    UploadId=self._upload_id,
                )
            except RepositoryError:
                pass  # a lifecycle rule for incomplete uploads is the backstop (docs/repository-format.md)


class S3VerifiedWriter:
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
