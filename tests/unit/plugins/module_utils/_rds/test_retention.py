# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which RDS snapshots retention deletes (rds_snapshot_prune), with snapshot times written relative to
an injected clock, never to today's date."""

from __future__ import annotations

import typing as t
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds import retention
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import NOW, clock
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.region_helpers import OURS, region, snap


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
