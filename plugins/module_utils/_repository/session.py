# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing one new backup: its files, then its manifest, under the component's lock."""

from __future__ import annotations

import io
import json
import socket
import threading
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository import streams
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import ComponentLock
from ansible_collections.resilience.dr.plugins.module_utils._repository.pipes import PipeFromProducer
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import (
    VERIFICATION_DATA_NAME,
    FileRecord,
    Manifest,
    check_file_name,
    new_backup_id,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time
from ansible_collections.resilience.dr.plugins.module_utils._version import COLLECTION_VERSION

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository


class BackupSession:
    """Writes one backup under the component's lock; the manifest goes last.

    Leaving the `with` block normally writes the verification data and the
    manifest; leaving it with an exception deletes what was written. Either
    way the lock is released.
    """

    def __init__(self, repository: Repository, component: str, *, kind: str, method: str,
                 retention_class: str, depends_on: str | None) -> None:
        self.repository = repository
        self.component = component
        self.started = repository.clock()
        self.backup_id = new_backup_id(self.started)
        self.manifest = Manifest(
            backup_id=self.backup_id, component=component, kind=kind, method=method,
            started_at=format_time(self.started), finished_at=format_time(self.started), host=socket.gethostname(),
            retention_class=retention_class, depends_on=depends_on,
        )
        self.source: dict[str, t.Any] = {}
        self.consistency_point: dict[str, t.Any] = {}
        self.tools: dict[str, str] = {}
        self.verification: dict[str, t.Any] = {}
        self.extra: dict[str, t.Any] = {}
        self._lock: ComponentLock | None = None
        self._written: list[str] = []
        self._guard = threading.Lock()

    @property
    def prefix(self) -> str:
        return f"{self.component}/{self.backup_id}"

    @property
    def encrypted(self) -> bool:
        return bool(self.repository.recipients)

    def __enter__(self) -> BackupSession:
        self._lock = self.repository.lock(self.component, "backup", self.backup_id).acquire()
        return self

    def add_stream(self, name: str, source: t.BinaryIO) -> FileRecord:
        """Store everything read from source as file `name` of the backup."""
        repository = self.repository
        return self._store(name, lambda writer: streams.write_stream(
            source, writer, level=repository.compression_level, threads=repository.compression_threads,
            recipients=repository.recipients,
        ))

    def add_chunks(self, name: str, chunks: t.Iterable[t.Any]) -> FileRecord:
        """Store the content an iterable hands over in chunks (bytes-like) as file `name` of the backup.

        For producers that fill buffers of their own: no reader in between
        copies them, and a chunk's memory may be reused once the next one is
        asked for (see streams.write_chunks).
        """
        repository = self.repository
        return self._store(name, lambda writer: streams.write_chunks(
            chunks, writer, level=repository.compression_level, threads=repository.compression_threads,
            recipients=repository.recipients,
        ))

    def _store(self, name: str, write: t.Callable[[t.Any], streams.StreamStats]) -> FileRecord:
        check_file_name(name)
        path = name + ".zst" + (".age" if self.encrypted else "")
        key = f"{self.prefix}/{path}"
        with self._guard:
            if any(record.name == name for record in self.manifest.files):
                raise RepositoryError(f"file {name} was already added to backup {self.backup_id}")
            self._written.append(key)
        writer = self.repository.backend.open_write(key)
        try:
            stats = write(writer)
        except BaseException:
            writer.abort()
            raise
        writer.commit()
        record = FileRecord(
            name=name, path=path, size=stats.size, sha256=stats.sha256, content_size=stats.content_size,
            compressed_sha256=stats.compressed_sha256, encrypted=self.encrypted,
        )
        with self._guard:
            self.manifest.files.append(record)
        return record

    def add_file(self, name: str, path: str) -> FileRecord:
        try:
            handle = open(path, "rb")
        except OSError as error:
            raise RepositoryError(f"cannot read {path} to back it up as {name}: {error.strerror}", path=path) from None
        with handle:
            return self.add_stream(name, handle)

    def add_bytes(self, name: str, data: bytes) -> FileRecord:
        return self.add_stream(name, io.BytesIO(data))

    def add_from_producer(self, name: str, produce: t.Callable[[t.BinaryIO], None]) -> FileRecord:
        """Store what produce(writable) writes, e.g. a tar archive built on the fly."""
        pipe = PipeFromProducer(produce, name=f"produce {name}")
        try:
            record = self.add_stream(name, pipe)  # type: ignore[arg-type]
        except BaseException:
            try:
                pipe.close()
            except BaseException:  # pylint: disable=broad-exception-caught
                pass  # the consumer's error is the one to report
            raise
        pipe.close()
        return record

    def _commit(self) -> None:
        manifest = self.manifest
        if self.verification:
            self.add_bytes(VERIFICATION_DATA_NAME, json.dumps(self.verification, sort_keys=True).encode("utf-8"))
            manifest.verification_file = VERIFICATION_DATA_NAME
        manifest.finished_at = format_time(self.repository.clock())
        manifest.source = self.source
        manifest.consistency_point = self.consistency_point
        manifest.tools = {"resilience.dr": COLLECTION_VERSION, **streams.library_versions(), **self.tools}
        manifest.compression = {
            "format": "zstd", "level": self.repository.compression_level, "frame_checksum": True,
        }
        if self.encrypted:
            manifest.encryption = {"format": "age", "recipients": list(self.repository.recipient_keys)}
        manifest.extra = self.extra
        manifest.files.sort(key=lambda record: record.name)
        if self._lock is not None and self._lock.lost:
            raise RepositoryError(
                f"the lock of component {self.component} was taken over by another process while backup "
                f"{self.backup_id} ran (break_stale_lock elsewhere?); this backup is discarded"
            )
        self.repository.write_manifest(self.prefix, manifest.to_json(), written=self._written)

    def _discard(self, error: BaseException | None) -> DrError | None:
        """Delete what was written. Where deleting is not allowed (a backup host without s3:DeleteObject),
        the pieces stay as an incomplete backup: then the error that ended the backup, saying so, is returned
        for the caller to raise in its place."""
        keys = list(self._written)
        try:
            # Whatever is on storage under this backup, including parts of files cut short.
            keys.extend(stored.key for stored in self.repository.backend.list_objects(self.prefix))
            self.repository.backend.delete(sorted(set(keys)))
        except RepositoryError as problem:
            if not isinstance(error, DrError):
                raise
            return error.with_context(
                f"the pieces of backup {self.backup_id} could not be removed ({problem.message}): they stay as an "
                "incomplete backup, which backup_prune removes"
            )
        return None

    def __exit__(self, exc_type: t.Any, exc: t.Any, traceback: t.Any) -> None:
        try:
            if exc_type is None:
                try:
                    self._commit()
                except BaseException as error:
                    extended = self._discard(error)
                    if extended is not None:
                        raise extended from error
                    raise
            else:
                extended = self._discard(exc)
                if extended is not None:
                    raise extended from exc
        finally:
            if self._lock is not None:
                self._lock.release()
