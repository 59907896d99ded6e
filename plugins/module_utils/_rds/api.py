# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon RDS: manual snapshots, cross-region copies, restores and replica promotion.

The modules rds_snapshot, rds_snapshot_prune, rds_backup_info and rds_restore
are thin; what they do is in this package (snapshot, retention,
recovery_point, restore), on the Rds wrapper here, as a plan (what would
change, computed from what RDS reports now) and its application. The clients come from _aws.clients.aws_client
(the project's retry policy), so every call passes aws_retry=True and throttling is retried with jitter.

RDS does not remember where an instance was restored from, so rds_restore
tags the instances it creates (RESTORED_FROM_TAG, RESTORE_TIME_TAG); a later
run reads the tags to decide whether the instance already is the restore it
was asked for.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import (
    BotoCoreError,
    ClientError,
    error_code,
    error_message,
    failure,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import (
    Clock,
    Stopwatch,
    format_time,
    parse_time,
    utc_now,
    wait_for,
)

RESTORED_FROM_TAG = "resilience.dr:restored-from"
RESTORE_TIME_TAG = "resilience.dr:restore-time"
OUR_TAGS = (RESTORED_FROM_TAG, RESTORE_TIME_TAG)

# The tags the backup role gives every snapshot it takes and every copy it makes (rds_snapshot's tags option):
# they name the snapshots of one component of one plan, the only ones retention may delete.
PLAN_TAG = "resilience-dr-plan"
COMPONENT_TAG = "resilience-dr-component"

# Statuses from which an instance never becomes available without someone acting.
INSTANCE_FAILED = frozenset({
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-credentials",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "storage-full",
    "deleting",
    "delete-precheck",
})
SNAPSHOT_FAILED = frozenset({"failed", "error"})

NOT_FOUND = {
    "instance": ("DBInstanceNotFound", "DBInstanceNotFoundFault"),
    "snapshot": ("DBSnapshotNotFound", "DBSnapshotNotFoundFault"),
    "cluster": ("DBClusterNotFoundFault", "DBClusterNotFound"),
    "cluster_snapshot": ("DBClusterSnapshotNotFoundFault", "DBClusterSnapshotNotFound"),
}
KMS_ERRORS = ("KMSKeyNotAccessibleFault", "KMSKeyNotAccessible", "InvalidKMSKey")


def tags_to_dict(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item.get("Value", "") for item in tag_list or []}


def tags_to_list(tags: dict[str, t.Any]) -> list[dict[str, str]]:
    return [{"Key": str(key), "Value": "" if value is None else str(value)} for key, value in sorted(tags.items())]


def component_tags(plan: str, component: str) -> dict[str, str]:
    """The tags of the snapshots (and copies) the backup role takes of component for plan."""
    return {PLAN_TAG: plan, COMPONENT_TAG: component}


def carries(snapshot: dict[str, t.Any], tags: dict[str, str]) -> bool:
    """Whether the snapshot has every one of tags with the same value."""
    found = tags_to_dict(snapshot.get("TagList"))
    return all(found.get(key) == value for key, value in tags.items())


def newest_tagged(
    snapshots: t.Iterable[dict[str, t.Any]], tags: dict[str, str], id_key: str,
    taken: t.Callable[[dict[str, t.Any]], datetime | None], not_after: datetime | None = None,
) -> tuple[dict[str, t.Any] | None, str]:
    """The available snapshot carrying all of tags whose data is the newest (taken at or before not_after), or None;
    and, for the message when there is none, each snapshot carrying the tags with its status and when it was taken.

    id_key names a snapshot (DBSnapshotIdentifier, DBClusterSnapshotIdentifier) and breaks ties; taken gives when
    its data was taken (a cross-region copy counts from its source's time).
    """
    tagged = [snapshot for snapshot in snapshots if carries(snapshot, tags)]
    usable = [snapshot for snapshot in tagged if snapshot.get("Status") == "available" and taken(snapshot)
              and (not_after is None or t.cast(datetime, taken(snapshot)) <= not_after)]
    if usable:
        return max(usable, key=lambda snapshot: (taken(snapshot), str(snapshot.get(id_key)))), ""

    def when(snapshot: dict[str, t.Any]) -> str:
        moment = taken(snapshot)
        return format_time(moment) if moment is not None else "at an unknown time"

    return None, "; ".join(f"{snapshot.get(id_key)} ({snapshot.get('Status')}, taken {when(snapshot)})"
                           for snapshot in tagged) or "none"


def _time(value: t.Any) -> str | None:
    if isinstance(value, datetime):
        return format_time(value)
    return None if value is None else str(value)


class Rds:
    """One region's RDS API, with errors that say what failed and what to do."""

    def __init__(self, client: t.Any, region: str, iam_hint: str) -> None:
        self.client = client
        self.region = region
        self.iam_hint = iam_hint

    def call(self, what: str, method: str, missing: str | None = None, **kwargs: t.Any) -> t.Any:
        """Call method; a NotFound of kind `missing` returns None, other failures raise DrError."""
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except ClientError as error:
            code = error_code(error)
            if missing and code in NOT_FOUND[missing]:
                return None
            if code in KMS_ERRORS:
                raise ConfigurationError(
                    f"RDS in {self.region} failed to {what}: {code}: {error_message(error)}; kms_key_id must name a "
                    f"KMS key in {self.region} that these credentials may use (kms:CreateGrant, kms:DescribeKey)"
                ) from None
            raise failure(error, f"RDS in {self.region}", what, self.iam_hint) from None
        except BotoCoreError as error:
            raise failure(error, f"RDS in {self.region}", what, self.iam_hint) from None

    def instance(self, identifier: str) -> dict[str, t.Any] | None:
        found = self.call(
            f"describe DB instance {identifier}", "describe_db_instances", missing="instance",
            DBInstanceIdentifier=identifier,
        )
        items = (found or {}).get("DBInstances") or []
        return items[0] if items else None

    def snapshot(self, identifier: str) -> dict[str, t.Any] | None:
        found = self.call(
            f"describe DB snapshot {identifier}", "describe_db_snapshots", missing="snapshot",
            DBSnapshotIdentifier=identifier,
        )
        items = (found or {}).get("DBSnapshots") or []
        return items[0] if items else None

    def snapshots(self) -> list[dict[str, t.Any]]:
        """Every DB snapshot of the region (manual, automated and copies), page by page."""
        found: list[dict[str, t.Any]] = []
        marker: str | None = None
        while True:
            page = self.call("list the DB snapshots", "describe_db_snapshots", MaxRecords=100,
                             **({"Marker": marker} if marker else {}))
            found.extend((page or {}).get("DBSnapshots") or [])
            marker = (page or {}).get("Marker")
            if not marker:
                return found


def snapshot_time(snapshot: dict[str, t.Any]) -> datetime | None:
    """When the snapshot's data was taken: a copy keeps its source's time (OriginalSnapshotCreateTime)."""
    for key in ("OriginalSnapshotCreateTime", "SnapshotCreateTime"):
        value = snapshot.get(key)
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc)
    return None


# ---------------------------------------------------------------------------
# Facts returned to the user


def snapshot_facts(snapshot: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if snapshot is None:
        return None
    return {
        "db_snapshot_identifier": snapshot.get("DBSnapshotIdentifier"),
        "db_snapshot_arn": snapshot.get("DBSnapshotArn"),
        "db_instance_identifier": snapshot.get("DBInstanceIdentifier"),
        "region": region,
        "status": snapshot.get("Status"),
        "snapshot_type": snapshot.get("SnapshotType"),
        "snapshot_create_time": _time(snapshot.get("SnapshotCreateTime")),
        "original_snapshot_create_time": _time(snapshot.get("OriginalSnapshotCreateTime")),
        "engine": snapshot.get("Engine"),
        "engine_version": snapshot.get("EngineVersion"),
        "allocated_storage": snapshot.get("AllocatedStorage"),
        "encrypted": bool(snapshot.get("Encrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "percent_progress": snapshot.get("PercentProgress"),
        "source_db_snapshot_identifier": snapshot.get("SourceDBSnapshotIdentifier"),
        "tags": tags_to_dict(snapshot.get("TagList")),
    }


def instance_facts(instance: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if instance is None:
        return None
    endpoint = instance.get("Endpoint") or {}
    return {
        "db_instance_identifier": instance.get("DBInstanceIdentifier"),
        "db_instance_arn": instance.get("DBInstanceArn"),
        "region": region,
        "status": instance.get("DBInstanceStatus"),
        "engine": instance.get("Engine"),
        "engine_version": instance.get("EngineVersion"),
        "db_instance_class": instance.get("DBInstanceClass"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "multi_az": instance.get("MultiAZ"),
        "db_subnet_group_name": (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "vpc_security_group_ids": [group.get("VpcSecurityGroupId") for group in instance.get("VpcSecurityGroups") or []],
        "db_parameter_group_names": [group.get("DBParameterGroupName") for group in instance.get("DBParameterGroups") or []],
        "storage_encrypted": instance.get("StorageEncrypted"),
        "kms_key_id": instance.get("KmsKeyId"),
        "latest_restorable_time": _time(instance.get("LatestRestorableTime")),
        "read_replica_source_db_instance_identifier": instance.get("ReadReplicaSourceDBInstanceIdentifier"),
        "tags": tags_to_dict(instance.get("TagList")),
    }


# ---------------------------------------------------------------------------
# Waiting, with the status changes recorded


class Progress:
    """The status changes seen while waiting, each with the seconds since the operation began."""

    def __init__(self, stopwatch: Stopwatch | None = None) -> None:
        self.stopwatch = stopwatch or Stopwatch()
        self.events: list[dict[str, t.Any]] = []

    def saw(self, resource: str, status: str | None) -> None:
        last = next((event for event in reversed(self.events) if event["resource"] == resource), None)
        if last is None or last["status"] != status:
            self.events.append({"resource": resource, "status": status, "at_s": self.stopwatch.elapsed()})

    def history(self, resource: str) -> str:
        steps = [f"{event['status']} at {event['at_s']:g}s" for event in self.events if event["resource"] == resource]
        return " -> ".join(steps) or "no status read"


def wait_until(
    read: t.Callable[[], dict[str, t.Any] | None],
    *,
    resource: str,
    status_key: str,
    wanted: t.Callable[[dict[str, t.Any] | None], bool],
    failed: frozenset[str],
    timeout: float,
    progress: Progress,
    hint: str,
    interval: float = 2.0,
    max_interval: float = 15.0,
) -> dict[str, t.Any] | None:
    """Poll read() until wanted(item); a failed status ends the wait at once."""
    outcome: dict[str, t.Any] = {}

    def probe() -> bool | None:
        item = read()
        status = None if item is None else item.get(status_key)
        progress.saw(resource, status if item is not None else "gone")
        if item is not None and status in failed:
            raise DrError(
                f"{resource} is {status} (status history: {progress.history(resource)}); it will not become "
                f"available by waiting. {hint}",
                progress=progress.events,
            )
        if wanted(item):
            outcome["item"] = item
            return True
        return None

    try:
        wait_for(probe, timeout=timeout, what=resource, interval=interval, max_interval=max_interval)
    except WaitTimeout:
        last = next((event["status"] for event in reversed(progress.events) if event["resource"] == resource), None)
        advice = " It is stopped: start it (aws rds start-db-instance) or run again later." if last == "stopped" else ""
        raise WaitTimeout(
            f"{resource} did not become ready within wait_timeout {timeout:g}s; it is {last} (status history: "
            f"{progress.history(resource)}).{advice} {hint}",
            progress=progress.events,
        ) from None
    return outcome.get("item")


def kms_key_matches(wanted: str, actual: str | None) -> bool | None:
    """Whether a snapshot's KmsKeyId is the key the user named; None when an alias cannot be compared."""
    if not actual:
        return False
    if wanted.startswith("alias/") or ":alias/" in wanted:
        return None
    if wanted.startswith("arn:"):
        return wanted == actual
    return actual == wanted or actual.endswith("/" + wanted)


# ---------------------------------------------------------------------------
# Point-in-time window


def restorable_window(rds: Rds, instance: dict[str, t.Any], clock: Clock = utc_now) -> tuple[datetime, datetime]:
    """(earliest, latest) time the instance can be restored to.

    The latest is the instance's LatestRestorableTime. The earliest is the
    automated backups' RestoreWindow when RDS reports it, else the later of the
    instance's creation and now minus its backup retention period.
    """
    identifier = instance["DBInstanceIdentifier"]
    retention = int(instance.get("BackupRetentionPeriod") or 0)
    if retention == 0:
        raise ConfigurationError(
            f"DB instance {identifier} in {rds.region} keeps no automated backups (backup retention period 0), so it "
            f"cannot be restored to a point in time; restore from a snapshot (source: snapshot) instead"
        )
    latest = instance.get("LatestRestorableTime")
    if not isinstance(latest, datetime):
        raise ConfigurationError(
            f"DB instance {identifier} in {rds.region} reports no latest restorable time yet (a new instance has "
            f"none until its first automated backup); restore from a snapshot or try again later"
        )
    now = clock()
    earliest: datetime | None = None
    listed = rds.call(
        f"describe the automated backups of {identifier}", "describe_db_instance_automated_backups",
        DBInstanceIdentifier=identifier,
    )
    for backup in listed.get("DBInstanceAutomatedBackups") or []:
        window_start = (backup.get("RestoreWindow") or {}).get("EarliestTime")
        if isinstance(window_start, datetime):
            earliest = window_start if earliest is None else min(earliest, window_start)
    if earliest is None:
        created = instance.get("InstanceCreateTime")
        earliest = now - timedelta(days=retention)
        if isinstance(created, datetime):
            earliest = max(earliest, created)
    return earliest.astimezone(timezone.utc), latest.astimezone(timezone.utc)


def check_restore_time(identifier: str, region: str, moment: datetime, window: tuple[datetime, datetime]) -> None:
    earliest, latest = window
    if earliest <= moment <= latest:
        return
    side = "before the earliest" if moment < earliest else "after the latest"
    raise ConfigurationError(
        f"restore_time {format_time(moment)} is outside the restorable window of DB instance {identifier} in "
        f"{region} ({format_time(earliest)} to {format_time(latest)}): it is {side} restorable time. Choose a time "
        f"inside the window, or use_latest_restorable_time: true",
        restorable_window={"earliest": format_time(earliest), "latest": format_time(latest)},
    )


def parse_restore_time(value: str) -> datetime:
    return parse_time(value, "restore_time")
