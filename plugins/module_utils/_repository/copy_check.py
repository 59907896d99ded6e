# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copying one stored file as it is, checked against its source manifest record (backup_copy).

    local = copy_checked(source, writer, record, "backup B1 of component orders-db: file data/rows.txt.zst")

A local file going to a local destination is copied (or cloned) by the
kernel and checked once, on the destination; anything else is hashed while
it is read. Either way nothing of a file that does not match the manifest is
ever committed.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository import streams
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import FileRecord


def damage_message(what: str, record: FileRecord, actual: tuple[int, str]) -> str:
    """The message of a stored file whose size or SHA-256 is not the manifest's, as a VerifyingReader words it."""
    size, sha256 = actual
    if size != record.size:
        problem = f"has {size} bytes where the manifest records {record.size} (truncated?)"
    else:
        problem = f"failed its SHA-256 check (expected {record.sha256[:12]}..., got {sha256[:12]}...)"
    return f"{what} {problem}; {streams.UNUSABLE}"


def _local_size(source: t.BinaryIO) -> int | None:
    """The size of source when it is a regular local file, else None."""
    try:
        info = os.fstat(source.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def copy_checked(source: t.BinaryIO, writer: t.Any, record: FileRecord, what: str) -> bool:
    """Copy a stored file as it is; True when the kernel copied it and only the destination's read-back checks it.

    A local source file goes file to file inside the kernel when the writer
    can (a local destination): the destination's read-back, compared with the
    manifest's size and SHA-256, then checks the source as well, and the
    caller hashes the source only when that check fails, to say which side is
    damaged. Otherwise the source is hashed as it is read and an IntegrityError
    raised at its end when it is not what the manifest records; the writer is
    committed only after that, so nothing of a damaged file becomes visible.
    """
    size = _local_size(source)
    if size is not None and size != record.size:
        raise IntegrityError(damage_message(what, record, (size, "")))
    if size is not None and writer.copy_file(source):
        return True
    digest = hashlib.sha256()
    count = 0
    while True:
        data = source.read(writer.chunk_size)
        if not data:
            break
        count += len(data)
        if count > record.size:
            raise IntegrityError(f"{what} is larger than the {record.size} bytes the manifest records; {streams.UNUSABLE}")
        digest.update(data)
        writer.write(data)
    if (count, digest.hexdigest()) != (record.size, record.sha256):
        raise IntegrityError(damage_message(what, record, (count, digest.hexdigest())))
    return False
