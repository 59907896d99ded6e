# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_restore source automated_backup_replica against a real botocore RDS client whose answers are scripted
with Stubber.

The Stubber stands in for APIs moto lacks: moto 5.2.5 lists no replicated automated backups (its
describe_db_instance_automated_backups reports only the region's own instances, without ARN or RestoreWindow) and
ignores SourceDBInstanceAutomatedBackupsArn on a point-in-time restore. botocore checks every request here against
the RDS API's shapes.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import RESTORE_TIME_TAG, RESTORED_FROM_TAG, Rds, tags_to_list
from ansible_collections.resilience.dr.plugins.module_utils._rds.restore import RestoreRequest, check_options, run
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._aws.stubs import stubbed_client

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
SOURCE_ARN = "arn:aws:rds:us-east-1:111122223333:db:orders-db"
REPLICA_ARN = "arn:aws:rds:us-west-2:111122223333:auto-backup:ab-orders"


def clock() -> datetime:
    return NOW


@pytest.fixture
def stubbed() -> t.Iterator[tuple[Rds, Stubber]]:
    with stubbed_client("rds", "us-west-2") as (client, stubber):
        yield Rds(client, "us-west-2", "hint"), stubber


def replica(**extra: t.Any) -> dict[str, t.Any]:
    return {"DBInstanceIdentifier": "orders-db", "DBInstanceArn": SOURCE_ARN, "Region": "us-east-1",
            "DBInstanceAutomatedBackupsArn": REPLICA_ARN, "Status": "replicating",
            "RestoreWindow": {"EarliestTime": NOW - timedelta(days=7), "LatestTime": NOW - timedelta(minutes=5)}, **extra}


def local_backups() -> dict[str, t.Any]:
    """An instance of us-west-2 itself named like the source: its backups are no replica."""
    return {"DBInstanceIdentifier": "orders-db", "DBInstanceArn": "arn:aws:rds:us-west-2:111122223333:db:orders-db",
            "DBInstanceAutomatedBackupsArn": "arn:aws:rds:us-west-2:111122223333:auto-backup:ab-local",
            "Status": "active"}


def request(**params: t.Any) -> RestoreRequest:
    base = {"source": "automated_backup_replica", "db_instance_identifier": "orders-db-west",
            "source_db_instance_identifier": "orders-db", "restore_time": "2026-11-23T03:00:00Z", "wait": False}
    merged = {key: value for key, value in {**base, **params}.items() if value is not None}
    check_options(merged)
    return RestoreRequest.from_params(merged)


def target_missing(stubber: Stubber) -> None:
    stubber.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound", http_status_code=404,
                             expected_params={"DBInstanceIdentifier": "orders-db-west"})


def listing(stubber: Stubber, *backups: dict[str, t.Any]) -> None:
    stubber.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": list(backups)},
                         {"MaxRecords": 100})


def restored(time_tag: str, **extra: t.Any) -> dict[str, t.Any]:
    tags = {RESTORED_FROM_TAG: "automated_backup_replica:orders-db", RESTORE_TIME_TAG: time_tag}
    return {"DBInstances": [{"DBInstanceIdentifier": "orders-db-west", "DBInstanceStatus": "available",
                             "DBInstanceArn": "arn:aws:rds:us-west-2:111122223333:db:orders-db-west",
                             "Endpoint": {"Address": "orders-db-west.x.us-west-2.rds.amazonaws.com", "Port": 5432},
                             "TagList": tags_to_list(tags), **extra}]}


def test_restore_finds_the_replica_by_identifier_and_restores_from_its_arn_to_the_time(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, local_backups(), replica())
    stubber.add_response("restore_db_instance_to_point_in_time", {"DBInstance": {"DBInstanceStatus": "creating"}}, {
        "SourceDBInstanceAutomatedBackupsArn": REPLICA_ARN, "TargetDBInstanceIdentifier": "orders-db-west",
        "RestoreTime": datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc),
        "Tags": tags_to_list({RESTORED_FROM_TAG: "automated_backup_replica:orders-db",
                              RESTORE_TIME_TAG: "2026-11-23T03:00:00Z"})})
    stubber.add_response("describe_db_instances", restored("2026-11-23T03:00:00Z", DBInstanceStatus="creating"))

    result = run(rds, request(), check_mode=False, diff=True, clock=clock)

    assert result["changed"] and result["action"] == "restore"
    assert result["restored_from"]["restore_time"] == "2026-11-23T03:00:00Z"
    assert result["restorable_window"] == {"earliest": "2026-11-16T04:00:00Z", "latest": "2026-11-23T03:55:00Z"}
    assert result["endpoint"] == "orders-db-west.x.us-west-2.rds.amazonaws.com"
    assert result["consistency_point"] == {"time": "2026-11-23T03:00:00Z"}
    assert result["diff"]["before"] == {} and result["diff"]["after"]["restored_from"]["source"] == "automated_backup_replica"


