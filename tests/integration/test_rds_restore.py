# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_restore through ansible-playbook against the lab's moto server.

Outcomes are checked with the RDS API directly. moto creates instances
"available" at once and never passes through "creating" or "backing-up", so
waiting through those statuses is covered by unit tests with a scripted
client (tests/unit/plugins/module_utils/_rds/test_api.py and test_restore.py);
here the wait is exercised against an instance moto really reports as "stopped".
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from . import rds_common
from .rds_common import instance_of, snapshot_of, tags_of, unique

# Fixtures shared by the RDS tests.
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

MODULE = "resilience.dr.rds_restore"
RESTORED_FROM = "resilience.dr:restored-from"
RESTORE_TIME = "resilience.dr:restore-time"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def succeeded(result: dict, changed: bool) -> dict:
    assert not result["failed"], result.get("msg", result)
    assert result["changed"] is changed, result
    return result


def test_restore_from_snapshot_is_idempotent_and_refuses_another_source_unless_replace(ansible, aws, rds, instance, cleanup):
    first, second = unique("nightly"), unique("pre-deploy")
    target = unique("orders-db-restored")
    cleanup.snapshots += [(aws["region"], first), (aws["region"], second)]
    cleanup.instances.append((aws["region"], target))
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=first)
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=second)
    args = {**aws, "source": "snapshot", "db_snapshot_identifier": first, "db_instance_identifier": target,
            "db_instance_class": "db.t3.small", "multi_az": True, "tags": {"incident": "INC-4711"}}
    other = {**aws, "source": "snapshot", "db_snapshot_identifier": second, "db_instance_identifier": target}

    planned, applied, again, planned_again, refused = ansible.sequence([
        (MODULE, args, {"check": True, "diff": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
        (MODULE, other),
    ])
    succeeded(planned, True)
    assert planned["action"] == "restore" and planned["endpoint"] is None and planned["instance"] is None
    assert planned["diff"]["before"] == {}

    # The apply after check mode restores: check mode created nothing.
    succeeded(applied, True)
    assert applied["action"] == "restore"
    assert applied["endpoint"] == f"{target}.aaaaaaaaaa.{aws['region']}.rds.amazonaws.com" and applied["port"] == 5432
    assert applied["arn"].endswith(f":db:{target}") and applied["status"] == "available"
    assert applied["restored_from"]["source"] == "snapshot" and applied["restored_from"]["db_snapshot_identifier"] == first
    assert applied["progress"][-1]["status"] == "available" and "duration_s" in applied

    for result in (again, planned_again):
        succeeded(result, False)
        assert result["action"] == "none" and result["endpoint"] == applied["endpoint"], result
        assert result["restored_from"]["db_snapshot_identifier"] == first

    assert refused["failed"] and not refused["changed"], refused
    assert (f"DB instance {target} exists in {aws['region']} and was restored from DB snapshot {first}, "
            f"not from DB snapshot {second}") in refused["msg"]
    assert "replace: true" in refused["msg"]

    # moto names an instance's automated snapshot rds:<instance>-<minute> and keeps it when the instance is
    # deleted (the module keeps automated backups), so a new instance of the same name within the same minute
    # would collide with it there; RDS has no such clash. Remove moto's one before replacing.
    for item in rds.describe_db_snapshots(DBInstanceIdentifier=target, SnapshotType="automated")["DBSnapshots"]:
        rds.delete_db_snapshot(DBSnapshotIdentifier=item["DBSnapshotIdentifier"])
    replaced = ansible.module(MODULE, {**other, "replace": True})
    succeeded(replaced, True)
    assert replaced["action"] == "replace"
    final = replaced["final_db_snapshot_identifier"]
    cleanup.snapshots.append((aws["region"], final))
    assert final.startswith(f"{target}-final-") and snapshot_of(rds, final)["DBInstanceIdentifier"] == target
    stored = instance_of(rds, target)
    assert tags_of(rds, stored["DBInstanceArn"])[RESTORED_FROM] == f"snapshot:{second}"


def test_point_in_time_restore_to_a_time_and_to_the_latest(ansible, aws, rds, instance, cleanup):
    created = instance_of(rds, instance)["InstanceCreateTime"]
    time.sleep(1.5)
    moment = iso(created + timedelta(seconds=1))
    to_time, to_latest = unique("orders-db-pitr"), unique("orders-db-latest")
    cleanup.instances += [(aws["region"], to_time), (aws["region"], to_latest)]
    args = {**aws, "source": "point_in_time", "source_db_instance_identifier": instance, "restore_time": moment,
            "db_instance_identifier": to_time}
    latest = {**aws, "source": "point_in_time", "source_db_instance_identifier": instance,
              "use_latest_restorable_time": True, "db_instance_identifier": to_latest}
    yesterday = iso(datetime.now(timezone.utc) - timedelta(days=1))
    tomorrow = iso(datetime.now(timezone.utc) + timedelta(days=1))
    outside = unique("orders-db-too-early")

    planned, applied, again, planned_again, newest, newest_again, other_time, too_early, too_late = ansible.sequence([
        (MODULE, args, {"check": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
        (MODULE, latest),
        (MODULE, latest),
        (MODULE, {**args, "restore_time": iso(created + timedelta(seconds=1.2))}),
        (MODULE, {**args, "restore_time": yesterday, "db_instance_identifier": outside}),
        (MODULE, {**args, "restore_time": tomorrow, "db_instance_identifier": outside}),
    ])
    succeeded(planned, True)
    assert planned["restorable_window"]["earliest"] <= moment <= planned["restorable_window"]["latest"]

    succeeded(applied, True)
    assert applied["restored_from"] == {"source": "point_in_time", "source_db_instance_identifier": instance,
                                        "restore_time": moment, "db_snapshot_identifier": None}
    stored = instance_of(rds, to_time)
    assert stored["DBInstanceStatus"] == "available" and applied["endpoint"] == stored["Endpoint"]["Address"]
    assert tags_of(rds, stored["DBInstanceArn"])[RESTORE_TIME] == moment
    for result in (again, planned_again):
        succeeded(result, False)
        assert result["action"] == "none"

    succeeded(newest, True)
    assert newest["restored_from"]["restore_time"] >= moment
    succeeded(newest_again, False)
    assert newest_again["restored_from"]["restore_time"] == newest["restored_from"]["restore_time"]

    assert other_time["failed"], other_time
    assert f"DB instance {to_time} exists in {aws['region']} and was restored from DB instance {instance} at {moment}" in other_time["msg"]

    for result, side in ((too_early, "before the earliest"), (too_late, "after the latest")):
        assert result["failed"] and not result["changed"], result
        assert f"is outside the restorable window of DB instance {instance} in {aws['region']} (" in result["msg"], result
        assert side in result["msg"]
        assert result["restorable_window"]["earliest"] in result["msg"]
    assert instance_of(rds, outside) is None


def test_read_replica_is_promoted_once(ansible, aws, rds, instance, cleanup):
    replica = unique("orders-db-replica")
    cleanup.instances.append((aws["region"], replica))
    rds.create_db_instance_read_replica(DBInstanceIdentifier=replica, SourceDBInstanceIdentifier=instance)
    # moto refuses to stop a read replica, as RDS does: the independent proof of promotion below.
    with pytest.raises(rds.exceptions.ClientError):
        rds.stop_db_instance(DBInstanceIdentifier=replica)
    args = {**aws, "source": "replica", "db_instance_identifier": replica, "source_db_instance_identifier": instance}

    planned, promoted, again, planned_again, wrong_source, primary = ansible.sequence([
        (MODULE, args, {"check": True}),
        (MODULE, {**args, "tags": {"incident": "INC-4711"}}),
        (MODULE, args),
        (MODULE, args, {"check": True}),
        (MODULE, {**args, "source_db_instance_identifier": "orders-db-elsewhere"}),
        (MODULE, {**aws, "source": "replica", "db_instance_identifier": instance}),
    ])
    succeeded(planned, True)
    assert planned["action"] == "promote" and planned["endpoint"] == f"{replica}.aaaaaaaaaa.{aws['region']}.rds.amazonaws.com"
    succeeded(promoted, True)
    assert promoted["restored_from"]["source"] == "replica"
    assert promoted["restored_from"]["source_db_instance_identifier"] == instance
    for result in (again, planned_again):
        succeeded(result, False)
        assert result["action"] == "none"

    stored = instance_of(rds, replica)
    assert tags_of(rds, stored["DBInstanceArn"]) == {"incident": "INC-4711", RESTORED_FROM: f"replica:{instance}"}
    rds.stop_db_instance(DBInstanceIdentifier=replica)  # a standalone instance can be stopped
    rds.start_db_instance(DBInstanceIdentifier=replica)

    assert wrong_source["failed"], wrong_source
    assert f"was promoted from a read replica of {instance}, not of orders-db-elsewhere" in wrong_source["msg"]
    # The primary is not a replica: nothing to promote, nothing changed.
    succeeded(primary, False)
    assert primary["action"] == "none" and "not a read replica" in primary["plan"]


def test_wait_timeout_names_the_status_and_a_later_run_waits_again_without_restoring(ansible, aws, rds, instance, cleanup):
    snapshot, target = unique("nightly"), unique("orders-db-stopped")
    cleanup.snapshots.append((aws["region"], snapshot))
    cleanup.instances.append((aws["region"], target))
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=snapshot)
    args = {**aws, "source": "snapshot", "db_snapshot_identifier": snapshot, "db_instance_identifier": target}

    # An instance restored by an earlier run (tagged as the module tags it) that is not available: moto's only
    # status besides "available" is "stopped".
    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=target, DBSnapshotIdentifier=snapshot,
        Tags=[{"Key": RESTORED_FROM, "Value": f"snapshot:{snapshot}"}],
    )
    rds.stop_db_instance(DBInstanceIdentifier=target)
    timed_out = ansible.module(MODULE, {**args, "wait_timeout": 3})
    assert timed_out["failed"] and not timed_out["changed"], timed_out
    assert f"DB instance {target} in {aws['region']} did not become ready within wait_timeout 3s; it is stopped" in timed_out["msg"]
    assert "start it" in timed_out["msg"]
    assert {event["status"] for event in timed_out["progress"]} == {"stopped"}
    assert timed_out["db_instance_identifier"] == target
    assert instance_of(rds, target)["DBInstanceStatus"] == "stopped"


def test_missing_sources_are_named_and_nothing_is_created(ansible, aws, rds, cleanup):
    target = unique("orders-db-restored")
    missing_snapshot, missing_instance = unique("no-such-snapshot"), unique("no-such-db")
    no_snapshot, no_source, no_replica, mixed = ansible.sequence([
        (MODULE, {**aws, "source": "snapshot", "db_snapshot_identifier": missing_snapshot, "db_instance_identifier": target}),
        (MODULE, {**aws, "source": "point_in_time", "source_db_instance_identifier": missing_instance,
                  "use_latest_restorable_time": True, "db_instance_identifier": target}),
        (MODULE, {**aws, "source": "replica", "db_instance_identifier": missing_instance}),
        (MODULE, {**aws, "source": "snapshot", "db_snapshot_identifier": missing_snapshot, "db_instance_identifier": target,
                  "restore_time": "2026-11-23T03:58:00Z"}),
    ])
    assert no_snapshot["failed"] and f"DB snapshot {missing_snapshot} not found in {aws['region']}" in no_snapshot["msg"]
    assert no_source["failed"] and f"DB instance {missing_instance} not found in {aws['region']}" in no_source["msg"]
    assert no_replica["failed"] and "there is no read replica to promote" in no_replica["msg"]
    assert mixed["failed"] and "restore_time and use_latest_restorable_time apply to source point_in_time" in mixed["msg"]
    assert instance_of(rds, target) is None
