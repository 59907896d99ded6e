# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retries, waits with progress, the point-in-time window and KMS keys, with a scripted client.

The integration tests run the modules against moto; these cover what moto
cannot produce: throttling, instances passing through creating/backing-up,
RDS's restore window of automated backups, and failed statuses.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable, WaitTimeout
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Progress, check_restore_time, kms_key_matches, restorable_window, wait_until
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import NOW, FakeRds, client_error, clock, instance, rds_of


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


@pytest.mark.parametrize("wanted, actual, same", [
    ("arn:aws:kms:us-west-2:1:key/b", "arn:aws:kms:us-west-2:1:key/b", True),
    ("b", "arn:aws:kms:us-west-2:1:key/b", True),
    ("c", "arn:aws:kms:us-west-2:1:key/b", False),
    ("alias/dr", "arn:aws:kms:us-west-2:1:key/b", None),
    ("b", None, False),
])
def test_kms_key_matches(wanted, actual, same):
    assert kms_key_matches(wanted, actual) is same
