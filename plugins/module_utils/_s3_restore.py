# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""s3_restore without Ansible: a bucket prefix back to how it was at a time.

The plan is computed from the bucket's object versions alone (plan_changes is
pure, unit-tested without S3); apply_changes then carries it out:

- undelete: the object existed at the time and every version after that is a
  delete marker: those markers are deleted, so the old version is current
  again with its own version id (nothing is copied);
- roll_back: the current version differs from the one at the time (overwritten,
  or deleted and written again): that version is copied over it;
- restore: the object existed at the time and is missing in the target
  bucket (another bucket, or deleted there): it is copied;
- delete: the object did not exist at the time (created later) and
  delete_newer is set: it is deleted (a delete marker in a versioned bucket,
  so it stays recoverable); without delete_newer it is listed in newer_kept.
  In a bucket whose versioning is not Enabled (never enabled, or Suspended) a
  delete removes the object for good, so delete_newer is refused there unless
  allow_permanent_delete says the operator accepts that.

The client is a boto3 S3 client from _aws.clients.aws_client, whose retries
(SlowDown and RequestTimeout too) are used by passing aws_retry=True (the
`retry` keyword arguments below).
"""

from __future__ import annotations

import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import (
    BotoCoreError,
    ClientError,
    error_code,
    is_access_denied,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    SourceUnavailable,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

UNDELETE = "undelete"
ROLL_BACK = "roll_back"
RESTORE = "restore"
DELETE = "delete"
ACTIONS = (UNDELETE, ROLL_BACK, RESTORE, DELETE)
COPY_OBJECT_LIMIT = 5 * 1024 ** 3  # larger objects need a multipart copy
DELETE_BATCH = 1000

_IAM_HINT = (
    "the credentials need s3:GetBucketVersioning, s3:ListBucketVersions, s3:ListBucket, s3:GetObjectVersion, "
    "s3:PutObject and s3:DeleteObjectVersion (see docs/files-and-s3.md)"
)


class S3RestoreFailed(DrError):
    """Some changes of an S3 restore could not be made."""


@dataclass(frozen=True)
class Version:
    """One entry of a key's history: an object version or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime
    is_latest: bool = False
    delete_marker: bool = False
    etag: str = ""
    size: int = 0


@dataclass(frozen=True)
class Current:
    """The object a key holds now in the target bucket."""

    key: str
    etag: str
    size: int
    version_id: str | None = None


@dataclass(frozen=True)
class Change:
    key: str
    action: str
    version_id: str | None = None  # the version brought back (undelete, roll_back, restore)
    size: int = 0
    markers: tuple[str, ...] = ()  # delete markers removed by an undelete
    current: str | None = None  # what the key holds now, for the diff

    def as_dict(self) -> dict[str, t.Any]:
        data: dict[str, t.Any] = {"key": self.key, "action": self.action}
        if self.version_id:
            data.update(version_id=self.version_id, size=self.size)
        return data


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    newer_kept: list[str] = field(default_factory=list)
    unchanged: int = 0
    keys_at_time: int = 0

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        counts.update(newer_kept=len(self.newer_kept), unchanged=self.unchanged, objects_at_time=self.keys_at_time)
        return counts


def _history(versions: t.Iterable[Version]) -> dict[str, list[Version]]:
    """Each key's versions and delete markers, newest first."""
    by_key: dict[str, list[Version]] = {}
    for version in versions:
        by_key.setdefault(version.key, []).append(version)
    for entries in by_key.values():
        # S3 times have whole seconds; within one second the latest flag decides, then the listing order.
        entries.sort(key=lambda version: (version.last_modified, version.is_latest), reverse=True)
    return by_key


def state_at(entries: t.Sequence[Version], moment: datetime) -> Version | None:
    """The version current at `moment` (None when the key did not exist or was deleted then)."""
    for version in entries:  # newest first
        if version.last_modified <= moment:
            return None if version.delete_marker else version
    return None


