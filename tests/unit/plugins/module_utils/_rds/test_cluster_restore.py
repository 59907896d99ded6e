# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aurora cluster restores against a real botocore RDS client whose answers are scripted with Stubber.

The Stubber is a stand-in for what the lab's moto server cannot show: moto reports a restored cluster "available"
at once, never "creating", and never fails one. The restore itself, its idempotence and the window check run
against moto in tests/integration/test_rds_cluster_restore.py.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, TargetNotEmpty
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds
from ansible_collections.resilience.dr.plugins.module_utils._rds.cluster_restore import ClusterRestoreRequest, run
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._aws.stubs import stubbed_client

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


@pytest.fixture
def stubbed() -> t.Iterator[tuple[Rds, Stubber]]:
    with stubbed_client("rds", "eu-west-1") as (client, stubber):
        yield Rds(client, "eu-west-1", "hint"), stubber


def cluster(name: str, status: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"DBClusters": [{"DBClusterIdentifier": name, "Status": status, "Engine": "aurora-postgresql", **extra}]}


def missing(stubber: Stubber, method: str, code: str) -> None:
    stubber.add_client_error(method, service_error_code=code, http_status_code=404)


def request(**params: t.Any) -> ClusterRestoreRequest:
    base = {"source": "point_in_time", "db_cluster_identifier": "orders-pitr", "source_db_cluster_identifier": "orders",
            "restore_time": "2026-11-23T03:58:00Z", "db_instance_class": "db.r6g.large"}
    made = ClusterRestoreRequest.from_params({**base, **params})
    made.poll_interval = 0.01
    return made


def window(stubber: Stubber) -> None:
    missing(stubber, "describe_db_clusters", "DBClusterNotFoundFault")  # the target is not there
    stubber.add_response("describe_db_clusters", cluster(
        "orders", "available", EarliestRestorableTime=NOW - timedelta(days=7), LatestRestorableTime=NOW - timedelta(minutes=1)))
    missing(stubber, "describe_db_instances", "DBInstanceNotFound")  # orders-pitr-1


def test_restore_waits_through_creating_then_creates_the_instance_and_waits_for_it(stubbed):
    rds, stubber = stubbed
    window(stubber)
    stubber.add_response("restore_db_cluster_to_point_in_time", {"DBCluster": {"Status": "creating"}}, {
        "DBClusterIdentifier": "orders-pitr", "SourceDBClusterIdentifier": "orders", "Tags": ANY,
        "RestoreToTime": datetime(2026, 11, 23, 3, 58, tzinfo=timezone.utc)})
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "creating"))
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available"))
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available"))  # the engine for the instance
    stubber.add_response("create_db_instance", {"DBInstance": {"DBInstanceStatus": "creating"}}, {
        "DBInstanceIdentifier": "orders-pitr-1", "DBClusterIdentifier": "orders-pitr", "Engine": "aurora-postgresql",
        "DBInstanceClass": "db.r6g.large", "Tags": []})
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available"))
    stubber.add_response("describe_db_instances", {"DBInstances": [{"DBInstanceStatus": "creating"}]})
    stubber.add_response("describe_db_instances", {"DBInstances": [{"DBInstanceStatus": "available"}]})
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available", Endpoint="orders-pitr.cluster-x"))

    result = run(rds, request(), check_mode=False, diff=True)

    assert result["changed"] and result["action"] == "restore" and result["endpoint"] == "orders-pitr.cluster-x"
    seen = [(event["resource"].split(" in ")[0], event["status"]) for event in result["progress"]]
    assert seen == [("DB cluster orders-pitr", "creating"), ("DB cluster orders-pitr", "available"),
                    ("DB instance orders-pitr-1", "creating"), ("DB instance orders-pitr-1", "available")]
    assert result["consistency_point"] == {"time": "2026-11-23T03:58:00Z"}
    assert result["diff"]["after"]["instances"] == ["orders-pitr-1"]


def test_a_failed_cluster_ends_the_wait_at_once_with_its_status_history(stubbed):
    rds, stubber = stubbed
    window(stubber)
    stubber.add_response("restore_db_cluster_to_point_in_time", {"DBCluster": {"Status": "creating"}})
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "inaccessible-encryption-credentials"))
    with pytest.raises(DrError) as raised:
        run(rds, request(), check_mode=False, diff=False)
    assert "DB cluster orders-pitr in eu-west-1 is inaccessible-encryption-credentials" in raised.value.message
    assert raised.value.details["changed"] is True


def test_check_mode_plans_a_restore_and_calls_nothing_that_changes(stubbed):
    rds, stubber = stubbed
    window(stubber)
    result = run(rds, request(), check_mode=True, diff=True)
    assert result["changed"] and result["cluster"] is None and result["created_instances"] == ["orders-pitr-1"]
    assert result["restorable_window"]["latest"] == "2026-11-23T03:59:00Z"


def test_a_cluster_of_that_name_restored_from_elsewhere_is_refused(stubbed):
    rds, stubber = stubbed
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available", TagList=[
        {"Key": "resilience.dr:restored-from", "Value": "cluster_snapshot:orders-nightly"}]))
    with pytest.raises(TargetNotEmpty, match="was restored from DB cluster snapshot orders-nightly, not from DB cluster orders"):
        run(rds, request(), check_mode=True, diff=False)


def test_the_cluster_restored_before_gets_only_its_missing_instance(stubbed):
    rds, stubber = stubbed
    tags = [{"Key": "resilience.dr:restored-from", "Value": "cluster_point_in_time:orders"},
            {"Key": "resilience.dr:restore-time", "Value": "2026-11-23T03:58:00Z"}]
    stubber.add_response("describe_db_clusters", cluster("orders-pitr", "available", TagList=tags))
    stubber.add_response("describe_db_instances", {"DBInstances": [{"DBInstanceIdentifier": "orders-pitr-1",
                                                                    "DBClusterIdentifier": "orders-pitr"}]})
    missing(stubber, "describe_db_instances", "DBInstanceNotFound")
    result = run(rds, request(instance_identifiers=["orders-pitr-1", "orders-pitr-2"]), check_mode=True, diff=False)
    assert result["action"] == "instances" and result["created_instances"] == ["orders-pitr-2"]


@pytest.mark.parametrize("params, message", [
    ({"restore_time": None}, "exactly one of restore_time and use_latest_restorable_time"),
    ({"db_instance_class": None}, "db_instance_class is needed"),
    ({"source": "snapshot", "restore_time": None}, "exactly one of db_cluster_snapshot_identifier"),
])
def test_options_that_cannot_work_are_refused_before_any_call(params, message):
    with pytest.raises(ConfigurationError, match=message):
        request(**params)
