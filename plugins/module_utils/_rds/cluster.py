# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aurora DB clusters as RDS reports them: reads, facts, the restorable window and the waits.

Snapshots of clusters are taken and copied with amazon.aws.rds_cluster_snapshot (it creates, copies with a KMS key,
tags and waits); what it lacks for a recovery, a new cluster restored to a point in time or from a cluster snapshot
together with the instances that make it usable, is cluster_restore.py, on the reads here.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    INSTANCE_FAILED,
    Progress,
    Rds,
    tags_to_dict,
    wait_until,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

# Statuses from which a cluster never becomes available without someone acting.
CLUSTER_FAILED = frozenset({
    "failed",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "incompatible-network",
    "incompatible-parameters",
    "incompatible-restore",
    "deleting",
})


def _time(value: t.Any) -> str | None:
    if isinstance(value, datetime):
        return format_time(value)
    return None if value is None else str(value)


def cluster(rds: Rds, identifier: str) -> dict[str, t.Any] | None:
    found = rds.call(f"describe DB cluster {identifier}", "describe_db_clusters", missing="cluster",
                     DBClusterIdentifier=identifier)
    items = (found or {}).get("DBClusters") or []
    return items[0] if items else None


def cluster_snapshot(rds: Rds, identifier: str) -> dict[str, t.Any] | None:
    found = rds.call(f"describe DB cluster snapshot {identifier}", "describe_db_cluster_snapshots",
                     missing="cluster_snapshot", DBClusterSnapshotIdentifier=identifier)
    items = (found or {}).get("DBClusterSnapshots") or []
    return items[0] if items else None


def cluster_snapshots(rds: Rds) -> list[dict[str, t.Any]]:
    """Every cluster snapshot of the region (manual and automated), page by page."""
    found: list[dict[str, t.Any]] = []
    marker: str | None = None
    while True:
        page = rds.call("list the DB cluster snapshots", "describe_db_cluster_snapshots", MaxRecords=100,
                        **({"Marker": marker} if marker else {}))
        found.extend((page or {}).get("DBClusterSnapshots") or [])
        marker = (page or {}).get("Marker")
        if not marker:
            return found


def cluster_snapshot_time(snapshot: dict[str, t.Any]) -> datetime | None:
    value = snapshot.get("SnapshotCreateTime")
    return value.astimezone(timezone.utc) if isinstance(value, datetime) else None


def cluster_snapshot_facts(snapshot: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if snapshot is None:
        return None
    return {
        "db_cluster_snapshot_identifier": snapshot.get("DBClusterSnapshotIdentifier"),
        "db_cluster_snapshot_arn": snapshot.get("DBClusterSnapshotArn"),
        "db_cluster_identifier": snapshot.get("DBClusterIdentifier"),
        "region": region,
        "status": snapshot.get("Status"),
        "snapshot_type": snapshot.get("SnapshotType"),
        "snapshot_create_time": _time(snapshot.get("SnapshotCreateTime")),
        "engine": snapshot.get("Engine"),
        "engine_version": snapshot.get("EngineVersion"),
        "storage_encrypted": bool(snapshot.get("StorageEncrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "tags": tags_to_dict(snapshot.get("TagList")),
    }


def cluster_facts(found: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if found is None:
        return None
    return {
        "db_cluster_identifier": found.get("DBClusterIdentifier"),
        "db_cluster_arn": found.get("DBClusterArn"),
        "region": region,
        "status": found.get("Status"),
        "engine": found.get("Engine"),
        "engine_version": found.get("EngineVersion"),
        "endpoint": found.get("Endpoint"),
        "reader_endpoint": found.get("ReaderEndpoint"),
        "port": found.get("Port"),
        "members": [member.get("DBInstanceIdentifier") for member in found.get("DBClusterMembers") or []],
        "storage_encrypted": found.get("StorageEncrypted"),
        "kms_key_id": found.get("KmsKeyId"),
        "earliest_restorable_time": _time(found.get("EarliestRestorableTime")),
        "latest_restorable_time": _time(found.get("LatestRestorableTime")),
        "tags": tags_to_dict(found.get("TagList")),
    }


def cluster_window(rds: Rds, found: dict[str, t.Any]) -> tuple[datetime, datetime]:
    """(earliest, latest) time the cluster can be restored to, as RDS reports them."""
    identifier = found.get("DBClusterIdentifier")
    earliest, latest = found.get("EarliestRestorableTime"), found.get("LatestRestorableTime")
    if not isinstance(earliest, datetime) or not isinstance(latest, datetime):
        raise ConfigurationError(
            f"DB cluster {identifier} in {rds.region} reports no restorable window yet (a new cluster has none until "
            f"its first automated backup); restore from a cluster snapshot (source: snapshot) or try again later"
        )
    return earliest.astimezone(timezone.utc), latest.astimezone(timezone.utc)


def check_cluster_time(identifier: str, region: str, moment: datetime, window: tuple[datetime, datetime]) -> None:
    earliest, latest = window
    if earliest <= moment <= latest:
        return
    side = "before the earliest" if moment < earliest else "after the latest"
    raise ConfigurationError(
        f"restore_time {format_time(moment)} is outside the restorable window of DB cluster {identifier} in "
        f"{region} ({format_time(earliest)} to {format_time(latest)}): it is {side} restorable time. Choose a time "
        f"inside the window, or use_latest_restorable_time: true",
        restorable_window={"earliest": format_time(earliest), "latest": format_time(latest)},
    )


def wait_cluster(rds: Rds, identifier: str, timeout: float, progress: Progress, interval: float) -> dict[str, t.Any] | None:
    return wait_until(
        lambda: cluster(rds, identifier), resource=f"DB cluster {identifier} in {rds.region}", status_key="Status",
        wanted=lambda found: found is not None and found.get("Status") == "available", failed=CLUSTER_FAILED,
        timeout=timeout, progress=progress, interval=interval,
        hint="Run again with a longer wait_timeout to keep waiting (the restore is not repeated), or look at the "
             "cluster's events (aws rds describe-events --source-type db-cluster --source-identifier " + identifier + ").",
    )


def wait_instance(rds: Rds, identifier: str, timeout: float, progress: Progress, interval: float) -> dict[str, t.Any] | None:
    return wait_until(
        lambda: rds.instance(identifier), resource=f"DB instance {identifier} in {rds.region}",
        status_key="DBInstanceStatus",
        wanted=lambda found: found is not None and found.get("DBInstanceStatus") == "available",
        failed=INSTANCE_FAILED, timeout=timeout, progress=progress, interval=interval,
        hint="Run again with a longer wait_timeout to keep waiting (the instance is not created twice).",
    )
