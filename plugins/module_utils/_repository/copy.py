# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copying complete backups from one repository to another (backup_copy).

    source, destination = open_copy_repositories(module.params)  # copy_options.py
    result = copy_backups(source, destination, components=["orders-db"], latest_only=True)

Only complete backups are copied (status complete or verified; never one that
failed verification). For each backup, under the destination's component
lock, the data files go first, each checked against the source manifest as it
is read and against what was sent once it is stored on the destination (S3
SHA-256 checksums, or read back); a local file copied to a local destination
goes through the kernel and is checked once, on the destination, before it
is renamed into place (see copy_check.py); the manifest goes last. A copy cut short at
any point is therefore an incomplete backup on the destination, invisible to
restores, and the next run resumes it: a file already there with the right
size and SHA-256 is kept, not sent again.

With destination recipients, files are re-encrypted on the way (decrypted
with the source identity, encrypted to the new recipients); the zstd stream
inside is untouched, so its SHA-256 in the manifest still holds. Such a copy
writes `copy-progress.json` (the SHA-256 of every file finished) so that an
interrupted re-encrypting copy can resume as well; it is removed before the
manifest is written.

The destination manifest is the source's, plus `origin` (where the backup came
from, when and by whom it was copied), signed by the destination's
signing_key_file when there is one. A signed backup copied without
re-encryption keeps its original signature instead: the destination gets the
source's manifest.json byte for byte with its manifest.json.sig, and the
origin goes to origin.json beside them (not signed). A copy starts as `complete` on the
destination whatever its status at the source: verification is a statement
about the bytes in one place, so backup_verify runs on the destination.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
import typing as t
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository import streams
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_check import copy_checked, damage_message
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import parse_since
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_plan import (
    COPY_PROGRESS_NAME,
    PROGRESS_FORMAT,
    BackupPlan,
    CopyConflict,
    CopyPlan,
    FilePlan,
    check_identity,
    content_of,
    file_plans,
    plan_copy,
    read_progress,
    stored_files,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import (
    MANIFEST_NAME,
    ORIGIN_NAME,
    VERIFY_RESULT_NAME,
    FileRecord,
    Manifest,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import component_summary
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import operator
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import SIGNATURE_NAME
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time
from ansible_collections.resilience.dr.plugins.module_utils._version import COLLECTION_VERSION

FILES_IN_FLIGHT = 4
PROGRESS_INTERVAL = 2.0  # seconds between progress records of a re-encrypting copy

# --------------------------------------------------------------------------- copying


class _Progress:
    """copy-progress.json of a re-encrypting copy: the files finished and their new SHA-256."""

    def __init__(self, destination: Repository, plan: BackupPlan, previous: dict[str, t.Any]) -> None:
        self._destination = destination
        self._key = f"{plan.prefix}/{COPY_PROGRESS_NAME}"
        self._data: dict[str, t.Any] = {
            "format": PROGRESS_FORMAT, "source_backup_id": plan.entry.backup_id,
            "recipients": list(destination.recipient_keys), "files": {},
        }
        if previous.get("recipients") == destination.recipient_keys:
            self._data["files"] = dict(previous.get("files") or {})
        self._guard = threading.Lock()
        self._written = 0.0

    def finished(self, path: str, size: int, sha256: str, source_sha256: str, force: bool) -> None:
        with self._guard:
            self._data["files"][path] = {"size": size, "sha256": sha256, "source_sha256": source_sha256}
            if force or time.monotonic() - self._written >= PROGRESS_INTERVAL:
                self._destination.backend.write_bytes(self._key, json.dumps(self._data, indent=1).encode("utf-8"))
                self._written = time.monotonic()


class _Copier:
    """Copies one backup under the destination's component lock."""

    def __init__(self, source: Repository, destination: Repository, plan: BackupPlan) -> None:
        self.source = source
        self.destination = destination
        self.plan = plan
        self.records: dict[str, FileRecord] = {}
        self.sent: list[tuple[str, int]] = []
        self.kept: list[tuple[str, int]] = []
        self.checked_by: set[str] = set()
        self.progress: _Progress | None = None
        self._guard = threading.Lock()

    def run(self) -> dict[str, t.Any] | None:
        """Copy the backup; None when it turned out to be there already."""
        plan = self.plan
        entry = plan.entry
        with self.destination.lock(entry.component, "copy", entry.backup_id) as lock:
            # Look again under the lock: another copy may have finished or advanced it meanwhile.
            stored = stored_files(self.destination, plan.prefix)
            if MANIFEST_NAME in stored:
                there = self.destination.find(entry.component, entry.backup_id)
                if there.manifest is None or content_of(there.manifest) != content_of(plan.manifest):
                    raise CopyConflict(f"{self.destination.location} now holds a different backup {entry.backup_id}")
                if there.usable:
                    return None
                plan.state = "repair"
            previous = read_progress(self.destination, plan.prefix) if plan.reencrypt else {}
            plan.files = file_plans(entry, self.destination, plan.reencrypt, stored, previous)
            if plan.reencrypt:
                self.progress = _Progress(self.destination, plan, previous)
            try:
                self._copy_files()
            except IntegrityError as error:
                if error.details.get("source_damaged") and plan.state != "repair":
                    # The source backup can never be copied whole: leave nothing of it behind.
                    self.destination.backend.delete([f"{plan.prefix}/{path}" for path in stored_files(self.destination, plan.prefix)])
                raise
            manifest, raw = self._manifest()
            if lock.lost:
                raise RepositoryError(
                    f"the lock of component {entry.component} in {self.destination.location} was taken over by another "
                    f"process while {entry.label} was copied (break_stale_lock elsewhere?); its manifest was not written"
                )
            self._finish(manifest, raw)
        summary = plan.summary()
        summary.update(
            files_sent=len(self.sent), bytes_sent=sum(size for _path, size in self.sent),
            files_kept=len(self.kept), bytes_kept=sum(size for _path, size in self.kept),
            bytes=manifest.total_size, checked_by=sorted(self.checked_by),
        )
        return summary

    def _copy_files(self) -> None:
        files = self.plan.files
        if not files:
            return
        with ThreadPoolExecutor(max_workers=min(FILES_IN_FLIGHT, len(files)), thread_name_prefix="copy") as pool:
            futures = [pool.submit(self._copy_file, item) for item in files]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()  # after a failure, files not started yet are not started
            wait(futures)
        errors = [future.exception() for future in futures if not future.cancelled() and future.exception() is not None]
        if errors:
            # A damaged source file is the cause worth reporting over what it cut short.
            errors.sort(key=lambda error: not (isinstance(error, IntegrityError) and error.details.get("source_damaged")))
            raise errors[0]  # type: ignore[misc]

    def _copy_file(self, item: FilePlan) -> None:
        record = item.record
        key = f"{self.plan.prefix}/{item.path}"
        if item.keepable and item.kept is not None:
            size, sha256 = self.destination.backend.stored_digest(key)
            if (size, sha256) == item.kept:
                self._done(item, size, sha256, sent=False)
                return
        what = f"{self.plan.entry.label}: file {record.path}"
        source_key = f"{self.plan.prefix}/{record.path}"
        source = self.source.backend.open_read(source_key)
        writer = self.destination.backend.open_verified_write(key)
        unchecked = False  # copied by the kernel: the source is checked through the destination's read-back
        try:
            try:
                if self.plan.reencrypt:
                    size, sha256 = streams.reencrypt_stream(
                        source, writer, size=record.size, sha256=record.sha256,
                        compressed_sha256=record.compressed_sha256, encrypted=record.encrypted,
                        identities=self.source.identities, recipients=self.destination.recipients, what=what,
                    )
                else:
                    unchecked = copy_checked(source, writer, record, what)
                    size, sha256 = record.size, record.sha256
            except IntegrityError as error:
                if error.details.get("damaged_in_transit"):
                    raise self._destination_differs(what, error, record) from None
                raise self._source_damaged(error.message, record) from None
        except BaseException:
            writer.abort()
            raise
        finally:
            source.close()
        try:
            how = writer.commit(size, sha256)
        except IntegrityError as error:
            if unchecked:
                # The copy holds other bytes than the manifest records: the source's, or the destination's fault?
                actual = self.source.backend.stored_digest(source_key)
                if actual != (record.size, record.sha256):
                    raise self._source_damaged(damage_message(what, record, actual), record) from None
            raise self._destination_differs(what, error, record) from None
        with self._guard:
            self.checked_by.add(how)
        self._done(item, size, sha256, sent=True)

    @staticmethod
    def _destination_differs(what: str, error: IntegrityError, record: FileRecord) -> IntegrityError:
        return IntegrityError(
            f"{what}: the copy on the destination differs from what was sent ({error.message}); it was removed: "
            "run the copy again (a storage or network fault?)", file=record.path,
        )

    def _source_damaged(self, message: str, record: FileRecord) -> IntegrityError:
        return IntegrityError(
            f"{message}. It was not copied to {self.destination.location}; run backup_verify on "
            f"{self.source.location}", source_damaged=True, file=record.path,
        )

    def _done(self, item: FilePlan, size: int, sha256: str, sent: bool) -> None:
        record = item.record
        new = dataclasses.replace(record, path=item.path, size=size, sha256=sha256,
                                  encrypted=record.encrypted or self.plan.reencrypt)
        with self._guard:
            self.records[record.name] = new
            (self.sent if sent else self.kept).append((item.path, size))
        if self.progress is not None and sent:
            self.progress.finished(item.path, size, sha256, record.sha256, force=size >= 64 * 1024 * 1024)

    def _manifest(self) -> tuple[Manifest, bytes]:
        """The destination's manifest, and the source's manifest.json as stored."""
        source_manifest = self.plan.manifest
        raw = self.source.backend.read_bytes(f"{self.plan.prefix}/{MANIFEST_NAME}") or b""
        manifest = dataclasses.replace(
            source_manifest,
            files=sorted(self.records.values(), key=lambda record: record.name),
            source=dict(source_manifest.source),
            consistency_point=dict(source_manifest.consistency_point),
            tools=dict(source_manifest.tools),
            extra=dict(source_manifest.extra),
        )
        if self.plan.reencrypt:
            manifest.encryption = {"format": "age", "recipients": list(self.destination.recipient_keys)}
        origin: dict[str, t.Any] = {
            "repository": self.source.location,
            "backup_id": self.plan.entry.backup_id,
            "copied_at": format_time(self.destination.clock()),
            "copied_by": operator(),
            "tool": f"resilience.dr {COLLECTION_VERSION}",
            "manifest_sha256": hashlib.sha256(raw).hexdigest(),
            "reencrypted": self.plan.reencrypt,
        }
        if self.plan.reencrypt:
            origin["source_recipients"] = list((source_manifest.encryption or {}).get("recipients", []))
        if source_manifest.origin:
            origin["previous"] = source_manifest.origin
        manifest.origin = origin
        return manifest, raw

    def _kept_signature(self, raw: bytes) -> bytes | None:
        """The source's manifest.json.sig, when the copy can keep it: same files, and it signs these very bytes."""
        entry = self.plan.entry
        if self.plan.reencrypt or not (entry.signature or {}).get("signed") or raw != entry.manifest_bytes:
            return None
        signature = self.source.backend.read_bytes(f"{self.plan.prefix}/{SIGNATURE_NAME}")
        try:
            signed = json.loads(signature.decode("utf-8")).get("signed_sha256") if signature else None
        except (ValueError, UnicodeDecodeError, AttributeError):
            return None
        return signature if signed == hashlib.sha256(raw).hexdigest() else None

    def _finish(self, manifest: Manifest, raw: bytes) -> None:
        """Remove what the backup directory must not hold, then write the manifest and read it back."""
        backend = self.destination.backend
        prefix = self.plan.prefix
        kept = self._kept_signature(raw)
        keep = {MANIFEST_NAME, VERIFY_RESULT_NAME}
        if kept is not None or self.destination.signer is not None:
            keep.add(SIGNATURE_NAME)
        if kept is not None:
            keep.add(ORIGIN_NAME)
        wanted = {record.path for record in manifest.files}
        leftovers = [f"{prefix}/{path}" for path in stored_files(self.destination, prefix)
                     if path not in wanted and path not in keep]
        # Pieces of transfers cut short, the progress record or signature of an earlier attempt.
        backend.delete(leftovers)
        key = f"{prefix}/{MANIFEST_NAME}"
        if kept is not None:
            data = raw
            backend.write_bytes(f"{prefix}/{ORIGIN_NAME}", json.dumps(manifest.origin, indent=2).encode("utf-8"))
            self.destination.write_manifest(prefix, data, signature=kept)
        else:
            data = manifest.to_json()
            self.destination.write_manifest(prefix, data)
        if backend.read_bytes(key) != data:
            backend.delete([key])
            raise IntegrityError(f"{backend.describe(key)} did not read back as written; run the copy again")
        # A repaired copy: the failed verification no longer describes these files.
        backend.delete([f"{prefix}/{VERIFY_RESULT_NAME}"])


# --------------------------------------------------------------------------- the operation


PER_BACKUP_ERRORS = (IntegrityError, CopyConflict)


def _component_figures(
    destination: Repository, plan: CopyPlan, now: datetime,
) -> dict[str, dict[str, t.Any]]:
    """Per component: the newest (verified) backup on the destination and its age, beside the source's newest."""
    figures = {}
    for component in plan.components:
        summary = component_summary(destination.list_backups(component), now).get(component) or {
            "backups": 0, "usable": 0, "verified": 0, "incomplete": 0,
            "newest_backup_id": None, "newest_age_s": None, "newest_consistency_point": None,
            "newest_verified_backup_id": None, "newest_verified_age_s": None,
            "newest_copied_from": None, "newest_copied_at": None,
        }
        newest = plan.source_newest.get(component)
        summary["source_newest_backup_id"] = newest.backup_id if newest else None
        summary["source_newest_age_s"] = (
            int((now - newest.manifest.finished).total_seconds()) if newest and newest.manifest else None
        )
        # How far the destination is behind the source: 0 once the source's newest backup is there,
        # None while the destination holds no backup of the component at all.
        destination_age, source_age = summary["newest_age_s"], summary["source_newest_age_s"]
        summary["copy_lag_s"] = None if destination_age is None or source_age is None else max(0, destination_age - source_age)
        figures[component] = summary
    return figures


def copy_backups(
    source: Repository,
    destination: Repository,
    *,
    components: t.Sequence[str] = (),
    latest_only: bool = False,
    since: str | None = None,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """backup_copy: plan, then (unless check_mode) copy each backup; the module's result."""
    now = source.clock()
    plan = plan_copy(source, destination, components=components, latest_only=latest_only, since=parse_since(since, now))
    check_identity(source, plan.backups)
    before = sorted(f"{item['component']}/{item['backup_id']}" for item in plan.up_to_date)
    copied: list[dict[str, t.Any]] = []
    errors = list(plan.errors)
    for backup in plan.backups:
        if check_mode:
            copied.append(backup.summary())
            continue
        try:
            summary = _Copier(source, destination, backup).run()
        except PER_BACKUP_ERRORS as error:
            errors.append((backup.entry, error))
            continue
        if summary is None:
            plan.up_to_date.append({"component": backup.entry.component, "backup_id": backup.entry.backup_id,
                                    "status": backup.entry.status})
        else:
            copied.append(summary)
    after = sorted(before + [f"{item['component']}/{item['backup_id']}" for item in copied])
    result: dict[str, t.Any] = {
        "changed": bool(copied),
        "source_repository": source.location,
        "destination_repository": destination.location,
        "copied": copied,
        "up_to_date": plan.up_to_date,
        "left_out": plan.left_out,
        "files_sent": sum(item["files_sent"] for item in copied),
        "bytes_sent": sum(item["bytes_sent"] for item in copied),
        "components": _component_figures(destination, plan, source.clock()),
        "diff": {
            "before": "".join(f"{line}\n" for line in before),
            "after": "".join(f"{line}\n" for line in after),
        },
    }
    if errors:
        entry, first = errors[0]
        failures = [{"component": item.component, "backup_id": item.backup_id, "error": error.message,
                     **({"file": error.details["file"]} if "file" in error.details else {})} for item, error in errors]
        more = f" ({len(errors)} backups could not be copied; see errors)" if len(errors) > 1 else ""
        done = f"; {len(copied)} other backup(s) were copied" if copied else ""
        raise type(first)(
            (first.message if entry.label in first.message else f"{entry.label}: {first.message}") + more + done,
            errors=failures, **{key: value for key, value in result.items() if key != "diff"},
        )
    return result
