# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup repository: backups of components, each a directory of files
plus a manifest written last.

What a backup is (its entry and status) is in entries.py, how a restore
chooses one in selection.py, and how a new one is written in session.py.

    repository = Repository(open_backend("/srv/backups"), recipients=..., identities=...)
    with repository.new_backup("orders-db", kind="postgresql", method="logical") as backup:
        backup.add_file("data/toc.dat", "/tmp/dump/toc.dat")
        backup.verification = {"tables": {...}}
    entry = repository.select_backup("orders-db")            # newest verified, else newest
    repository.read_file(entry, "data/toc.dat", open("/tmp/toc.dat", "wb"))
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    ConfigurationError,
    EncryptionError,
    IntegrityError,
    RepositoryError,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository import streams
from ansible_collections.resilience.dr.plugins.module_utils._repository.pipes import ChunkPipe, PipeFromProducer
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import Backend
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import (
    COMPLETE,
    FAILED_VERIFICATION,
    IN_PROGRESS,
    INCOMPLETE,
    INVALID,
    UNTRUSTED,
    VERIFIED,
    BackupEntry,
    VerifyOutcome,
    operator,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import LOCK_NAME, ComponentLock, LockInfo, stale_reason
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import (
    BACKUP_ID_PATTERN,
    COMPONENT_PATTERN,
    MANIFEST_NAME,
    RESTORE_TEST_NAME,
    VERIFY_RESULT_NAME,
    FileRecord,
    Manifest,
    ManifestError,
    check_backup_id,
    check_component,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import Selection, Wanted
from ansible_collections.resilience.dr.plugins.module_utils._repository.session import BackupSession
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import SIGNATURE_NAME, SignatureError, Signer, Verifier
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import NullSink, VerifyingReader, copy
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now


class Repository:
    def __init__(
        self,
        backend: Backend,
        *,
        recipients: t.Sequence[t.Any] = (),
        recipient_keys: t.Sequence[str] = (),
        identities: t.Sequence[t.Any] = (),
        compression_level: int = 3,
        compression_threads: int = -1,
        lock_timeout: float = 60,
        break_stale_lock: bool = False,
        clock: Clock = utc_now,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.backend = backend
        # Ages, stale locks and the times recorded in manifests all read this clock.
        self.clock = clock
        self.signer = signer  # signs the manifests this repository writes
        self.verifier = verifier  # when set, only backups signed by its keys are usable
        self.recipients = list(recipients)
        self.recipient_keys = list(recipient_keys)
        self.identities = list(identities)
        self.compression_level = compression_level
        self.compression_threads = compression_threads
        self.lock_timeout = lock_timeout
        self.break_stale_lock = break_stale_lock

    @property
    def location(self) -> str:
        return self.backend.location

    # ------------------------------------------------------------------ listing

    def components(self) -> list[str]:
        return [name for name in self.backend.list_children("") if COMPONENT_PATTERN.match(name)]

    def lock_holder(self, component: str) -> LockInfo | None:
        raw = self.backend.read_bytes(f"{component}/{LOCK_NAME}")
        return LockInfo.from_bytes(raw) if raw is not None else None

    def list_backups(self, component: str | None = None) -> list[BackupEntry]:
        """Every backup (of one component, or of all), oldest first, with its status."""
        components = [check_component(component)] if component else self.components()
        entries: list[BackupEntry] = []
        for name in components:
            entries.extend(self._component_backups(name))
        return entries

    def _component_backups(self, component: str) -> list[BackupEntry]:
        grouped: dict[str, dict[str, int]] = {}
        for stored in self.backend.list_objects(component):
            parts = stored.key.split("/", 2)
            if len(parts) == 3 and BACKUP_ID_PATTERN.match(parts[1]):
                grouped.setdefault(parts[1], {})[parts[2]] = stored.size
        holder = self.lock_holder(component) if any(MANIFEST_NAME not in files for files in grouped.values()) else None
        stale = stale_reason(holder, socket.gethostname(), self.clock()) if holder is not None else None
        entries = []
        for backup_id in sorted(grouped):
            files = grouped[backup_id]
            entry = BackupEntry(component, backup_id, INCOMPLETE, stored_size=sum(files.values()))
            if MANIFEST_NAME not in files:
                if holder is not None and holder.backup_id == backup_id and stale is None:
                    entry.status = IN_PROGRESS
                    entry.error = f"being written by {holder.describe()}"
                elif holder is not None and holder.backup_id == backup_id:
                    entry.error = f"its writer {holder.describe()} is gone ({stale}); backup_prune removes it"
                else:
                    entry.error = "no manifest: the backup never finished; backup_prune removes it"
                entries.append(entry)
                continue
            entry.status = COMPLETE
            try:
                entry.manifest, entry.manifest_bytes = self._read_manifest(component, backup_id)
            except ManifestError as error:
                entry.status, entry.error = INVALID, error.message
                entries.append(entry)
                continue
            if VERIFY_RESULT_NAME in files:
                entry.verify_result = self._read_verify_result(component, backup_id)
                if entry.verify_result is not None:
                    entry.status = VERIFIED if entry.verify_result.get("ok") else FAILED_VERIFICATION
            if RESTORE_TEST_NAME in files:
                entry.restore_test = self._read_json_record(f"{component}/{backup_id}/{RESTORE_TEST_NAME}")
            self._check_signature(entry, signed=SIGNATURE_NAME in files)
            entries.append(entry)
        self._check_dependencies(component, entries)
        # Backup ids sort by the second they started; within one second the
        # manifest's precise start time decides, so "newest" is always right.
        entries.sort(key=lambda entry: (entry.started, entry.backup_id))
        return entries

    def _check_dependencies(self, component: str, entries: list[BackupEntry]) -> None:
        """A backup that depends on one this component does not hold cannot be restored: it is invalid."""
        present = {entry.backup_id for entry in entries}
        for entry in entries:
            parent = entry.manifest.depends_on if entry.manifest is not None else None
            if parent and parent not in present and entry.status not in (INVALID, UNTRUSTED):
                entry.status = INVALID
                entry.error = (
                    f"it depends on backup {parent}, which is not in {self.backend.describe(component)}; it cannot "
                    f"be restored without it. Restore another backup (backup_info lists them), or copy {parent} "
                    "back into this repository"
                )

    def _read_manifest(self, component: str, backup_id: str) -> tuple[Manifest, bytes]:
        key = f"{component}/{backup_id}/{MANIFEST_NAME}"
        raw = self.backend.read_bytes(key)
        if raw is None:
            raise ManifestError(f"{self.backend.describe(key)} is missing")
        manifest = Manifest.from_json(raw, self.backend.describe(key))
        if manifest.component != component or manifest.backup_id != backup_id:
            raise ManifestError(
                f"the manifest {self.backend.describe(key)} describes backup {manifest.backup_id} of "
                f"{manifest.component}, not the directory it is in"
            )
        return manifest, raw

    def _check_signature(self, entry: BackupEntry, signed: bool) -> None:
        """Record whether the manifest is signed; with a verifier, an unsigned or badly signed one is untrusted."""
        entry.signature = {"signed": signed, "valid": None}
        if self.verifier is None or entry.manifest_bytes is None:
            return
        prefix = f"{entry.component}/{entry.backup_id}"
        signature = self.backend.read_bytes(f"{prefix}/{SIGNATURE_NAME}") if signed else None
        try:
            signer = self.verifier.check(entry.manifest_bytes, signature, entry.label,
                                         self.backend.describe(f"{prefix}/{MANIFEST_NAME}"))
        except SignatureError as error:
            entry.status, entry.error = UNTRUSTED, error.message
            entry.signature = {"signed": signature is not None, "valid": False}
            return
        entry.signature = {"signed": True, "valid": True, "key_id": signer}

    def refuse_newer_untrusted(self, component: str, chosen: BackupEntry | None = None,
                               before: datetime | None = None) -> None:
        """Fail when a backup newer than the one chosen (or any, when none is) failed its signature check.

        A restore never takes an untrusted backup; it does not quietly take an
        older one either when a newer backup looks forged: a person decides.
        With `before` (a restore's target_time) backups started after it do not
        count: they would not be restored either way. Without
        signing_public_keys nothing is untrusted.
        """
        if self.verifier is None:
            return
        for entry in reversed(self._component_backups(check_component(component))):
            if chosen is not None and (entry.started, entry.backup_id) <= (chosen.started, chosen.backup_id):
                return
            if before is not None and entry.started > before:
                continue
            if entry.status == UNTRUSTED:
                raise SignatureError(
                    f"{entry.error} (it is the newest backup of component {component}; to restore an older, signed "
                    "one, give its backup_id)"
                )

    def _read_verify_result(self, component: str, backup_id: str) -> dict[str, t.Any] | None:
        return self._read_json_record(f"{component}/{backup_id}/{VERIFY_RESULT_NAME}")

    def _read_json_record(self, key: str) -> dict[str, t.Any] | None:
        raw = self.backend.read_bytes(key)
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            return None  # an unreadable record counts as none: never verified, never tested
        return data if isinstance(data, dict) else None

    def find(self, component: str, backup_id: str) -> BackupEntry:
        check_backup_id(backup_id)
        for entry in self._component_backups(check_component(component)):
            if entry.backup_id == backup_id:
                return entry
        raise BackupNotFound(
            f"backup {backup_id} of component {component} is not in {self.location}; "
            "backup_info lists the backups there"
        )

    def select_backup(self, component: str, backup_id: str | None = None, *, target_time: datetime | None = None,
                      kind: str | None = None, method: str | None = None) -> BackupEntry:
        """The backup to restore: the one asked for, else the newest verified, else the newest complete
        (of that kind and method, consistent at or before target_time, when given); see choose_backup."""
        return self.choose_backup(component, backup_id, target_time=target_time, kind=kind, method=method).entry

    def choose_backup(self, component: str, backup_id: str | None = None, *,
                      accept: t.Callable[[BackupEntry], bool] | None = None, wanted: str = "",
                      target_time: datetime | None = None, kind: str | None = None,
                      method: str | None = None) -> Selection:
        """The backup to restore, and the newer ones passed over because they cannot be restored.

        backup_id: exactly that backup (refused when it cannot be restored, or
        is not of the kind and method asked for; `accept` does not judge it).
        Else the newest verified backup, else the newest complete one, among
        those of `kind` and `method` (when given) that `accept` takes;
        `wanted` names them in errors (by default the kind and method).
        target_time: only backups whose consistency point is at or before it
        count; the ones after it are expected to be left alone (no warning),
        and none early enough is an error naming the points there are.
        """
        if backup_id and target_time is not None:
            raise ConfigurationError(
                f"component {component}: backup_id ({backup_id}) and target_time ({format_time(target_time)}) exclude "
                "each other; give backup_id to restore that backup, or target_time to restore the newest one consistent "
                "at or before that time"
            )
        asked = Wanted(component, kind=kind, method=method, accept=accept, target_time=target_time, name=wanted)
        if backup_id:
            entry = self.find(component, backup_id)
            asked.check_named(entry)
            return Selection(entry, [])
        entries = self._component_backups(check_component(component))
        chosen = asked.newest(entries)
        self.refuse_newer_untrusted(component, chosen, before=target_time)
        if chosen is None:
            raise asked.nothing_found(entries, self.location)
        return asked.selection(entries, chosen)

    # ------------------------------------------------------------------ reading

    def _identities_for(self, entry: BackupEntry) -> list[t.Any]:
        manifest = entry.readable_manifest()
        if manifest.encryption and not self.identities:
            keys = ", ".join(manifest.encryption.get("recipients", [])) or "unknown keys"
            raise EncryptionError(
                f"{entry.label} is encrypted (to {keys}); give encryption_identity_file or encryption_identity "
                "with a matching secret key to read it"
            )
        return self.identities

    def read_file(self, entry: BackupEntry, name: str, sink: t.Any) -> int:
        """Verify, decrypt and decompress one file of a backup into sink.write; returns its size."""
        manifest = entry.readable_manifest()
        record = manifest.file(name)
        return self._read_record(entry, record, sink)

    def _read_record(self, entry: BackupEntry, record: FileRecord, sink: t.Any) -> int:
        identities = self._identities_for(entry) if record.encrypted else []
        key = f"{entry.component}/{entry.backup_id}/{record.path}"
        source = self.backend.open_read(key)
        try:
            return streams.read_stream(
                source, sink, size=record.size, sha256=record.sha256, compressed_sha256=record.compressed_sha256,
                encrypted=record.encrypted, identities=identities, what=f"{entry.label}: file {record.path}",
            )
        finally:
            source.close()

    @contextlib.contextmanager
    def open_file(self, entry: BackupEntry, name: str) -> t.Iterator[t.BinaryIO]:
        """A readable stream of one file's content (for consumers that pull, such as tar extraction)."""
        pipe = PipeFromProducer(lambda sink: self.read_file(entry, name, sink), name=f"read {name}")
        try:
            yield pipe  # type: ignore[misc]
        finally:
            pipe.close()

    @contextlib.contextmanager
    def open_reader(self, entry: BackupEntry, name: str) -> t.Iterator[t.BinaryIO]:
        """Like open_file, with the content handed over in memory (pipes.ChunkPipe), not through an OS pipe.

        For consumers that read a lot: the stored file is read, verified and
        decompressed in a thread while the consumer works; an error of that
        thread (a failed checksum naming the file) is raised by the read that
        reaches it. As with read_file, the last chunk comes only after the
        whole file passed its checks.
        """
        pipe = ChunkPipe(lambda sink: self.read_file(entry, name, sink), name=f"read {name}")
        try:
            yield pipe  # type: ignore[misc]
        finally:
            pipe.close()

    def read_bytes(self, entry: BackupEntry, name: str) -> bytes:
        buffer = io.BytesIO()
        self.read_file(entry, name, buffer)
        return buffer.getvalue()

    def verification_data(self, entry: BackupEntry) -> dict[str, t.Any]:
        """What the backup recorded to check a restore against (row counts, key samples, ...)."""
        manifest = entry.readable_manifest()
        if not manifest.verification_file:
            return {}
        try:
            data = json.loads(self.read_bytes(entry, manifest.verification_file).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise IntegrityError(f"{entry.label}: the verification data is unreadable: {error}") from None
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ verifying

    def verify(self, entry: BackupEntry, content: bool = True) -> VerifyOutcome:
        """Re-read every file: sizes and SHA-256 always; with content, also decrypt and decompress.

        Content needs the identity when the backup is encrypted; without one the
        stored level is all that can be checked. Stops at the first bad file and
        says which in the outcome.
        """
        manifest = entry.readable_manifest()
        deep = content and (manifest.encryption is None or bool(self.identities))
        outcome = VerifyOutcome(entry.backup_id, "content" if deep else "stored")
        for record in manifest.files:
            try:
                if deep:
                    self._read_record(entry, record, NullSink())
                else:
                    self._check_stored(entry, record)
            except RepositoryError as error:
                outcome.ok, outcome.error, outcome.file = False, error.message, record.path
                return outcome
            outcome.files += 1
            outcome.bytes += record.size
        return outcome

    def _check_stored(self, entry: BackupEntry, record: FileRecord) -> None:
        source = self.backend.open_read(f"{entry.component}/{entry.backup_id}/{record.path}")
        try:
            copy(VerifyingReader(source, record.size, record.sha256, f"{entry.label}: file {record.path}"), NullSink())
        finally:
            source.close()

    def record_verify_result(self, entry: BackupEntry, outcome: VerifyOutcome) -> dict[str, t.Any]:
        record = outcome.record(operator(), self.clock())
        self.backend.write_bytes(
            f"{entry.component}/{entry.backup_id}/{VERIFY_RESULT_NAME}", json.dumps(record, indent=2).encode("utf-8")
        )
        entry.verify_result = record
        entry.status = VERIFIED if outcome.ok else FAILED_VERIFICATION
        return record

    def record_restore_test(self, entry: BackupEntry, outcome: dict[str, t.Any]) -> dict[str, t.Any]:
        """Write restore-test.json beside the backup: when, by whom, and the outcome a restore test gave."""
        record = {"tested_at": format_time(self.clock()), "by": operator(), **outcome}
        self.backend.write_bytes(
            f"{entry.component}/{entry.backup_id}/{RESTORE_TEST_NAME}", json.dumps(record, indent=2).encode("utf-8")
        )
        entry.restore_test = record
        return record

    # ------------------------------------------------------------------ writing and deleting

    def lock(self, component: str, operation: str, backup_id: str | None = None) -> ComponentLock:
        return ComponentLock(
            self.backend, check_component(component), operation, timeout=self.lock_timeout,
            break_stale=self.break_stale_lock, backup_id=backup_id, clock=self.clock,
        )

    def new_backup(self, component: str, *, kind: str, method: str, retention_class: str = "standard",
                   depends_on: str | None = None) -> BackupSession:
        return BackupSession(self, check_component(component), kind=kind, method=method,
                             retention_class=retention_class, depends_on=depends_on)

    def write_manifest(self, prefix: str, data: bytes, *, signature: bytes | None = None,
                       written: list[str] | None = None) -> None:
        """Write a backup's manifest.json, signed: the signature first, the manifest (the commit point) last.

        signature: one to keep (a copy of a signed backup); else this
        repository's signer signs data, when it has one. A manifest is never
        visible without its signature, so a restore that requires one never
        sees a complete backup as unsigned.
        """
        if signature is None and self.signer is not None:
            signature = self.signer.sign(data)
        keys = [f"{prefix}/{SIGNATURE_NAME}", f"{prefix}/{MANIFEST_NAME}"]
        if written is not None:
            written.extend(keys)
        if signature is not None:
            self.backend.write_bytes(keys[0], signature)
        self.backend.write_bytes(keys[1], data)

    def delete_backup(self, entry: BackupEntry) -> None:
        """Remove a backup: its manifest first, so a half-finished deletion is an incomplete backup, never a corrupt one."""
        prefix = f"{entry.component}/{entry.backup_id}"
        keys = [stored.key for stored in self.backend.list_objects(prefix)]
        manifest_key = f"{prefix}/{MANIFEST_NAME}"
        if manifest_key in keys:
            self.backend.delete([manifest_key])
        self.backend.delete([key for key in keys if key != manifest_key])
