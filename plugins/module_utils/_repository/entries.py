# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup as the repository finds it: its status, what its manifest says, and what verifying it found."""

from __future__ import annotations

import os
import socket
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import Manifest
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time

COMPLETE = "complete"
VERIFIED = "verified"
FAILED_VERIFICATION = "failed_verification"
INCOMPLETE = "incomplete"
IN_PROGRESS = "in_progress"
INVALID = "invalid"
UNTRUSTED = "untrusted"  # unsigned or badly signed, where signing_public_keys require a signature
STATUSES = (VERIFIED, COMPLETE, FAILED_VERIFICATION, IN_PROGRESS, INCOMPLETE, INVALID, UNTRUSTED)
USABLE = (VERIFIED, COMPLETE)


@dataclass
class BackupEntry:
    """One backup as found in the repository, complete or not."""

    component: str
    backup_id: str
    status: str
    manifest: Manifest | None = None
    verify_result: dict[str, t.Any] | None = None
    stored_size: int = 0
    error: str | None = None
    manifest_bytes: bytes | None = None  # manifest.json exactly as stored (what a signature covers)
    signature: dict[str, t.Any] | None = None  # signed (a manifest.json.sig is there), valid (None: not checked), key_id
    restore_test: dict[str, t.Any] | None = None  # the last restore test (restore-test.json), if any

    @property
    def usable(self) -> bool:
        return self.status in USABLE

    @property
    def started(self) -> datetime:
        """When the backup started: precisely from the manifest, else to the second from its id."""
        if self.manifest is not None:
            return parse_time(self.manifest.started_at)
        return datetime.strptime(self.backup_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)

    @property
    def label(self) -> str:
        return f"backup {self.backup_id} of component {self.component}"

    def readable_manifest(self) -> Manifest:
        """The manifest of a backup that must have one: every backup the selection chooses was read with its manifest."""
        if self.manifest is None:
            raise BackupNotFound(f"{self.label} has no readable manifest ({self.status}: {self.error})")
        return self.manifest

    def summary(self, now: datetime) -> dict[str, t.Any]:
        """The entry as module results show it."""
        result: dict[str, t.Any] = {
            "component": self.component,
            "backup_id": self.backup_id,
            "status": self.status,
            "size": self.stored_size,
        }
        if self.error:
            result["error"] = self.error
        manifest = self.manifest
        if manifest is not None:
            result.update(
                kind=manifest.kind,
                method=manifest.method,
                started_at=manifest.started_at,
                finished_at=manifest.finished_at,
                age_s=int((now - manifest.finished).total_seconds()),
                content_size=manifest.content_size,
                files=len(manifest.files),
                host=manifest.host,
                source=manifest.source,
                consistency_point=manifest.consistency_point,
                encrypted=manifest.encryption is not None,
                recipients=(manifest.encryption or {}).get("recipients", []),
                retention_class=manifest.retention_class,
                depends_on=manifest.depends_on,
                origin=manifest.origin,
            )
        if self.verify_result:
            result["verification"] = self.verify_result
        if self.restore_test:
            result["restore_test"] = self.restore_test
        if self.signature is not None:
            result["signature"] = self.signature
        return result


@dataclass
class VerifyOutcome:
    """What backup_verify checked of one backup."""

    backup_id: str
    level: str  # "stored": sizes and SHA-256 of the stored files; "content": also decrypted and decompressed
    files: int = 0
    bytes: int = 0
    ok: bool = True
    error: str | None = None
    file: str | None = None

    def record(self, by: str, now: datetime) -> dict[str, t.Any]:
        data: dict[str, t.Any] = {
            "verified_at": format_time(now), "verified_by": by, "level": self.level, "ok": self.ok,
            "files": self.files, "bytes": self.bytes,
        }
        if self.error:
            data.update(error=self.error, file=self.file)
        return data


def consistent_at(entry: BackupEntry) -> datetime:
    """The moment a backup's data is consistent to (its manifest's consistency point, else when it started)."""
    return entry.manifest.consistency_time if entry.manifest is not None else entry.started


def operator() -> str:
    """user@host of whoever runs this, for the records people read later."""
    try:
        import getpass  # pylint: disable=import-outside-toplevel

        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
