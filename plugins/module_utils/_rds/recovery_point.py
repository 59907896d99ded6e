# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_backup_info: the newest point an rds component can be restored to in one region, and its age.

A region offers a component up to three kinds of recovery point, as the
recovery levels use them (rds_recovery: point_in_time where the instance
is, else the newest snapshot carrying the component's tags):

- the manual snapshots the backup role took, and the copies it made into the
  region, found by the tags component_tags (plan, component);
- with the instance (db_instance_identifier) in the region: its automated
  snapshots, and its latest restorable time when it keeps automated backups
  (point-in-time recovery).

Only available snapshots count; a snapshot's time is when its data was
taken (a copy counts from its source). The age is measured with the clock
given (the module's is the system's), so tests inject theirs.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    Rds,
    carries,
    component_tags,
    snapshot_time,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

IAM_HINT = (
    "rds_backup_info needs rds:DescribeDBSnapshots and rds:DescribeDBInstances in every region it reads "
    "(see docs/rds.md)"
)


def _point(kind: str, identifier: str, moment: datetime, now: datetime) -> dict[str, t.Any]:
    return {"kind": kind, "identifier": identifier, "time": format_time(moment),
            "age_s": int((now - moment).total_seconds())}


def _newest(snapshots: t.Iterable[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    usable = [item for item in snapshots if item.get("Status") == "available" and snapshot_time(item) is not None]
    if not usable:
        return None
    return max(usable, key=lambda item: (snapshot_time(item), str(item.get("DBSnapshotIdentifier"))))


def recovery_points(
    rds: Rds, *, plan: str, component: str, db_instance_identifier: str | None = None, clock: Clock = utc_now,
) -> dict[str, t.Any]:
    """The newest recovery point of each kind in the region, and the newest of all (newest), with ages."""
    tags = component_tags(plan, component)
    snapshots = rds.snapshots()
    ours = [item for item in snapshots if item.get("SnapshotType") == "manual" and carries(item, tags)]
    instance_id = (db_instance_identifier or "").lower()
    automated = [
        item for item in snapshots
        if instance_id and item.get("SnapshotType") == "automated"
        and str(item.get("DBInstanceIdentifier") or "").lower() == instance_id
    ]
    instance = rds.instance(instance_id) if instance_id else None
    now = clock()
    points: dict[str, dict[str, t.Any] | None] = {"snapshot": None, "automated_snapshot": None, "point_in_time": None}
    newest_ours = _newest(ours)
    if newest_ours is not None:
        points["snapshot"] = _point("snapshot", str(newest_ours["DBSnapshotIdentifier"]),
                                    t.cast(datetime, snapshot_time(newest_ours)), now)
    newest_automated = _newest(automated)
    if newest_automated is not None:
        points["automated_snapshot"] = _point("automated_snapshot", str(newest_automated["DBSnapshotIdentifier"]),
                                              t.cast(datetime, snapshot_time(newest_automated)), now)
    latest = (instance or {}).get("LatestRestorableTime")
    if instance is not None and int(instance.get("BackupRetentionPeriod") or 0) > 0 and isinstance(latest, datetime):
        points["point_in_time"] = _point("point_in_time", instance_id, latest.astimezone(timezone.utc), now)
    found = [point for point in points.values() if point is not None]
    newest = max(found, key=lambda point: (-point["age_s"], point["kind"])) if found else None
    return {
        "region": rds.region,
        "tags": tags,
        "db_instance_identifier": instance_id or None,
        "instance_found": instance is not None,
        "snapshots": len(ours),
        "available_snapshots": sum(1 for item in ours if item.get("Status") == "available"),
        "newest": newest,
        "points": points,
    }
