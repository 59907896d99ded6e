# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How old a region's newest recovery point is (rds_backup_info, rpo_check), with snapshot times
written relative to an injected clock, never to today's date."""

from __future__ import annotations

import typing as t
from datetime import timedelta

from ansible_collections.resilience.dr.plugins.module_utils._rds import recovery_point
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import NOW, clock
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.region_helpers import region, snap


def points(snapshots: list[dict[str, t.Any]], instances: dict[str, dict[str, t.Any]] | None = None,
           instance: str | None = "orders-db") -> dict[str, t.Any]:
    _fake, rds = region(snapshots, instances)
    return recovery_point.recovery_points(rds, plan="shopfront", component="orders-db", db_instance_identifier=instance,
                                          clock=clock)


def test_the_newest_of_our_snapshots_counts_from_when_its_data_was_taken():
    found = points([snap("orders-db-1", timedelta(hours=5), copied=timedelta(minutes=1)),
                    snap("orders-db-2", timedelta(hours=2), copied=timedelta(hours=1)),
                    snap("orders-db-3", timedelta(minutes=3), status="copying"),
                    snap("before-release", timedelta(minutes=1), tags={"reason": "pre-deploy"})])
    assert found["newest"] == {"kind": "snapshot", "identifier": "orders-db-2", "time": "2026-11-23T02:00:00Z",
                               "age_s": 7200}
    assert found["snapshots"] == 3 and found["available_snapshots"] == 2 and not found["instance_found"]


def test_the_instance_latest_restorable_time_and_automated_snapshots_count_where_it_is():
    instances = {"orders-db": {"DBInstanceIdentifier": "orders-db", "BackupRetentionPeriod": 7,
                               "LatestRestorableTime": NOW - timedelta(minutes=4)}}
    snapshots = [snap("orders-db-1", timedelta(hours=2)),
                 snap("rds:orders-db-2026-11-23-03-00", timedelta(hours=1), kind="automated", tags={})]
    found = points(snapshots, instances)
    assert found["newest"] == {"kind": "point_in_time", "identifier": "orders-db", "time": "2026-11-23T03:56:00Z",
                               "age_s": 240}
    assert found["points"]["automated_snapshot"]["age_s"] == 3600 and found["points"]["snapshot"]["age_s"] == 7200

    instances["orders-db"]["BackupRetentionPeriod"] = 0  # no automated backups: no point in time either
    assert points(snapshots, instances)["newest"]["kind"] == "automated_snapshot"
    assert points(snapshots, instances, instance=None)["newest"]["kind"] == "snapshot"


def test_a_region_without_recovery_point_has_no_newest():
    found = points([snap("before-release", timedelta(minutes=1), tags={"reason": "pre-deploy"})])
    assert found["newest"] is None and found["snapshots"] == 0
