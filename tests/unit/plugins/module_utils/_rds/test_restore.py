# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_restore's plans: a point in time, a replica promoted, the newest snapshot carrying the
component's tags (a site away from the primary region), with a scripted client."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, TargetNotEmpty
from ansible_collections.resilience.dr.plugins.module_utils._rds import restore
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import RESTORE_TIME_TAG, RESTORED_FROM_TAG, Progress
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import NOW, FakeRds, clock, instance, rds_of, snap


def test_a_failed_status_ends_the_wait_at_once(fake):
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr")
    fake.statuses["orders-db-pitr"] = ["creating", "incompatible-restore"]
    request = restore.RestoreRequest(source="snapshot", db_instance_identifier="orders-db-pitr", wait_timeout=60, poll_interval=0.01)
    with pytest.raises(DrError, match="is incompatible-restore .*it will not become available by waiting"):
        restore.wait_available(rds_of(fake), request, Progress())


def pitr_request(**extra: t.Any) -> restore.RestoreRequest:
    params = {"source": "point_in_time", "db_instance_identifier": "orders-db-pitr",
              "source_db_instance_identifier": "orders-db", "restore_time": "2026-11-23T03:00:00Z"}
    params.update(extra)
    return restore.RestoreRequest.from_params(params)


def test_point_in_time_restore_tags_the_new_instance_with_its_origin(fake):
    fake.instances["orders-db"] = instance("orders-db")
    fake.statuses["orders-db-pitr"] = []
    result = restore.run(rds_of(fake), pitr_request(wait=False), check_mode=False, diff=False, clock=clock)
    assert result["changed"] and result["action"] == "restore"
    kwargs = [call[1] for call in fake.calls if call[0] == "restore_db_instance_to_point_in_time"][0]
    assert kwargs["RestoreTime"] == datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    assert {"Key": RESTORED_FROM_TAG, "Value": "point_in_time:orders-db"} in kwargs["Tags"]
    assert {"Key": RESTORE_TIME_TAG, "Value": "2026-11-23T03:00:00Z"} in kwargs["Tags"]


def test_check_mode_changes_nothing_and_predicts_the_restore(fake):
    fake.instances["orders-db"] = instance("orders-db")
    result = restore.run(rds_of(fake), pitr_request(), check_mode=True, diff=True, clock=clock)
    assert result["changed"] and result["endpoint"] is None and fake.names() == []
    assert result["diff"]["before"] == {} and result["diff"]["after"]["restored_from"]["source"] == "point_in_time"


def test_same_origin_is_unchanged_and_another_is_refused_naming_both(fake):
    tags = [{"Key": RESTORED_FROM_TAG, "Value": "point_in_time:orders-db"}, {"Key": RESTORE_TIME_TAG, "Value": "2026-11-23T03:00:00Z"}]
    fake.instances["orders-db"] = instance("orders-db")
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr", TagList=tags)
    same = restore.run(rds_of(fake), pitr_request(), check_mode=False, diff=False, clock=clock)
    assert not same["changed"] and same["action"] == "none" and same["endpoint"] == "orders-db-pitr.rds"
    with pytest.raises(TargetNotEmpty, match="was restored from DB instance orders-db at 2026-11-23T03:00:00Z, not from "
                                             "DB instance orders-db at 2026-11-23T03:30:00Z"):
        restore.run(rds_of(fake), pitr_request(restore_time="2026-11-23T03:30:00Z"), check_mode=False, diff=False, clock=clock)
    assert fake.names() == []


def test_replace_keeps_a_final_snapshot_and_refuses_deletion_protection(fake):
    fake.instances["orders-db"] = instance("orders-db")
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr", DeletionProtection=True)
    with pytest.raises(TargetNotEmpty, match="has deletion protection"):
        restore.plan(rds_of(fake), pitr_request(replace=True), clock=clock)
    fake.instances["orders-db-pitr"]["DeletionProtection"] = False
    planned = restore.plan(rds_of(fake), pitr_request(replace=True), clock=clock)
    assert planned.action == "replace" and "with a final snapshot" in planned.reason

    class Deleting(FakeRds):
        def delete_db_instance(self, **kwargs):
            self._record("delete_db_instance", kwargs)
            del self.instances[kwargs["DBInstanceIdentifier"]]
            return {}

    deleting = Deleting()
    deleting.instances = fake.instances
    outcome = restore.apply(rds_of(deleting), pitr_request(replace=True), planned, Progress(), clock)
    kwargs = [call[1] for call in deleting.calls if call[0] == "delete_db_instance"][0]
    assert kwargs["SkipFinalSnapshot"] is False and kwargs["FinalDBSnapshotIdentifier"] == outcome["final_db_snapshot_identifier"]
    assert outcome["final_db_snapshot_identifier"] == "orders-db-pitr-final-20261123040000", "named by the clock given"
    assert kwargs["DeleteAutomatedBackups"] is False
    assert deleting.names() == ["delete_db_instance", "restore_db_instance_to_point_in_time"]


