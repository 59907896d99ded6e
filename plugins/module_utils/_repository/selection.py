# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing the backup a restore takes, and the messages that explain the choice."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError, IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import (
    FAILED_VERIFICATION,
    INCOMPLETE,
    INVALID,
    UNTRUSTED,
    VERIFIED,
    BackupEntry,
    consistent_at,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import SignatureError
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

# Statuses of a newer backup that a restore passes over because it cannot be restored.
UNRESTORABLE = (FAILED_VERIFICATION, INVALID, INCOMPLETE)


@dataclass
class Selection:
    """The backup a restore takes, and the newer backups it passed over because they cannot be restored."""

    entry: BackupEntry
    skipped: list[BackupEntry]

    def skipped_backups(self) -> list[dict[str, str]]:
        """As results show them: backup_id, status and why it cannot be restored."""
        return [{"backup_id": entry.backup_id, "status": entry.status, "reason": unrestorable_reason(entry)}
                for entry in self.skipped]


def unrestorable_reason(entry: BackupEntry) -> str:
    if entry.status == FAILED_VERIFICATION:
        result = entry.verify_result or {}
        return f"failed verification at {result.get('verified_at')}: {result.get('error', 'no detail')}"
    return entry.error or entry.status


def no_backup_before_message(component: str, wanted: str, target_time: datetime, usable: t.Sequence[BackupEntry],
                             location: str) -> str:
    """Why target_time finds nothing: the oldest and newest points the usable backups are consistent to."""
    ordered = sorted(usable, key=lambda entry: (consistent_at(entry), entry.backup_id))
    oldest, newest = ordered[0], ordered[-1]
    points = f"the oldest is {format_time(consistent_at(oldest))} (backup {oldest.backup_id})"
    if newest is not oldest:
        points += f", the newest {format_time(consistent_at(newest))} (backup {newest.backup_id})"
    else:
        points += ", the only one"
    what = f"{wanted} backup" if wanted else "backup"
    return (
        f"component {component} has no complete {what} in {location} consistent at or before target_time "
        f"{format_time(target_time)}; {points}. Give a target_time at or after the oldest point, or a backup_id "
        "(backup_info lists the backups)"
    )


def not_wanted_message(entry: BackupEntry, wanted: str, kind: str | None) -> str:
    """Why the backup a backup_id names is not one the restore can take: its kind and method are others."""
    manifest = entry.manifest
    found_kind, found_method = (manifest.kind, manifest.method) if manifest is not None else ("unknown", "unknown")
    other_method = f"restore it with method {found_method}, or " if kind is not None and found_kind == kind else ""
    return (
        f"{entry.label} is a {found_kind} backup (method {found_method}), not a {wanted} backup; {other_method}"
        f"give the backup_id of a {wanted} backup (backup_info lists each backup's kind and method)"
    )


def would_restore_message(entry: BackupEntry, target: str) -> str:
    """What a check-mode restore says it would do: which backup, consistent to when, into what."""
    return (f"check mode: would restore {entry.label} (consistent to {format_time(consistent_at(entry))}) "
            f"into {target}; nothing was changed")


def skipped_backups_warning(component: str, backup_id: str, skipped: t.Sequence[dict[str, str]]) -> str | None:
    """The warning a restore gives when it restores an older backup than the newest one there is."""
    if not skipped:
        return None
    listed = "; ".join(f"{item['backup_id']} ({item['status']}: {item['reason']})" for item in skipped)
    return (
        f"component {component}: restoring backup {backup_id}, not the newer {len(skipped)} backup(s) that cannot be "
        f"restored: {listed}. Whatever changed after {backup_id} is not in this restore; backup_info and "
        "backup_verify show those backups, and a new backup replaces them"
    )


@dataclass
class Wanted:
    """What a restore takes among a component's backups: of a kind and method, that `accept` takes,
    consistent at or before target_time (each when given); `name` calls them so in errors."""

    component: str
    kind: str | None = None
    method: str | None = None
    accept: t.Callable[[BackupEntry], bool] | None = None
    target_time: datetime | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or " ".join(part for part in (self.kind, self.method) if part)

    def of_kind(self, entry: BackupEntry) -> bool:
        manifest = entry.manifest
        return manifest is not None and self.kind in (None, manifest.kind) and self.method in (None, manifest.method)

    def relevant(self, entry: BackupEntry) -> bool:
        return entry.manifest is None or (self.of_kind(entry) and (self.accept is None or self.accept(entry)))

    def in_time(self, entry: BackupEntry) -> bool:
        return self.target_time is None or consistent_at(entry) <= self.target_time

    def check_named(self, entry: BackupEntry) -> None:
        """Refuse the backup a backup_id names when it cannot be restored or is not of the kind and method asked
        for (`accept` does not judge it)."""
        if entry.status == UNTRUSTED:
            raise SignatureError(entry.error or f"{entry.label} is not signed by a trusted key")
        if entry.status == FAILED_VERIFICATION:
            result = entry.verify_result or {}
            raise IntegrityError(
                f"{entry.label} failed verification at {result.get('verified_at')} "
                f"({result.get('error', 'no detail')}); restore another backup (backup_info lists them)"
            )
        if not entry.usable:
            raise BackupNotFound(f"{entry.label} cannot be restored: it is {entry.status} ({entry.error})")
        if not self.of_kind(entry):
            raise ConfigurationError(not_wanted_message(entry, self.name, self.kind), backup_id=entry.backup_id)

    def newest(self, entries: t.Sequence[BackupEntry]) -> BackupEntry | None:
        """Of the backups (oldest first) the newest verified one that is wanted, else the newest complete one."""
        early = [entry for entry in self._usable(entries) if self.in_time(entry)]
        verified = [entry for entry in early if entry.status == VERIFIED]
        return verified[-1] if verified else early[-1] if early else None

    def _usable(self, entries: t.Sequence[BackupEntry]) -> list[BackupEntry]:
        return [entry for entry in entries if entry.usable and self.relevant(entry)]

    def nothing_found(self, entries: t.Sequence[BackupEntry], location: str) -> BackupNotFound:
        """Why no backup is wanted: none early enough, none of the kind and method, or none complete."""
        component, usable = self.component, self._usable(entries)
        if usable and self.target_time is not None:
            return BackupNotFound(no_backup_before_message(component, self.name, self.target_time, usable, location),
                                  component=component)
        other = [entry for entry in entries if entry.usable]
        filtered = self.accept is not None or self.kind is not None or self.method is not None
        if other and filtered:
            newest = other[-1].manifest
            return BackupNotFound(
                f"component {component} has no complete {self.name} backup in {location}; the newest usable "
                f"one, {other[-1].backup_id}, is a {newest.kind if newest else 'unknown'} backup taken with "
                f"method {newest.method if newest else 'unknown'}; backup_info lists them"
            )
        others = ", ".join(f"{entry.backup_id} ({entry.status})" for entry in entries[-5:])
        return BackupNotFound(
            f"component {component} has no complete backup in {location}"
            + (f"; found only {others}" if others else "")
        )

    def selection(self, entries: t.Sequence[BackupEntry], chosen: BackupEntry) -> Selection:
        """The chosen backup with the newer wanted ones passed over because they cannot be restored."""
        newer = entries[entries.index(chosen) + 1:]
        return Selection(chosen, [entry for entry in newer
                                  if entry.status in UNRESTORABLE and self.relevant(entry) and self.in_time(entry)])