def plan_changes(versions: t.Iterable[Version], moment: datetime, *, current: dict[str, Current] | None = None,
                 delete_newer: bool = False) -> Plan:
    """What brings the keys back to how they were at `moment`.

    `current` is the target bucket's objects when it is another bucket; None
    means the source bucket itself is the target (its latest versions are current).
    """
    history = _history(versions)
    same_bucket = current is None
    if current is None:
        current = {}
        for key, entries in history.items():
            latest = entries[0]
            if not latest.delete_marker:
                current[key] = Current(key, latest.etag, latest.size, latest.version_id)
    plan = Plan()
    for key in sorted(set(history) | set(current)):
        wanted = state_at(history.get(key, []), moment)
        have = current.get(key)
        now = f"{have.version_id or have.etag}" if have else None
        if wanted is not None:
            plan.keys_at_time += 1
        if wanted is not None and have is not None:
            if (same_bucket and have.version_id == wanted.version_id) or (have.etag == wanted.etag and have.size == wanted.size):
                plan.unchanged += 1
            else:
                plan.changes.append(Change(key, ROLL_BACK, wanted.version_id, wanted.size, current=now))
        elif wanted is not None:
            later = [entry for entry in history[key] if entry.last_modified > moment]
            if same_bucket and later and all(entry.delete_marker for entry in later):
                plan.changes.append(Change(key, UNDELETE, wanted.version_id, wanted.size,
                                           markers=tuple(entry.version_id for entry in later)))
            else:
                plan.changes.append(Change(key, RESTORE, wanted.version_id, wanted.size))
        elif have is not None:
            if delete_newer:
                plan.changes.append(Change(key, DELETE, current=now))
            else:
                plan.newer_kept.append(key)
        else:
            plan.unchanged += 1
    return plan


# ---------------------------------------------------------------- talking to S3


class S3Restore:
    def __init__(self, client: t.Any, bucket: str, prefix: str = "", target_bucket: str | None = None,
                 retry: dict[str, t.Any] | None = None, concurrency: int = 16) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.target_bucket = target_bucket if target_bucket and target_bucket != bucket else None
        self.retry = retry or {}
        self.concurrency = max(1, concurrency)

    def fail(self, error: BaseException, what: str) -> t.NoReturn:
        hint = _IAM_HINT if is_access_denied(error) else "check the bucket name, endpoint_url and region"
        raise SourceUnavailable(f"{what} failed ({error_code(error)}: {error}); {hint}") from None

    def check_versioning(self) -> str:
        try:
            status = self.client.get_bucket_versioning(Bucket=self.bucket, **self.retry).get("Status")
        except (ClientError, BotoCoreError) as error:
            self.fail(error, f"reading the versioning of bucket {self.bucket}")
        if status not in ("Enabled", "Suspended"):
            raise ConfigurationError(
                f"bucket {self.bucket} is not versioned, so it keeps no earlier versions to restore from; "
                "s3_restore needs object versions. Enable versioning on it (this protects future changes only) "
                "and restore this time from a backup copy of the bucket instead"
            )
        return str(status)

    def check_deletes_recoverable(self, allow_permanent_delete: bool) -> str | None:
        """Refuse delete_newer on a destination whose deletes cannot be undone; returns its versioning status."""
        bucket = self.destination
        try:
            status = self.client.get_bucket_versioning(Bucket=bucket, **self.retry).get("Status")
        except (ClientError, BotoCoreError) as error:
            self.fail(error, f"reading the versioning of bucket {bucket}")
        if status == "Enabled" or allow_permanent_delete:
            return status
        state = "has versioning Suspended" if status == "Suspended" else "is not versioned"
        raise ConfigurationError(
            f"delete_newer would delete objects from s3://{bucket}/{self.prefix} for good: the bucket {bucket} {state}, "
            "so a delete keeps no earlier version to undo it. Nothing was changed. Enable versioning on it "
            f"(aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled), "
            "or accept the loss explicitly with allow_permanent_delete: true, or leave delete_newer off "
            "(newer objects are then only listed in newer_kept)",
            bucket=bucket,
        )

    def versions(self) -> list[Version]:
        found: list[Version] = []
        try:
            paginator = self.client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Versions", []):
                    found.append(Version(item["Key"], item["VersionId"], item["LastModified"], item.get("IsLatest", False),
                                         False, item.get("ETag", ""), int(item.get("Size", 0))))
                for item in page.get("DeleteMarkers", []):
                    found.append(Version(item["Key"], item["VersionId"], item["LastModified"], item.get("IsLatest", False),
                                         True))
        except (ClientError, BotoCoreError) as error:
            self.fail(error, f"listing the object versions of s3://{self.bucket}/{self.prefix}")
        return found

    def target_objects(self) -> dict[str, Current] | None:
        if self.target_bucket is None:
            return None
        objects: dict[str, Current] = {}
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.target_bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    objects[item["Key"]] = Current(item["Key"], item.get("ETag", ""), int(item.get("Size", 0)))
        except (ClientError, BotoCoreError) as error:
            self.fail(error, f"listing s3://{self.target_bucket}/{self.prefix}")
        return objects

    @property
    def destination(self) -> str:
        return self.target_bucket or self.bucket

    def _copy(self, change: Change) -> None:
        source = {"Bucket": self.bucket, "Key": change.key, "VersionId": change.version_id}
        if change.size > COPY_OBJECT_LIMIT:
            self.client.copy(source, self.destination, change.key)  # managed multipart copy
        else:
            self.client.copy_object(Bucket=self.destination, Key=change.key, CopySource=source, **self.retry)

    def _delete(self, bucket: str, objects: list[dict[str, str]]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(objects), DELETE_BATCH):
            batch = objects[start:start + DELETE_BATCH]
            response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}, **self.retry)
            failed.extend(f"{error.get('Key')}: {error.get('Code')} {error.get('Message', '')}".strip()
                          for error in response.get("Errors", []))
        return failed

    def apply(self, plan: Plan) -> None:
        failures: list[str] = []
        markers = [{"Key": change.key, "VersionId": marker} for change in plan.changes if change.action == UNDELETE
                   for marker in change.markers]
        deletes = [{"Key": change.key} for change in plan.changes if change.action == DELETE]
        copies = [change for change in plan.changes if change.action in (ROLL_BACK, RESTORE)]
        try:
            if markers:
                failures.extend(self._delete(self.bucket, markers))
            if copies:
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    for change, error in zip(copies, pool.map(self._copy_catching, copies)):
                        if error:
                            failures.append(f"{change.key} (version {change.version_id}): {error}")
            if deletes:
                failures.extend(self._delete(self.destination, deletes))
        except (ClientError, BotoCoreError) as error:
            self.fail(error, f"restoring s3://{self.bucket}/{self.prefix}")
        if failures:
            raise S3RestoreFailed(
                f"{len(failures)} of {len(plan.changes)} changes to s3://{self.destination}/{self.prefix} failed: "
                + "; ".join(failures[:10])
                + ". The others were made; run the task again (it only does what is still missing)",
                failures=failures,
            )

    def _copy_catching(self, change: Change) -> str | None:
        try:
            self._copy(change)
        except (ClientError, BotoCoreError) as error:
            return f"{error_code(error)}: {error}"
        return None


