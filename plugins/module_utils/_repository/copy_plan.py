# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a copy (backup_copy): which backups to send, which are there already.

A backup is copied when it is complete at the source and not complete on the
destination. A destination holding an interrupted copy (files, no manifest)
is resumed: files already there with the right size are checked by their
SHA-256 and kept. A destination holding a different backup under the same id
is a conflict and is left alone.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import FileRecord, Manifest, check_component
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import (
    FAILED_VERIFICATION,
    INVALID,
    USABLE,
    BackupEntry,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

COPY_PROGRESS_NAME = "copy-progress.json"
PROGRESS_FORMAT = "resilience.dr/copy-progress"


@dataclasses.dataclass
class FilePlan:
    """One file of a backup: where it comes from and goes to."""

    record: FileRecord  # in the source manifest
    path: str  # where it is stored on the destination
    present: int | None = None  # size of an object already at path on the destination
    kept: tuple[int, str] | None = None  # size and SHA-256 that object must have to be kept

    @property
    def keepable(self) -> bool:
        return self.kept is not None and self.present == self.kept[0]


@dataclasses.dataclass
class BackupPlan:
    """One backup to copy."""

    entry: BackupEntry
    files: list[FilePlan]
    reencrypt: bool
    state: str  # new, resume (an interrupted copy is there), repair (the copy there failed verification)
    needed_by: str | None = None

    @property
    def manifest(self) -> Manifest:
        return self.entry.readable_manifest()  # plan_copy plans only backups whose manifest it read

    @property
    def prefix(self) -> str:
        return f"{self.entry.component}/{self.entry.backup_id}"

    def summary(self) -> dict[str, t.Any]:
        """What a real run sends (predicted: present files of the right size count as kept)."""
        kept = [item for item in self.files if item.keepable]
        item: dict[str, t.Any] = {
            "component": self.entry.component,
            "backup_id": self.entry.backup_id,
            "status": self.entry.status,
            "state": self.state,
            "reencrypted": self.reencrypt,
            "files": len(self.files),
            "bytes": self.manifest.total_size,
            "files_sent": len(self.files) - len(kept),
            "bytes_sent": sum(plan.record.size for plan in self.files if not plan.keepable),
            "files_kept": len(kept),
            "bytes_kept": sum(plan.kept[0] for plan in kept if plan.kept),
        }
        if self.needed_by:
            item["needed_by"] = self.needed_by
        return item


@dataclasses.dataclass
class CopyPlan:
    components: list[str]
    backups: list[BackupPlan] = dataclasses.field(default_factory=list)
    up_to_date: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    left_out: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    errors: list[tuple[BackupEntry, DrError]] = dataclasses.field(default_factory=list)
    source_newest: dict[str, BackupEntry] = dataclasses.field(default_factory=dict)


class CopyConflict(RepositoryError):
    """The destination holds something else under the backup's id; it is left alone."""


def content_of(manifest: Manifest) -> dict[str, tuple[str, int]]:
    """What a backup holds, independent of how it is encrypted."""
    return {record.name: (record.compressed_sha256, record.content_size) for record in manifest.files}


def destination_path(record: FileRecord, reencrypt: bool) -> str:
    return record.path + ".age" if reencrypt and not record.encrypted else record.path


def read_progress(destination: Repository, prefix: str) -> dict[str, t.Any]:
    raw = destination.backend.read_bytes(f"{prefix}/{COPY_PROGRESS_NAME}")
    try:
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}  # unreadable: every file is sent again
    if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
        return {}
    return data


def file_plans(
    plan_entry: BackupEntry, destination: Repository, reencrypt: bool, stored: dict[str, int],
    progress: dict[str, t.Any],
) -> list[FilePlan]:
    """Each file of the backup, with what an object already on the destination must be to be kept."""
    records = plan_entry.manifest.files if plan_entry.manifest is not None else []
    done = progress.get("files", {}) if progress.get("recipients") == destination.recipient_keys else {}
    plans = []
    for record in records:
        path = destination_path(record, reencrypt)
        kept: tuple[int, str] | None = None
        if not reencrypt:
            kept = (record.size, record.sha256)
        else:
            finished = done.get(path)
            if isinstance(finished, dict) and finished.get("source_sha256") == record.sha256:
                kept = (int(finished.get("size", -1)), str(finished.get("sha256", "")))
        plans.append(FilePlan(record, path, stored.get(path), kept))
    return plans


