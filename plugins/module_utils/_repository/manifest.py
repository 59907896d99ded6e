# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup manifest: what a backup is, written last, read strictly.

A backup exists only once its manifest.json is in place. The manifest lists
every file with its size and SHA-256, how the files were compressed and
encrypted, where the data came from and up to which point it is consistent.
docs/repository-format.md documents the format for people restoring by hand.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import typing as t
from dataclasses import asdict, dataclass, field
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time

FORMAT = "resilience.dr/backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
VERIFY_RESULT_NAME = "verify-result.json"
RESTORE_TEST_NAME = "restore-test.json"  # the last restore test of the backup (restore_test playbook)
VERIFICATION_DATA_NAME = "verification.json"
ORIGIN_NAME = "origin.json"  # where a copy that kept the original signed manifest came from

BACKUP_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9]{6}$")
COMPONENT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._@+=,-][A-Za-z0-9._@+=,/-]{0,511}$")
RETENTION_CLASSES = ("standard", "pinned")


class ManifestError(RepositoryError):
    """A manifest that cannot be read: the backup is treated as not existing."""


def new_backup_id(now: datetime) -> str:
    """UTC time to the second plus a random suffix: sorts by time, never collides."""
    alphabet = string.ascii_lowercase + string.digits
    suffix = "".join(secrets.choice(alphabet) for _position in range(6))
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"


def check_component(name: str) -> str:
    if not COMPONENT_PATTERN.match(name or ""):
        raise ConfigurationError(
            f"component {name!r} is not a valid component name: use letters, digits, '.', '_' and '-' "
            "(at most 128 characters, starting with a letter or digit)"
        )
    return name


def check_backup_id(backup_id: str) -> str:
    if not BACKUP_ID_PATTERN.match(backup_id or ""):
        raise ConfigurationError(
            f"backup_id {backup_id!r} is not a backup id; ids look like 20261123T040000Z-k3f9ab (backup_info lists them)"
        )
    return backup_id


def check_file_name(name: str) -> str:
    if not FILE_NAME_PATTERN.match(name) or any(part in ("", ".", "..") for part in name.split("/")):
        raise ConfigurationError(f"{name!r} cannot be a file name inside a backup")
    return name


@dataclass
class FileRecord:
    """One stored file of a backup."""

    name: str  # the name the data has for its component, e.g. "data/toc.dat"
    path: str  # where it is stored in the backup directory, e.g. "data/toc.dat.zst.age"
    size: int  # stored bytes
    sha256: str  # of the stored bytes
    content_size: int  # bytes before compression
    compressed_sha256: str  # of the zstd stream (equal to sha256 when not encrypted)
    encrypted: bool

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> FileRecord:
        record = cls(
            name=str(data["name"]),
            path=str(data["path"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            content_size=int(data["content_size"]),
            compressed_sha256=str(data["compressed_sha256"]),
            encrypted=bool(data["encrypted"]),
        )
        check_file_name(record.name)
        check_file_name(record.path)
        if not re.match(r"^[0-9a-f]{64}$", record.sha256) or not re.match(r"^[0-9a-f]{64}$", record.compressed_sha256):
            raise ValueError(f"file {record.name} has a malformed SHA-256")
        if record.size < 0 or record.content_size < 0:
            raise ValueError(f"file {record.name} has a negative size")
        return record


@dataclass
class Manifest:
    """Everything recorded about one complete backup."""

    backup_id: str
    component: str
    kind: str  # postgresql, redis, files, ...
    method: str  # logical, physical, rdb, online, tar, ...
    started_at: str
    finished_at: str
    host: str
    files: list[FileRecord] = field(default_factory=list)
    source: dict[str, t.Any] = field(default_factory=dict)  # identity of what was backed up
    consistency_point: dict[str, t.Any] = field(default_factory=dict)  # time, LSN, LASTSAVE, ...
    tools: dict[str, str] = field(default_factory=dict)
    compression: dict[str, t.Any] = field(default_factory=dict)
    encryption: dict[str, t.Any] | None = None  # {"format": "age", "recipients": [...]}
    verification_file: str | None = None  # name of the file holding row counts, key samples, ...
    retention_class: str = "standard"
    depends_on: str | None = None  # a backup this one needs (incremental on a full)
    origin: dict[str, t.Any] | None = None  # where a copied backup came from
    extra: dict[str, t.Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(record.size for record in self.files)

    @property
    def content_size(self) -> int:
        return sum(record.content_size for record in self.files)

    @property
    def finished(self) -> datetime:
        return parse_time(self.finished_at)

    @property
    def consistency_time(self) -> datetime:
        """The newest moment whose data the backup holds (its consistency point, else its end)."""
        value = self.consistency_point.get("time")
        return parse_time(value) if value else self.finished

    def file(self, name: str) -> FileRecord:
        for record in self.files:
            if record.name == name:
                return record
        raise RepositoryError(
            f"backup {self.backup_id} of component {self.component} has no file {name!r} "
            f"(it has: {', '.join(record.name for record in self.files) or 'no files'})"
        )

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "format_version": FORMAT_VERSION}
        data.update(asdict(self))
        return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        """Parse and check a manifest; anything wrong is a ManifestError naming where."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ManifestError(f"the manifest {where} is unreadable (truncated or damaged?): {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError(f"{where} is not a {FORMAT} manifest")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError(
                f"the manifest {where} has format version {version!r}; this collection reads version {FORMAT_VERSION}: "
                "upgrade resilience.dr to read it"
            )
        try:
            manifest = cls(
                backup_id=check_backup_id(str(data["backup_id"])),
                component=check_component(str(data["component"])),
                kind=str(data["kind"]),
                method=str(data["method"]),
                started_at=format_time(parse_time(data["started_at"])),
                finished_at=format_time(parse_time(data["finished_at"])),
                host=str(data["host"]),
                files=[FileRecord.from_dict(item) for item in data["files"]],
                source=dict(data.get("source") or {}),
                consistency_point=dict(data.get("consistency_point") or {}),
                tools={str(key): str(value) for key, value in (data.get("tools") or {}).items()},
                compression=dict(data.get("compression") or {}),
                encryption=dict(data["encryption"]) if data.get("encryption") else None,
                verification_file=data.get("verification_file"),
                retention_class=str(data.get("retention_class") or "standard"),
                depends_on=data.get("depends_on"),
                origin=dict(data["origin"]) if data.get("origin") else None,
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError, ConfigurationError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise ManifestError(f"the manifest {where} is invalid: {detail}") from None
        if manifest.retention_class not in RETENTION_CLASSES:
            raise ManifestError(f"the manifest {where} has an unknown retention_class {manifest.retention_class!r}")
        depends_on = manifest.depends_on
        if depends_on is not None and (not isinstance(depends_on, str) or not BACKUP_ID_PATTERN.match(depends_on)):
            raise ManifestError(
                f"the manifest {where} is invalid: depends_on {depends_on!r} is not a backup id "
                "(ids look like 20261123T040000Z-k3f9ab)"
            )
        names = [record.name for record in manifest.files]
        if len(names) != len(set(names)):
            raise ManifestError(f"the manifest {where} lists a file twice")
        return manifest