@pytest.mark.parametrize("params, message", [
    ({"source": "point_in_time"}, "exactly one of restore_time and use_latest_restorable_time"),
    ({"source": "point_in_time", "restore_time": "2026-11-23T03:00:00Z", "use_latest_restorable_time": True}, "exactly one"),
    ({"source": "snapshot", "use_latest_restorable_time": True}, "apply to source point_in_time, not to a snapshot"),
    ({"source": "snapshot", "db_snapshot_identifier": "x", "restore_time": "2026-11-23T03:00:00Z"}, "not to a snapshot"),
    ({"source": "snapshot"}, "exactly one of db_snapshot_identifier .* and snapshot_tags"),
    ({"source": "point_in_time", "use_latest_restorable_time": True, "snapshot_tags": {"a": "b"}}, "snapshot_tags applies to source snapshot"),
    ({"source": "point_in_time", "use_latest_restorable_time": True, "db_snapshot_identifier": "x"}, "applies to source snapshot"),
    ({"source": "replica", "multi_az": True, "db_instance_class": "db.r6g.large"}, "do not apply to it: db_instance_class, multi_az"),
])
def test_options_that_do_not_fit_the_source_are_refused(params, message):
    with pytest.raises(ConfigurationError, match=message):
        restore.check_options(params)
    restore.check_options({"source": "point_in_time", "use_latest_restorable_time": True})


def test_progress_starts_with_the_status_the_restore_call_answered(fake):
    fake.instances["orders-db"] = instance("orders-db")

    class Restoring(FakeRds):
        def restore_db_instance_to_point_in_time(self, **kwargs):
            self._record("restore_db_instance_to_point_in_time", kwargs)
            self.instances[kwargs["TargetDBInstanceIdentifier"]] = instance(kwargs["TargetDBInstanceIdentifier"])
            self.statuses[kwargs["TargetDBInstanceIdentifier"]] = ["creating", "backing-up", "available"]
            return {"DBInstance": {"DBInstanceStatus": "creating"}}

    restoring = Restoring()
    restoring.instances = fake.instances
    request = pitr_request()
    request.poll_interval = 0.01
    result = restore.run(rds_of(restoring), request, check_mode=False, diff=False, clock=clock)
    assert [event["status"] for event in result["progress"]] == ["creating", "backing-up", "available"]
    assert result["endpoint"] == "orders-db-pitr.rds" and result["status"] == "available"


def test_point_in_time_into_its_own_source_is_refused(fake):
    with pytest.raises(ConfigurationError, match="is the instance restored from"):
        restore.plan(rds_of(fake), pitr_request(db_instance_identifier="orders-db"), clock=clock)


def test_replica_is_promoted_then_tagged_and_a_standalone_instance_is_left_alone(fake):
    fake.instances["orders-db-replica"] = instance("orders-db-replica", ReadReplicaSourceDBInstanceIdentifier="orders-db")
    request = restore.RestoreRequest(source="replica", db_instance_identifier="orders-db-replica", poll_interval=0.01)
    result = restore.run(rds_of(fake), request, check_mode=False, diff=False, clock=clock)
    assert result["changed"] and fake.names() == ["promote_read_replica", "add_tags_to_resource"]
    tags = dict(fake.calls[-2][1]["Tags"][0].items())
    assert tags == {"Key": RESTORED_FROM_TAG, "Value": "replica:orders-db"}
    fake.instances["orders-db"] = instance("orders-db")
    standalone = restore.plan(rds_of(fake), restore.RestoreRequest(source="replica", db_instance_identifier="orders-db"), clock=clock)
    assert standalone.action == "none"


COMPONENT_TAGS = {"resilience-dr-plan": "shopfront", "resilience-dr-component": "orders-db"}


def tagged(identifier: str, taken: datetime, copied: datetime | None = None, **extra: t.Any) -> dict[str, t.Any]:
    tags = [{"Key": key, "Value": value} for key, value in COMPONENT_TAGS.items()]
    return snap(identifier, OriginalSnapshotCreateTime=taken, SnapshotCreateTime=copied or taken, TagList=tags, **extra)