def s3_restore(restore: S3Restore, restore_time: datetime, *, delete_newer: bool, check_mode: bool,
               diff: bool, allow_permanent_delete: bool = False, clock: Clock = utc_now) -> dict[str, t.Any]:
    if restore_time > clock():
        raise ConfigurationError(f"restore_time {format_time(restore_time)} is in the future")
    restore.check_versioning()
    if restore.target_bucket is not None:
        try:
            restore.client.head_bucket(Bucket=restore.target_bucket, **restore.retry)
        except (ClientError, BotoCoreError) as error:
            restore.fail(error, f"finding the target bucket {restore.target_bucket}")
    if delete_newer:
        # Checked before anything is planned or written, in check mode too: the real run would refuse.
        restore.check_deletes_recoverable(allow_permanent_delete)
    plan = plan_changes(restore.versions(), restore_time, current=restore.target_objects(), delete_newer=delete_newer)
    result: dict[str, t.Any] = {
        "changed": bool(plan.changes), "bucket": restore.bucket, "prefix": restore.prefix,
        "target_bucket": restore.destination, "restore_time": format_time(restore_time),
        "changes": [change.as_dict() for change in plan.changes], "newer_kept": plan.newer_kept,
        "summary": plan.counts(),
    }
    if diff:
        result["diff"] = {
            "before_header": f"s3://{restore.destination}/{restore.prefix} (now)",
            "after_header": f"s3://{restore.destination}/{restore.prefix} (as at {format_time(restore_time)})",
            "before": "".join(f"{change.key} {change.current}\n" for change in plan.changes if change.current),
            "after": "".join(f"{change.key} {change.version_id}\n" for change in plan.changes if change.version_id),
        }
    if plan.changes and not check_mode:
        restore.apply(plan)
    return result