def stored_files(destination: Repository, prefix: str) -> dict[str, int]:
    return {stored.key[len(prefix) + 1:]: stored.size for stored in destination.backend.list_objects(prefix)}


def check_identity(source: Repository, plans: t.Sequence[BackupPlan]) -> None:
    for plan in plans:
        encryption = plan.manifest.encryption
        if plan.reencrypt and encryption and not source.identities and any(not item.keepable for item in plan.files):
            keys = ", ".join(encryption.get("recipients", [])) or "unknown keys"
            raise ConfigurationError(
                f"{plan.entry.label} is encrypted (to {keys}); re-encrypting it to destination_encryption_recipients "
                "needs its secret key: give encryption_identity_file or encryption_identity"
            )


def plan_copy(
    source: Repository,
    destination: Repository,
    *,
    components: t.Sequence[str] = (),
    latest_only: bool = False,
    since: datetime | None = None,
) -> CopyPlan:
    """Which backups to copy, which are there already, and which cannot be copied."""
    available = source.components()
    if components:
        wanted = [check_component(name) for name in components]
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise ConfigurationError(
                f"component(s) {', '.join(unknown)} have no backups in {source.location} "
                f"(it has: {', '.join(available) or 'no components'})"
            )
    else:
        wanted = available
    reencrypt = bool(destination.recipients)
    plan = CopyPlan(components=list(wanted))
    for component in wanted:
        entries = source.list_backups(component)
        usable = [entry for entry in entries if entry.usable and entry.manifest is not None]
        if usable:
            plan.source_newest[component] = usable[-1]
        selected = [entry for entry in usable if since is None or entry.manifest.finished >= since]  # type: ignore[union-attr]
        if latest_only:
            selected = selected[-1:]
        newest_selected = selected[-1].started if selected else None
        for entry in entries:
            if entry.status not in (FAILED_VERIFICATION, INVALID):
                continue
            if (since is not None and entry.started < since) or (latest_only and newest_selected and entry.started < newest_selected):
                continue
            plan.left_out.append({
                "component": component, "backup_id": entry.backup_id, "status": entry.status,
                "reason": entry.error or ((entry.verify_result or {}).get("error")) or entry.status,
            })
        # A backup that depends on another (an incremental on its full) is useless without it.
        by_id = {entry.backup_id: entry for entry in entries}
        needed: dict[str, str | None] = {entry.backup_id: None for entry in selected}
        for entry in list(selected):
            current = entry
            while current.manifest is not None and current.manifest.depends_on:
                base = by_id.get(current.manifest.depends_on)
                if base is None or not base.usable:
                    plan.errors.append((entry, CopyConflict(
                        f"{entry.label} depends on backup {current.manifest.depends_on}, which is "
                        f"{base.status if base else 'missing'} in {source.location}; it is not copied"
                    )))
                    needed.pop(entry.backup_id, None)
                    break
                needed.setdefault(base.backup_id, entry.backup_id)
                current = base
        destination_entries = {entry.backup_id: entry for entry in destination.list_backups(component)}
        for entry in usable:
            if entry.backup_id not in needed:
                continue
            there = destination_entries.get(entry.backup_id)
            state = "new"
            if there is not None and there.manifest is not None and there.status in (*USABLE, FAILED_VERIFICATION):
                if content_of(there.manifest) != content_of(entry.manifest):  # type: ignore[arg-type]
                    plan.errors.append((entry, CopyConflict(
                        f"{destination.location} holds a different backup {entry.backup_id} of component {component} "
                        f"than {source.location}; it is left alone and this backup is not copied (remove one of "
                        "them if it is not wanted)"
                    )))
                    continue
                if there.status in USABLE:
                    plan.up_to_date.append({"component": component, "backup_id": entry.backup_id, "status": there.status})
                    continue
                state = "repair"
            elif there is not None and there.status == INVALID:
                plan.errors.append((entry, CopyConflict(
                    f"{destination.location} holds backup {entry.backup_id} of component {component} with an unreadable "
                    f"manifest ({there.error}); it is left alone and this backup is not copied"
                )))
                continue
            elif there is not None:
                state = "resume"
            stored = stored_files(destination, f"{component}/{entry.backup_id}") if there is not None else {}
            progress = read_progress(destination, f"{component}/{entry.backup_id}") if reencrypt and stored else {}
            plan.backups.append(BackupPlan(
                entry, file_plans(entry, destination, reencrypt, stored, progress), reencrypt, state,
                needed_by=needed[entry.backup_id],
            ))
    return plan