@pytest.fixture
def copies(fake) -> FakeRds:
    """Copies in us-west-2: the newest data is the one copied first; one newer copy is still being made."""
    fake.snapshots["orders-db-a"] = tagged("orders-db-a", NOW - timedelta(hours=30), copied=NOW - timedelta(hours=1))
    fake.snapshots["orders-db-b"] = tagged("orders-db-b", NOW - timedelta(hours=6), copied=NOW - timedelta(hours=5))
    fake.snapshots["orders-db-c"] = tagged("orders-db-c", NOW - timedelta(minutes=30), Status="copying")
    fake.snapshots["other-db-d"] = snap("other-db-d", of="other-db", OriginalSnapshotCreateTime=NOW)
    other = tagged("sessions-e", NOW - timedelta(minutes=10))
    other["TagList"] = [{"Key": "resilience-dr-component", "Value": "sessions"}]
    fake.snapshots["sessions-e"] = other
    return fake


def test_the_newest_available_snapshot_with_the_tags_is_chosen_by_when_its_data_was_taken(copies):
    assert restore.newest_snapshot(rds_of(copies, "us-west-2"), COMPONENT_TAGS)["DBSnapshotIdentifier"] == "orders-db-b"
    early = restore.newest_snapshot(rds_of(copies, "us-west-2"), COMPONENT_TAGS, NOW - timedelta(hours=7))
    assert early["DBSnapshotIdentifier"] == "orders-db-a"
    listings = [call[1] for call in copies.calls if call[0] == "describe_db_snapshots"]
    assert listings[1] == {"MaxRecords": 100, "Marker": "2"}, "every page is read"


def test_no_snapshot_early_enough_names_what_exists(copies):
    with pytest.raises(ConfigurationError, match=r"no available DB snapshot in us-west-2 carries the tags "
                                                 r"resilience-dr-component=orders-db, resilience-dr-plan=shopfront taken at "
                                                 r"or before 2026-11-20T04:00:00Z.*orders-db-c \(copying, taken "
                                                 r"2026-11-23T03:30:00Z\)"):
        restore.newest_snapshot(rds_of(copies, "us-west-2"), COMPONENT_TAGS, NOW - timedelta(days=3))
    with pytest.raises(ConfigurationError, match="with these tags there: none"):
        restore.newest_snapshot(rds_of(FakeRds(), "us-west-2"), {"resilience-dr-component": "ledger"})


def snapshot_restore(**extra: t.Any) -> restore.RestoreRequest:
    params = {"source": "snapshot", "db_instance_identifier": "orders-db", "snapshot_tags": COMPONENT_TAGS}
    params.update(extra)
    return restore.RestoreRequest.from_params(params)


def test_check_mode_names_the_snapshot_a_restore_would_use_and_its_age(copies):
    result = restore.run(rds_of(copies, "us-west-2"), snapshot_restore(), check_mode=True, diff=False, clock=clock)
    assert result["changed"] and copies.names() == []
    assert result["restored_from"]["db_snapshot_identifier"] == "orders-db-b"
    assert result["snapshot"]["db_snapshot_identifier"] == "orders-db-b" and result["snapshot"]["region"] == "us-west-2"
    assert result["snapshot"]["age_s"] == 6 * 3600, "from when the data was taken, not when it was copied"
    assert result["consistency_point"] == {"time": "2026-11-22T22:00:00Z"}
    assert "restore DB snapshot orders-db-b to new DB instance orders-db" in result["plan"]


def test_a_restore_from_the_newest_snapshot_is_recorded_by_name_and_not_repeated(copies):
    result = restore.run(rds_of(copies, "us-west-2"), snapshot_restore(wait=False), check_mode=False, diff=False, clock=clock)
    kwargs = [call[1] for call in copies.calls if call[0] == "restore_db_instance_from_db_snapshot"][0]
    assert kwargs["DBSnapshotIdentifier"] == "orders-db-b" and result["action"] == "restore"
    assert {"Key": RESTORED_FROM_TAG, "Value": "snapshot:orders-db-b"} in kwargs["Tags"]
    copies.instances["orders-db"] = instance("orders-db", TagList=kwargs["Tags"])
    again = restore.run(rds_of(copies, "us-west-2"), snapshot_restore(), check_mode=False, diff=False, clock=clock)
    assert not again["changed"] and again["snapshot"]["db_snapshot_identifier"] == "orders-db-b"
    # A time picks an older snapshot: the instance restored from the newer one is refused, not replaced.
    with pytest.raises(TargetNotEmpty, match="was restored from DB snapshot orders-db-b, not from DB snapshot orders-db-a"):
        restore.run(rds_of(copies, "us-west-2"), snapshot_restore(restore_time="2026-11-22T12:00:00Z"),
                    check_mode=False, diff=False, clock=clock)
