# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which RDS snapshots retention deletes (rds_snapshot_prune) and how old a region's newest recovery point
is (rds_backup_info), with snapshot times written relative to an injected clock, never to today's date."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds import recovery_point, retention
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
OURS = {"resilience-dr-plan": "shopfront", "resilience-dr-component": "orders-db"}


def clock() -> datetime:
    return NOW


class FakeRds:
    """One region's snapshots and instances; records the deletions."""

    def __init__(self, snapshots: list[dict[str, t.Any]], instances: dict[str, dict[str, t.Any]] | None = None) -> None:
        self.snapshots = {item["DBSnapshotIdentifier"]: item for item in snapshots}
        self.instances = instances or {}
        self.deleted: list[str] = []

    def describe_db_snapshots(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        return {"DBSnapshots": [dict(item) for item in self.snapshots.values()]}

    def describe_db_instances(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        identifier = kwargs["DBInstanceIdentifier"]
        if identifier not in self.instances:
            raise ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "none"}}, "DescribeDBInstances")
        return {"DBInstances": [dict(self.instances[identifier])]}

    def delete_db_snapshot(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        self.deleted.append(kwargs["DBSnapshotIdentifier"])
        self.snapshots.pop(kwargs["DBSnapshotIdentifier"])
        return {}


def snap(identifier: str, age: timedelta, *, tags: dict[str, str] | None = None, kind: str = "manual",
         status: str = "available", copied: timedelta | None = None, of: str = "orders-db") -> dict[str, t.Any]:
    taken = NOW - age
    return {
        "DBSnapshotIdentifier": identifier, "DBInstanceIdentifier": of, "SnapshotType": kind, "Status": status,
        "SnapshotCreateTime": NOW - copied if copied is not None else taken,
        "OriginalSnapshotCreateTime": taken,
        "TagList": [{"Key": key, "Value": value} for key, value in (OURS if tags is None else tags).items()],
    }


def history() -> list[dict[str, t.Any]]:
    """Four nightly snapshots of ours, and three that are not ours, all older than our newest."""
    return [
        snap("orders-db-1", timedelta(days=3, hours=1)),
        snap("orders-db-2", timedelta(days=2, hours=1)),
        snap("orders-db-3", timedelta(days=1, hours=1)),
        snap("orders-db-4", timedelta(hours=1)),
        snap("rds:orders-db-2026-11-20-03-00", timedelta(days=3), kind="automated", tags={}),
        snap("before-release-4-2", timedelta(days=10), tags={"reason": "pre-deploy"}),
        snap("other-plan-1", timedelta(days=9), tags={**OURS, "resilience-dr-plan": "staging"}),
    ]


def prune(snapshots: list[dict[str, t.Any]], **policy: t.Any) -> retention.PrunePlan:
    return retention.plan_prune(snapshots, "us-east-1", OURS, RetentionPolicy(**policy), NOW)


def ids(entries: list[dict[str, t.Any]]) -> list[str]:
    return [entry["db_snapshot_identifier"] for entry in entries]


def test_keep_last_two_deletes_the_older_of_ours_and_nothing_else():
    planned = prune(history(), keep_last=2)
    assert ids(planned.kept) == ["orders-db-4", "orders-db-3"]
    assert ids(planned.deleted) == ["orders-db-2", "orders-db-1"]
    assert planned.kept[0]["reasons"] == ["newest backup", "last 1"]
    assert planned.deleted[0]["reason"] == "kept by no retention rule (keep_last 2)"
    assert planned.deleted[0]["snapshot_time"] == "2026-11-21T03:00:00Z"


@pytest.mark.parametrize("policy, kept", [
    ({"keep_daily": 2}, ["orders-db-4", "orders-db-3"]),
    ({"keep_within": timedelta(hours=30)}, ["orders-db-4", "orders-db-3"]),
    ({"keep_weekly": 1}, ["orders-db-4"]),
    ({"keep_monthly": 12}, ["orders-db-4"]),
    ({"keep_last": 10}, ["orders-db-4", "orders-db-3", "orders-db-2", "orders-db-1"]),
])
def test_each_rule_of_the_repository_retention_applies_to_snapshots(policy, kept):
    assert ids(prune(history(), **policy).kept) == kept


def test_the_newest_snapshot_stays_whatever_the_rules():
    planned = prune(history(), keep_within=timedelta(seconds=1))
    assert ids(planned.kept) == ["orders-db-4"] and planned.kept[0]["reasons"] == ["newest backup"]


def test_a_copy_counts_from_when_its_data_was_taken_not_when_it_was_copied():
    copies = [snap("orders-db-1", timedelta(days=2), copied=timedelta(minutes=5)),
              snap("orders-db-2", timedelta(days=1), copied=timedelta(hours=20))]
    planned = prune(copies, keep_last=1)
    assert ids(planned.kept) == ["orders-db-2"] and ids(planned.deleted) == ["orders-db-1"]


def test_snapshots_being_made_copied_or_deleted_are_left_alone_and_do_not_count():
    snapshots = history() + [snap("orders-db-5", timedelta(minutes=5), status="copying")]
    planned = prune(snapshots, keep_last=1)
    assert ids(planned.kept) == ["orders-db-4"], "the newest available one stays while a newer one is copied"
    assert planned.left_alone == [{"db_snapshot_identifier": "orders-db-5", "region": "us-east-1", "status": "copying",
                                   "snapshot_time": "2026-11-23T03:55:00Z", "reason": "status copying"}]


def test_an_empty_policy_or_missing_tags_are_refused():
    with pytest.raises(ConfigurationError, match="no retention rule is set"):
        prune(history())
    with pytest.raises(ConfigurationError, match="needs the plan and the component"):
        retention.plan_prune(history(), "us-east-1", {"resilience-dr-plan": "", "resilience-dr-component": "x"},
                             RetentionPolicy(keep_last=1), NOW)


TAG_SETS = [OURS, {}, {"reason": "pre-deploy"}, {**OURS, "resilience-dr-plan": "staging"},
            {"resilience-dr-component": "orders-db"}]

a_snapshot = st.tuples(
    st.integers(min_value=0, max_value=400 * 24),  # age in hours
    st.sampled_from(["manual", "automated", "shared"]),
    st.sampled_from(["available", "available", "creating", "copying", "deleting"]),
    st.sampled_from(range(len(TAG_SETS))),  # OURS, or tags that are not (all) ours
)
a_policy = st.builds(
    RetentionPolicy, keep_last=st.integers(0, 5), keep_daily=st.integers(0, 5), keep_weekly=st.integers(0, 3),
    keep_monthly=st.integers(0, 3), keep_within=st.one_of(st.none(), st.integers(1, 30 * 24).map(lambda h: timedelta(hours=h))),
).filter(lambda policy: not policy.is_empty())


@settings(max_examples=200, deadline=None)
@given(st.lists(a_snapshot, max_size=25), a_policy)
def test_only_our_available_snapshots_are_deleted_and_never_the_newest(history, policy):
    snapshots = [snap(f"s{number:02d}", timedelta(hours=age), kind=kind, status=status, tags=TAG_SETS[tags])
                 for number, (age, kind, status, tags) in enumerate(history)]
    planned = prune(snapshots, **policy.__dict__)
    ours = {item["DBSnapshotIdentifier"]: item for item, (_age, kind, _status, tags) in zip(snapshots, history)
            if kind == "manual" and TAG_SETS[tags] == OURS}
    available = [item for item in ours.values() if item["Status"] == "available"]
    for entry in planned.deleted:
        assert entry["db_snapshot_identifier"] in ours and entry["status"] == "available"
    assert set(ids(planned.kept)) | set(ids(planned.deleted)) == {item["DBSnapshotIdentifier"] for item in available}
    assert set(ids(planned.left_alone)) == set(ours) - {item["DBSnapshotIdentifier"] for item in available}
    if available:
        newest = max(available, key=lambda item: (item["OriginalSnapshotCreateTime"], item["DBSnapshotIdentifier"]))
        assert newest["DBSnapshotIdentifier"] in ids(planned.kept)


def region(snapshots: list[dict[str, t.Any]], instances: dict[str, dict[str, t.Any]] | None = None) -> tuple[FakeRds, Rds]:
    fake = FakeRds(snapshots, instances)
    return fake, Rds(fake, "us-east-1", "(iam hint)")


def test_check_mode_reports_and_deletes_nothing_then_the_run_deletes_and_again_is_unchanged():
    fake, rds = region(history())
    args = {"plan": "shopfront", "component": "orders-db", "policy": RetentionPolicy(keep_last=2), "clock": clock}
    planned = retention.run(rds, check_mode=True, diff=True, **args)
    assert planned["changed"] and ids(planned["deleted"]) == ["orders-db-2", "orders-db-1"] and fake.deleted == []
    assert planned["diff"]["before"] == "orders-db-1\norders-db-2\norders-db-3\norders-db-4\n"
    assert planned["diff"]["after"] == "orders-db-3\norders-db-4\n"

    applied = retention.run(rds, check_mode=False, diff=False, **args)
    assert applied["changed"] and fake.deleted == ["orders-db-2", "orders-db-1"] and "diff" not in applied
    assert sorted(fake.snapshots) == ["before-release-4-2", "orders-db-3", "orders-db-4", "other-plan-1",
                                      "rds:orders-db-2026-11-20-03-00"]

    again = retention.run(rds, check_mode=False, diff=False, **args)
    assert not again["changed"] and again["deleted"] == [] and fake.deleted == ["orders-db-2", "orders-db-1"]


# ---------------------------------------------------------------------------
# The newest recovery point of a region (rds_backup_info, rpo_check)


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