def test_latest_restorable_time_is_asked_for_and_recorded_as_the_replica_window_end(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, replica())
    stubber.add_response("restore_db_instance_to_point_in_time", {"DBInstance": {"DBInstanceStatus": "creating"}}, {
        "SourceDBInstanceAutomatedBackupsArn": REPLICA_ARN, "TargetDBInstanceIdentifier": "orders-db-west",
        "UseLatestRestorableTime": True, "Tags": ANY})
    stubber.add_response("describe_db_instances", restored("2026-11-23T03:55:00Z"))

    result = run(rds, request(source_db_instance_identifier=SOURCE_ARN, restore_time=None, use_latest_restorable_time=True),
                 check_mode=False, diff=False, clock=clock)

    assert result["changed"] and result["restored_from"]["restore_time"] == "2026-11-23T03:55:00Z"
    # The data is that of the replica's latest restorable time, not of now: what the report measures RPO with.
    assert result["consistency_point"] == {"time": "2026-11-23T03:55:00Z"}


def test_check_mode_plans_the_restore_and_calls_nothing_that_changes(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, replica())

    result = run(rds, request(), check_mode=True, diff=True, clock=clock)

    assert result["changed"] and result["action"] == "restore" and result["instance"] is None
    assert "replicated into this region" in result["plan"]
    assert result["diff"]["after"]["restored_from"]["source"] == "automated_backup_replica"


def test_a_second_run_on_the_instance_restored_from_the_replica_changes_nothing(stubbed):
    rds, stubber = stubbed
    stubber.add_response("describe_db_instances", restored("2026-11-23T03:00:00Z"))
    stubber.add_response("describe_db_instances", restored("2026-11-23T03:00:00Z"))  # read after (wait false)

    result = run(rds, request(), check_mode=False, diff=True, clock=clock)

    assert not result["changed"] and result["action"] == "none"
    assert result["diff"]["before"] == result["diff"]["after"]


def test_no_replica_in_the_region_is_refused_naming_what_is_there(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, local_backups())

    with pytest.raises(ConfigurationError) as raised:
        run(rds, request(), check_mode=True, diff=False, clock=clock)

    message = raised.value.message
    assert "no automated backups of DB instance orders-db are replicated into us-west-2" in message
    assert "ab-local" not in message and "orders-db (arn:aws:rds:us-west-2:111122223333:db:orders-db, active" in message
    assert "source point_in_time" in message


def test_a_time_outside_the_replica_window_is_refused_with_the_window(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, replica())

    with pytest.raises(ConfigurationError) as raised:
        run(rds, request(restore_time="2026-11-23T03:58:00Z"), check_mode=False, diff=False, clock=clock)

    assert "outside the restorable window" in raised.value.message
    assert raised.value.details["restorable_window"] == {"earliest": "2026-11-16T04:00:00Z", "latest": "2026-11-23T03:55:00Z"}


def test_a_replica_without_a_restore_window_yet_is_refused(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, replica(RestoreWindow={}, Status="pending"))

    with pytest.raises(ConfigurationError) as raised:
        run(rds, request(), check_mode=True, diff=False, clock=clock)

    assert "no restore window yet (status pending)" in raised.value.message


def test_two_replicas_of_one_name_need_the_arn(stubbed):
    rds, stubber = stubbed
    target_missing(stubber)
    listing(stubber, replica(), replica(DBInstanceArn="arn:aws:rds:eu-west-1:111122223333:db:orders-db",
                                        DBInstanceAutomatedBackupsArn=REPLICA_ARN + "2"))

    with pytest.raises(ConfigurationError) as raised:
        run(rds, request(), check_mode=True, diff=False, clock=clock)

    assert "give source_db_instance_identifier as the source instance's ARN" in raised.value.message


def test_the_source_needs_exactly_one_of_restore_time_and_latest():
    with pytest.raises(ConfigurationError, match="source automated_backup_replica needs exactly one"):
        request(restore_time=None)
