# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3 writers' part sizes, and what a part S3 refused on receipt becomes.

The lab's S3 (moto) stores whatever body it gets without checking it against
the checksum sent with it, so a refusal on receipt (BadDigest) is a fault it
cannot produce: that case runs against a stand-in backend that answers as S3
does. A part damaged on the way and stored is tested against the lab
(tests/integration/test_backup_copy.py).
"""
from __future__ import annotations

import base64
import os
import zlib

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import s3_writers
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3_writers import (
    MAX_SIZE_STEPS,
    PART_SIZE,
    PARTS_PER_SIZE_STEP,
    S3VerifiedWriter,
    composite_crc32,
    crc32_checksum,
)

S3_LARGEST_OBJECT = 5 * 1024 ** 4  # 5 TiB
S3_LARGEST_PART = 5 * 1024 ** 3
S3_MOST_PARTS = 10_000


def test_the_part_sizes_fit_the_largest_s3_object_in_the_parts_s3_allows():
    sizes = [PART_SIZE << min(number // PARTS_PER_SIZE_STEP, MAX_SIZE_STEPS) for number in range(S3_MOST_PARTS)]
    assert sum(sizes) >= S3_LARGEST_OBJECT
    assert max(sizes) <= S3_LARGEST_PART
    assert min(sizes) >= 5 * 1024 ** 2  # S3's smallest part but the last


def test_the_composite_checksum_is_the_crc32_of_the_parts_crc32s():
    parts = [os.urandom(1000), os.urandom(10)]
    checksums = [crc32_checksum(part) for part in parts]
    assert checksums[0] == base64.b64encode(zlib.crc32(parts[0]).to_bytes(4, "big")).decode()
    joined = zlib.crc32(b"".join(zlib.crc32(part).to_bytes(4, "big") for part in parts))
    assert composite_crc32(checksums) == base64.b64encode(joined.to_bytes(4, "big")).decode() + "-2"


class _RefusingS3:
    """A stand-in S3 backend that refuses part 2 as S3 does when its body does not match its checksum."""

    bucket = "dr"

    def __init__(self):
        self.calls = []

    @staticmethod
    def object_key(key):
        return f"prod/{key}"

    @staticmethod
    def put_arguments():
        return {}

    def checksummed_client(self):
        return self

    def call(self, operation, key, **arguments):
        self.calls.append(operation)
        if operation == "create_multipart_upload":
            assert arguments["ChecksumAlgorithm"] == "CRC32"
            return {"UploadId": "u1"}
        if operation == "upload_part":
            assert arguments["ChecksumCRC32"] == crc32_checksum(arguments["Body"])
            if arguments["PartNumber"] == 2:
                raise RepositoryError(f"S3 upload_part of s3://dr/{key} failed: BadDigest", aws_error_code="BadDigest")
            return {"ETag": f"etag-{arguments['PartNumber']}"}
        return {}


def test_a_part_s3_refuses_on_receipt_is_an_integrity_error_and_the_upload_is_aborted(monkeypatch):
    monkeypatch.setattr(s3_writers, "PART_SIZE", 1024)
    backend = _RefusingS3()
    writer = S3VerifiedWriter(backend, "orders-db/B1/data/blob.bin")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError) as failure:
        for _chunk in range(4):
            writer.write(os.urandom(1024))
        writer.commit(4096, "0" * 64)
    assert failure.value.details["damaged_in_transit"]
    assert "part 2 of s3://dr/prod/orders-db/B1/data/blob.bin arrived damaged" in failure.value.message
    assert "complete_multipart_upload" not in backend.calls
    assert backend.calls[-1] == "abort_multipart_upload"
