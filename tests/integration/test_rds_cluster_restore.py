# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_cluster_restore (Aurora) through ansible-playbook against the lab's moto server.

moto 5.2.5 implements restore_db_cluster_to_point_in_time and restore_db_cluster_from_snapshot, and reports a new
cluster "available" at once; the statuses a real restore passes through are covered by the unit tests with a
scripted client (tests/unit/plugins/module_utils/_rds/test_cluster_restore.py). moto keeps no data, so what is
checked here is what RDS reports: the new cluster, its origin, its instances and its endpoint.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from .conftest import boto3_client
from .rds_common import unique

MODULE = "resilience.dr.rds_cluster_restore"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def succeeded(result: dict, changed: bool) -> dict:
    assert not result["failed"], result.get("msg", result)
    assert result["changed"] is changed, result
    return result


@pytest.fixture
def rds(aws):
    return boto3_client(aws, "rds")


@pytest.fixture
def clusters(rds) -> t.Iterator[list[str]]:
    """The clusters a test makes (the first one its source), deleted with their instances afterwards."""
    made: list[str] = []
    yield made
    for name in reversed(made):
        try:
            found = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
        except rds.exceptions.DBClusterNotFoundFault:
            continue
        for member in found.get("DBClusterMembers") or []:
            rds.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)


@pytest.fixture
def source_cluster(rds, clusters) -> str:
    name = unique("orders-aurora")
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="dr",
                          MasterUserPassword="not-a-secret-1", BackupRetentionPeriod=7)
    clusters.append(name)
    return name


def members(rds, name: str) -> list[str]:
    found = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return sorted(member["DBInstanceIdentifier"] for member in found.get("DBClusterMembers") or [])


def test_cluster_restored_to_a_point_in_time_with_its_instance_once(ansible, aws, rds, source_cluster, clusters):
    source = rds.describe_db_clusters(DBClusterIdentifier=source_cluster)["DBClusters"][0]
    moment = source["LatestRestorableTime"].astimezone(timezone.utc)
    target = unique("orders-aurora-pitr")
    clusters.append(target)
    args = {**aws, "source": "point_in_time", "source_db_cluster_identifier": source_cluster,
            "restore_time": iso(moment), "db_cluster_identifier": target, "db_instance_class": "db.r6g.large",
            "tags": {"incident": "INC-4711"}}
    planned, applied, again, planned_again = ansible.sequence([
        (MODULE, args, {"check": True, "diff": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
    ])
    succeeded(planned, True)
    assert planned["action"] == "restore" and planned["cluster"] is None and planned["diff"]["before"] == {}
    assert planned["created_instances"] == [f"{target}-1"]

    succeeded(applied, True)
    assert applied["status"] == "available" and applied["endpoint"], applied
    assert applied["consistency_point"] == {"time": iso(moment)}
    assert applied["progress"][-1]["status"] == "available"
    # What RDS holds now: the new cluster, restored from the source at that time, with one writer instance.
    restored = rds.describe_db_clusters(DBClusterIdentifier=target)["DBClusters"][0]
    tags = {item["Key"]: item["Value"] for item in restored["TagList"]}
    assert tags["resilience.dr:restored-from"] == f"cluster_point_in_time:{source_cluster}"
    assert tags["resilience.dr:restore-time"] == iso(moment) and tags["incident"] == "INC-4711"
    assert members(rds, target) == [f"{target}-1"]
    instance = rds.describe_db_instances(DBInstanceIdentifier=f"{target}-1")["DBInstances"][0]
    assert instance["DBInstanceClass"] == "db.r6g.large" and instance["DBClusterIdentifier"] == target

    for result in (again, planned_again):
        succeeded(result, False)
        assert result["action"] == "none" and result["created_instances"] == [], result
    assert members(rds, target) == [f"{target}-1"]


def test_cluster_restore_refuses_a_time_outside_the_window_and_changes_nothing(ansible, aws, rds, source_cluster):
    target = unique("orders-aurora-pitr")
    early = rds.describe_db_clusters(DBClusterIdentifier=source_cluster)["DBClusters"][0]["EarliestRestorableTime"]
    result = ansible.module(MODULE, {**aws, "source": "point_in_time", "source_db_cluster_identifier": source_cluster,
                                     "restore_time": iso(early - timedelta(days=3)), "db_cluster_identifier": target,
                                     "db_instance_class": "db.r6g.large"})
    assert result["failed"] and not result["changed"]
    assert "outside the restorable window of DB cluster " + source_cluster in result["msg"]
    with pytest.raises(rds.exceptions.DBClusterNotFoundFault):
        rds.describe_db_clusters(DBClusterIdentifier=target)


def test_cluster_restored_from_the_newest_tagged_snapshot_and_refused_from_another(ansible, aws, rds, source_cluster, clusters):
    tags = {"resilience-dr-plan": "shop", "resilience-dr-component": unique("orders")}
    older, newer = unique("orders-aurora-a"), unique("orders-aurora-b")
    for name in (older, newer):
        rds.create_db_cluster_snapshot(DBClusterIdentifier=source_cluster, DBClusterSnapshotIdentifier=name,
                                       Tags=[{"Key": key, "Value": value} for key, value in tags.items()])
    target = unique("orders-aurora-restored")
    clusters.append(target)
    try:
        args = {**aws, "source": "snapshot", "snapshot_tags": tags, "db_cluster_identifier": target,
                "db_instance_class": "db.r6g.large", "instance_identifiers": [f"{target}-a", f"{target}-b"]}
        applied, refused = ansible.sequence([
            (MODULE, args),
            (MODULE, {**aws, "source": "snapshot", "db_cluster_snapshot_identifier": older,
                      "db_cluster_identifier": target, "db_instance_class": "db.r6g.large"}),
        ])
        succeeded(applied, True)
        assert applied["snapshot"]["db_cluster_snapshot_identifier"] == newer
        assert members(rds, target) == sorted([f"{target}-a", f"{target}-b"])
        assert refused["failed"] and not refused["changed"]
        assert f"was restored from DB cluster snapshot {newer}, not from DB cluster snapshot {older}" in refused["msg"]
    finally:
        for name in (older, newer):
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=name)
