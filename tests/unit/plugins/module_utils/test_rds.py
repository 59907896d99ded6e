# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans, windows, waits and retries of the RDS modules, with a scripted client.

The integration tests run the modules against moto; these cover what moto
cannot produce: throttling, instances passing through creating/backing-up,
RDS's restore window of automated backups, and failed statuses.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    SourceUnavailable,
    TargetNotEmpty,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._rds import restore, snapshot
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    RESTORE_TIME_TAG,
    RESTORED_FROM_TAG,
    Progress,
    Rds,
    check_restore_time,
    kms_key_matches,
    restorable_window,
    wait_until,
)

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def clock() -> datetime:
    """The tests' now: the data below is written relative to it, never to the real date."""
    return NOW


def client_error(code: str, message: str = "scripted") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Scripted")


class FakeRds:
    """An in-memory RDS of one region: instances and snapshots by identifier, every call recorded."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, t.Any]] = {}
        self.snapshots: dict[str, dict[str, t.Any]] = {}
        self.automated: list[dict[str, t.Any]] = []
        self.calls: list[tuple[str, dict[str, t.Any]]] = []
        self.statuses: dict[str, list[str]] = {}  # scripted statuses of instances and snapshots, one per describe

    def _record(self, name: str, kwargs: dict[str, t.Any]) -> None:
        kwargs.pop("aws_retry", None)
        self.calls.append((name, kwargs))

    def describe_db_instances(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_instances", kwargs)
        identifier = kwargs["DBInstanceIdentifier"]
        if identifier not in self.instances:
            raise client_error("DBInstanceNotFound")
        script = self.statuses.get(identifier)
        if script:
            self.instances[identifier]["DBInstanceStatus"] = script.pop(0)
        return {"DBInstances": [dict(self.instances[identifier])]}

    def describe_db_snapshots(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_snapshots", kwargs)
        if "DBSnapshotIdentifier" not in kwargs:  # a listing, two snapshots a page
            names = sorted(self.snapshots)
            start = int(kwargs.get("Marker") or 0)
            page = {"DBSnapshots": [dict(self.snapshots[name]) for name in names[start:start + 2]]}
            if start + 2 < len(names):
                page["Marker"] = str(start + 2)
            return page
        identifier = kwargs["DBSnapshotIdentifier"]
        if identifier not in self.snapshots:
            raise client_error("DBSnapshotNotFound")
        script = self.statuses.get(identifier)
        if script:
            self.snapshots[identifier]["Status"] = script.pop(0)
        return {"DBSnapshots": [dict(self.snapshots[identifier])]}

    def describe_db_instance_automated_backups(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_instance_automated_backups", kwargs)
        return {"DBInstanceAutomatedBackups": self.automated}

    def __getattr__(self, name: str) -> t.Callable[..., dict[str, t.Any]]:
        def call(**kwargs: t.Any) -> dict[str, t.Any]:
            self._record(name, kwargs)
            return {}

        return call

    def names(self) -> list[str]:
        return [call[0] for call in self.calls if not call[0].startswith("describe")]


def instance(identifier: str, **extra: t.Any) -> dict[str, t.Any]:
    found = {
        "DBInstanceIdentifier": identifier, "DBInstanceArn": f"arn:aws:rds:us-east-1:111122223333:db:{identifier}",
        "DBInstanceStatus": "available", "BackupRetentionPeriod": 7, "InstanceCreateTime": NOW - timedelta(days=30),
        "LatestRestorableTime": NOW - timedelta(minutes=4), "Endpoint": {"Address": f"{identifier}.rds", "Port": 5432},
        "TagList": [],
    }
    found.update(extra)
    return found


def snap(identifier: str, of: str = "orders-db", **extra: t.Any) -> dict[str, t.Any]:
    found = {
        "DBSnapshotIdentifier": identifier, "DBSnapshotArn": f"arn:aws:rds:us-east-1:111122223333:snapshot:{identifier}",
        "DBInstanceIdentifier": of, "Status": "available", "Encrypted": True, "KmsKeyId": "arn:aws:kms:us-east-1:1:key/a",
        "OriginalSnapshotCreateTime": NOW - timedelta(hours=1), "TagList": [],
    }
    found.update(extra)
    return found


@pytest.fixture
def fake() -> FakeRds:
    return FakeRds()


def rds_of(fake: FakeRds, region: str = "us-east-1") -> Rds:
    return Rds(fake, region, "(iam hint)")


# ---------------------------------------------------------------------------
# Retries (mocked: moto never throttles)


def test_throttling_is_retried_with_jittered_backoff_and_then_succeeds():
    attempts = []

    class Throttled:
        def describe_db_instances(self, **kwargs):
            attempts.append(kwargs)
            if len(attempts) < 3:
                raise client_error("Throttling", "Rate exceeded")
            return {"DBInstances": [instance("orders-db")]}

    client = RetryingBotoClientWrapper(Throttled(), AWSRetry.jittered_backoff(retries=5, delay=0.01, max_delay=0.01))
    found = rds_of(t.cast(FakeRds, client)).instance("orders-db")
    assert found is not None and found["DBInstanceIdentifier"] == "orders-db"
    assert len(attempts) == 3


def test_throttling_beyond_the_retries_names_the_call_and_the_code():
    class AlwaysThrottled:
        def describe_db_snapshots(self, **kwargs):
            raise client_error("Throttling", "Rate exceeded")

    client = RetryingBotoClientWrapper(AlwaysThrottled(), AWSRetry.jittered_backoff(retries=2, delay=0.01, max_delay=0.01))
    with pytest.raises(SourceUnavailable, match="RDS in us-east-1 failed to describe DB snapshot nightly: Throttling: Rate exceeded"):
        rds_of(t.cast(FakeRds, client)).snapshot("nightly")


def test_access_denied_points_at_the_iam_policy(fake):
    def denied(**kwargs):
        raise client_error("AccessDenied", "not authorized to perform rds:CreateDBSnapshot")

    fake.create_db_snapshot = denied  # type: ignore[method-assign]
    with pytest.raises(ConfigurationError, match=r"rds:CreateDBSnapshot; \(iam hint\)"):
        rds_of(fake).call("create DB snapshot x", "create_db_snapshot", DBSnapshotIdentifier="x")


# ---------------------------------------------------------------------------
# Waiting with progress (mocked: moto has no transitional statuses)


def test_wait_records_each_status_change_until_available(fake):
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr")
    fake.statuses["orders-db-pitr"] = ["creating", "creating", "backing-up", "available"]
    progress = Progress()
    found = wait_until(
        lambda: rds_of(fake).instance("orders-db-pitr"), resource="DB instance orders-db-pitr", status_key="DBInstanceStatus",
        wanted=lambda item: bool(item) and item["DBInstanceStatus"] == "available", failed=frozenset({"failed"}),
        timeout=5, progress=progress, hint="", interval=0.01, max_interval=0.01,
    )
    assert found is not None and found["DBInstanceStatus"] == "available"
    assert [event["status"] for event in progress.events] == ["creating", "backing-up", "available"]


def test_wait_timeout_gives_the_status_history_and_the_hint(fake):
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr", DBInstanceStatus="creating")
    with pytest.raises(WaitTimeout) as raised:
        wait_until(
            lambda: rds_of(fake).instance("orders-db-pitr"), resource="DB instance orders-db-pitr",
            status_key="DBInstanceStatus", wanted=lambda item: False, failed=frozenset(), timeout=0.05,
            progress=Progress(), hint="Run again.", interval=0.01, max_interval=0.01,
        )
    message = str(raised.value)
    assert "DB instance orders-db-pitr did not become ready within wait_timeout 0.05s; it is creating" in message
    assert "status history: creating at" in message and message.endswith("Run again.")
    assert raised.value.details["progress"][0]["status"] == "creating"


def test_a_failed_status_ends_the_wait_at_once(fake):
    fake.instances["orders-db-pitr"] = instance("orders-db-pitr")
    fake.statuses["orders-db-pitr"] = ["creating", "incompatible-restore"]
    request = restore.RestoreRequest(source="snapshot", db_instance_identifier="orders-db-pitr", wait_timeout=60, poll_interval=0.01)
    with pytest.raises(DrError, match="is incompatible-restore .*it will not become available by waiting"):
        restore.wait_available(rds_of(fake), request, Progress())


# ---------------------------------------------------------------------------
# Point-in-time window


def test_window_comes_from_the_automated_backups_restore_window(fake):
    fake.automated = [{"RestoreWindow": {"EarliestTime": NOW - timedelta(days=6), "LatestTime": NOW}}]
    earliest, latest = restorable_window(rds_of(fake), instance("orders-db"), clock=clock)
    assert earliest == NOW - timedelta(days=6) and latest == NOW - timedelta(minutes=4)


def test_window_without_restore_window_is_bounded_by_retention_and_creation(fake):
    old = instance("orders-db")
    assert restorable_window(rds_of(fake), old, clock=clock)[0] == NOW - timedelta(days=7)
    young = instance("orders-db", InstanceCreateTime=NOW - timedelta(hours=2))
    assert restorable_window(rds_of(fake), young, clock=clock)[0] == NOW - timedelta(hours=2)


def test_window_of_an_instance_without_automated_backups_is_refused(fake):
    with pytest.raises(ConfigurationError, match="backup retention period 0.*restore from a snapshot"):
        restorable_window(rds_of(fake), instance("orders-db", BackupRetentionPeriod=0), clock=clock)


@pytest.mark.parametrize("moment, side", [(NOW - timedelta(days=8), "before the earliest"), (NOW, "after the latest")])
def test_restore_time_outside_the_window_is_refused_with_the_window(moment, side):
    window = (NOW - timedelta(days=7), NOW - timedelta(minutes=4))
    with pytest.raises(ConfigurationError) as raised:
        check_restore_time("orders-db", "us-east-1", moment, window)
    message = str(raised.value)
    assert "(2026-11-16T04:00:00Z to 2026-11-23T03:56:00Z)" in message and side in message
    assert raised.value.details["restorable_window"] == {"earliest": "2026-11-16T04:00:00Z", "latest": "2026-11-23T03:56:00Z"}


# ---------------------------------------------------------------------------
# rds_restore plans


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


# ---------------------------------------------------------------------------
# rds_snapshot plans


def snapshot_request(**extra: t.Any) -> snapshot.SnapshotRequest:
    params = {"db_snapshot_identifier": "orders-db-nightly", "db_instance_identifier": "orders-db"}
    params.update(extra)
    return snapshot.SnapshotRequest.from_params(params)


def test_tag_changes_add_and_purge_but_keep_aws_tags():
    add, remove = snapshot.tag_changes({"a": "1", "b": "2", "aws:backup": "x"}, {"a": "1", "c": "3"}, purge=True)
    assert add == {"c": "3"} and remove == ["b"]
    assert snapshot.tag_changes({"a": "1"}, None, purge=True) == ({}, [])


def test_copy_onto_itself_in_the_same_region_is_refused(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    with pytest.raises(ConfigurationError, match="is the snapshot's own region: give target_db_snapshot_identifier"):
        snapshot.plan(rds_of(fake), rds_of(fake), snapshot_request(copy_to_region="us-east-1", kms_key_id="b"))


def test_copy_of_an_encrypted_snapshot_needs_a_destination_key(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    with pytest.raises(ConfigurationError, match="must be re-encrypted with a KMS key of us-west-2; give kms_key_id"):
        snapshot.plan(rds_of(fake), rds_of(FakeRds(), "us-west-2"), snapshot_request(copy_to_region="us-west-2"))


def test_existing_copy_of_another_snapshot_or_with_another_key_is_refused(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    west = FakeRds()
    west.snapshots["orders-db-nightly"] = snap("orders-db-nightly", of="billing-db", KmsKeyId="arn:aws:kms:us-west-2:1:key/b")
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="arn:aws:kms:us-west-2:1:key/b")
    with pytest.raises(ConfigurationError, match="is not a copy of orders-db-nightly in us-east-1"):
        snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), request)
    west.snapshots["orders-db-nightly"]["DBInstanceIdentifier"] = "orders-db"
    actions = snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), request)[0]
    assert actions == []
    with pytest.raises(ConfigurationError, match="encrypted with KMS key arn:aws:kms:us-west-2:1:key/b, not c"):
        snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), snapshot_request(copy_to_region="us-west-2", kms_key_id="c"))


def test_copy_is_made_from_the_source_arn_with_the_key_and_source_region(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    west = FakeRds()
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="alias/dr", wait=False)
    result = snapshot.run(rds_of(fake), rds_of(west, "us-west-2"), request, check_mode=False, diff=False)
    assert result["changed"] and west.names() == ["copy_db_snapshot"]
    kwargs = [call for call in west.calls if call[0] == "copy_db_snapshot"][0][1]
    assert kwargs == {"SourceDBSnapshotIdentifier": "arn:aws:rds:us-east-1:111122223333:snapshot:orders-db-nightly",
                      "TargetDBSnapshotIdentifier": "orders-db-nightly", "SourceRegion": "us-east-1",
                      "KmsKeyId": "alias/dr", "CopyTags": True}


def test_copy_within_the_region_sends_no_source_region(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    request = snapshot_request(copy_to_region="us-east-1", target_db_snapshot_identifier="orders-db-kept", kms_key_id="b", wait=False)
    snapshot.run(rds_of(fake), rds_of(fake), request, check_mode=False, diff=False)
    kwargs = [call[1] for call in fake.calls if call[0] == "copy_db_snapshot"][0]
    assert "SourceRegion" not in kwargs and kwargs["TargetDBSnapshotIdentifier"] == "orders-db-kept"


def test_snapshot_run_waits_for_the_copy_and_reports_its_progress(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")

    class Copying(FakeRds):
        def copy_db_snapshot(self, **kwargs):
            self._record("copy_db_snapshot", kwargs)
            self.snapshots[kwargs["TargetDBSnapshotIdentifier"]] = snap(kwargs["TargetDBSnapshotIdentifier"], Status="creating")
            self.statuses[kwargs["TargetDBSnapshotIdentifier"]] = ["creating", "copying", "copying", "available"]
            return {}

    west = Copying()
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="b")
    request.poll_interval = 0.01
    result = snapshot.run(rds_of(fake), rds_of(west, "us-west-2"), request, check_mode=False, diff=False)
    assert result["copy"]["status"] == "available"
    copy_statuses = [event["status"] for event in result["progress"] if "us-west-2" in event["resource"]]
    assert copy_statuses == ["creating", "copying", "available"]


@pytest.mark.parametrize("wanted, actual, same", [
    ("arn:aws:kms:us-west-2:1:key/b", "arn:aws:kms:us-west-2:1:key/b", True),
    ("b", "arn:aws:kms:us-west-2:1:key/b", True),
    ("c", "arn:aws:kms:us-west-2:1:key/b", False),
    ("alias/dr", "arn:aws:kms:us-west-2:1:key/b", None),
    ("b", None, False),
])
def test_kms_key_matches(wanted, actual, same):
    assert kms_key_matches(wanted, actual) is same


# ---------------------------------------------------------------------------
# rds_restore from the newest snapshot carrying the component's tags (a site away from the primary region)

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
