# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_backup_replication against real botocore RDS clients of two regions whose answers are scripted with Stubber.

The Stubber stands in for an API moto lacks: moto 5.2.5 does not implement
start_db_instance_automated_backups_replication (nor stop_...) and lists no replicated automated backups.
botocore checks every request here against the RDS API's shapes.
"""

from __future__ import annotations

import typing as t

import pytest
from botocore.stub import Stubber

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds
from ansible_collections.resilience.dr.plugins.module_utils._rds.backup_replication import ReplicationRequest, run
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._aws.stubs import stubbed_client

SOURCE_ARN = "arn:aws:rds:us-east-1:111122223333:db:orders-db"
REPLICA_ARN = "arn:aws:rds:us-west-2:111122223333:auto-backup:ab-orders"
KEY = "arn:aws:kms:us-west-2:111122223333:key/west"


@pytest.fixture
def regions() -> t.Iterator[tuple[Rds, Stubber, Rds, Stubber]]:
    with stubbed_client("rds", "us-east-1") as (east, east_stub), stubbed_client("rds", "us-west-2") as (west, west_stub):
        yield Rds(east, "us-east-1", "hint"), east_stub, Rds(west, "us-west-2", "hint"), west_stub


def source(stub: Stubber, **extra: t.Any) -> None:
    stub.add_response("describe_db_instances", {"DBInstances": [{
        "DBInstanceIdentifier": "orders-db", "DBInstanceArn": SOURCE_ARN, "BackupRetentionPeriod": 7,
        "StorageEncrypted": True, **extra}]}, {"DBInstanceIdentifier": "orders-db"})


def listed(stub: Stubber, *backups: dict[str, t.Any]) -> None:
    stub.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": list(backups)},
                      {"MaxRecords": 100})


def replicating(**extra: t.Any) -> dict[str, t.Any]:
    return {"DBInstanceIdentifier": "orders-db", "DBInstanceArn": SOURCE_ARN, "DBInstanceAutomatedBackupsArn": REPLICA_ARN,
            "Status": "replicating", "BackupRetentionPeriod": 7, **extra}


def request(**params: t.Any) -> ReplicationRequest:
    return ReplicationRequest.from_params({"db_instance_identifier": "orders-db", "destination_region": "us-west-2",
                                           "kms_key_id": KEY, "backup_retention_period": 7, **params})


def test_start_replicates_the_encrypted_instance_with_the_destination_key_and_retention(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub)
    west_stub.add_response("start_db_instance_automated_backups_replication", {"DBInstanceAutomatedBackup": replicating(
        Status="pending")}, {"SourceDBInstanceArn": SOURCE_ARN, "SourceRegion": "us-east-1", "KmsKeyId": KEY,
                             "BackupRetentionPeriod": 7})

    result = run(east, west, request(), check_mode=False, diff=True)

    assert result["changed"] and result["action"] == "start"
    assert result["replication"]["db_instance_automated_backups_arn"] == REPLICA_ARN
    assert result["diff"] == {"before": {"replicated_into": None}, "after": {"replicated_into": "us-west-2"}}


def test_check_mode_reports_the_start_and_starts_nothing(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub)

    result = run(east, west, request(), check_mode=True, diff=False)

    assert result["changed"] and result["action"] == "start" and result["replication"] is None


def test_an_instance_already_replicated_there_changes_nothing(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub, replicating())

    result = run(east, west, request(), check_mode=False, diff=True)

    assert not result["changed"] and result["action"] == "none" and result["warnings"] == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_a_running_replication_with_another_retention_is_kept_with_a_warning(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub, replicating(BackupRetentionPeriod=3))

    result = run(east, west, request(backup_retention_period=14), check_mode=False, diff=False)

    assert not result["changed"] and "for 3 days, not 14" in result["warnings"][0]


def test_an_encrypted_instance_without_a_destination_key_is_refused_before_anything_starts(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub)

    with pytest.raises(ConfigurationError, match="give kms_key_id, a key of us-west-2"):
        run(east, west, request(kms_key_id=None), check_mode=False, diff=False)


def test_an_unencrypted_instance_is_started_without_a_key(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub, StorageEncrypted=False)
    listed(west_stub, replicating(DBInstanceArn="arn:aws:rds:us-east-1:111122223333:db:other", Status="retained"))
    west_stub.add_response("start_db_instance_automated_backups_replication", {}, {
        "SourceDBInstanceArn": SOURCE_ARN, "SourceRegion": "us-east-1"})

    result = run(east, west, request(kms_key_id=None, backup_retention_period=None), check_mode=False, diff=False)

    assert result["changed"] and result["action"] == "start"


def test_an_instance_without_automated_backups_is_refused(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub, BackupRetentionPeriod=0)
    listed(west_stub)

    with pytest.raises(ConfigurationError, match="keeps no automated backups"):
        run(east, west, request(), check_mode=False, diff=False)


def test_a_missing_source_instance_is_named_with_its_region(regions):
    east, east_stub, west, _west_stub = regions
    east_stub.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound", http_status_code=404)

    with pytest.raises(ConfigurationError, match="DB instance orders-db not found in us-east-1"):
        run(east, west, request(), check_mode=False, diff=False)


def test_absent_stops_a_running_replication_and_then_changes_nothing(regions):
    east, east_stub, west, west_stub = regions
    source(east_stub)
    listed(west_stub, replicating())
    west_stub.add_response("stop_db_instance_automated_backups_replication", {"DBInstanceAutomatedBackup": replicating(
        Status="retained")}, {"SourceDBInstanceArn": SOURCE_ARN})
    source(east_stub)
    listed(west_stub, replicating(Status="retained"))

    first = run(east, west, request(state="absent"), check_mode=False, diff=False)
    second = run(east, west, request(state="absent"), check_mode=False, diff=False)

    assert first["changed"] and first["action"] == "stop"
    assert not second["changed"] and second["action"] == "none"


def test_the_destination_must_be_another_region(regions):
    east, _east_stub, _west, _west_stub = regions
    with pytest.raises(ConfigurationError, match="is the region of DB instance orders-db"):
        run(east, east, request(destination_region="us-east-1"), check_mode=False, diff=False)
