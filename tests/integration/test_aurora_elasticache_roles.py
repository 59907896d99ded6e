# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An Aurora cluster and an ElastiCache replication group in a plan, on the lab's moto server: the backup playbook
snapshots both (tagged with the plan and the component), and level 1 restores each - the cluster to its latest
restorable time with its instance, the cache from the backup's snapshot into a new group.

moto keeps no data in either service, so the outcomes checked are what the APIs report (see test_elasticache.py
and test_rds_cluster_restore.py for what moto 5.2.5 does and does not do).
"""

from __future__ import annotations

import typing as t

import pytest

from .conftest import boto3_client
from .rds_common import unique

LEVEL1 = "playbooks/level1_component.yml"
BACKUP = "playbooks/backup.yml"


@pytest.fixture
def cloud(aws) -> t.Iterator[dict[str, t.Any]]:
    """A source Aurora cluster and a source replication group; everything made from them is deleted afterwards."""
    rds, cache = boto3_client(aws, "rds"), boto3_client(aws, "elasticache")
    names = {"cluster": unique("ledger"), "restored_cluster": unique("ledger-restored"),
             "group": unique("carts"), "restored_group": unique("carts-restored"), "plan": unique("cloudshop")}
    rds.create_db_cluster(DBClusterIdentifier=names["cluster"], Engine="aurora-postgresql", MasterUsername="dr",
                          MasterUserPassword="not-a-secret-1", BackupRetentionPeriod=7)
    cache.create_replication_group(ReplicationGroupId=names["group"], ReplicationGroupDescription="carts",
                                   Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    yield {"rds": rds, "cache": cache, **names}
    for snapshot in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]:
        if snapshot["DBClusterIdentifier"] == names["cluster"] and snapshot["SnapshotType"] == "manual":
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot["DBClusterSnapshotIdentifier"])
    for name in (names["restored_cluster"], names["cluster"]):
        try:
            found = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
        except rds.exceptions.DBClusterNotFoundFault:
            continue
        for member in found.get("DBClusterMembers") or []:
            rds.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    for snapshot in cache.describe_snapshots()["Snapshots"]:
        if snapshot.get("ReplicationGroupId") == names["group"]:
            cache.delete_snapshot(SnapshotName=snapshot["SnapshotName"])
    for name in (names["restored_group"], names["group"]):
        try:
            cache.delete_replication_group(ReplicationGroupId=name)
        except cache.exceptions.ReplicationGroupNotFoundFault:
            pass


def cloud_plan(tmp_path, aws: dict[str, str], cloud: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"dr_plan": {
        "name": cloud["plan"],
        "repository": {"location": str(tmp_path / "repository")},
        "components": [
            {"name": "ledger", "kind": "rds", "rto": "2h", "rpo": "1d", "backup": {"method": "snapshot"},
             "connection": {"db_cluster_identifier": cloud["restored_cluster"], **aws},
             "restore": {"source_db_cluster_identifier": cloud["cluster"], "db_instance_class": "db.r6g.large"},
             # The application learns the restored cluster's writer endpoint.
             "repoint": {"values": {"LEDGER_DB_HOST": "{endpoint}", "LEDGER_DB_PORT": "{port}"},
                         "environment_files": [{"path": str(tmp_path / "ledger.env")}]}},
            {"name": "carts", "kind": "elasticache", "rto": "2h", "rpo": "1d", "backup": {"method": "snapshot"},
             "connection": {"replication_group_id": cloud["group"], **aws},
             "restore": {"target_id": cloud["restored_group"], "cache_node_type": "cache.t3.micro"}},
        ],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }}


def tags_of(cache, arn: str) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in cache.list_tags_for_resource(ResourceName=arn)["TagList"]}


def test_backup_snapshots_both_and_level1_restores_each(ansible, aws, cloud, tmp_path):
    rds, cache = cloud["rds"], cloud["cache"]
    plan = cloud_plan(tmp_path, aws, cloud)
    component_tags = {"resilience-dr-plan": cloud["plan"]}

    backup = ansible.playbook(BACKUP, plan)
    assert backup.ok, backup.tail()
    cluster_snapshots = [item for item in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]
                         if item["DBClusterIdentifier"] == cloud["cluster"] and item["SnapshotType"] == "manual"]
    assert len(cluster_snapshots) == 1 and cluster_snapshots[0]["Status"] == "available"
    tags = {item["Key"]: item["Value"] for item in cluster_snapshots[0]["TagList"]}
    assert tags == {**component_tags, "resilience-dr-component": "ledger"}
    cache_snapshots = [item for item in cache.describe_snapshots()["Snapshots"] if item.get("ReplicationGroupId") == cloud["group"]]
    assert len(cache_snapshots) == 1
    assert tags_of(cache, cache_snapshots[0]["ARN"]) == {**component_tags, "resilience-dr-component": "carts"}

    carts = ansible.playbook(LEVEL1, {**plan, "component": "carts", "confirm": "yes"})
    assert carts.ok, carts.tail()
    restored = cache.describe_replication_groups(ReplicationGroupId=cloud["restored_group"])["ReplicationGroups"][0]
    assert restored["Status"] == "available"
    assert tags_of(cache, restored["ARN"])["resilience.dr:restored-from"] == f"snapshot:{cache_snapshots[0]['SnapshotName']}"

    environment_file = tmp_path / "ledger.env"
    environment_file.write_text("LEDGER_DB_HOST=old-primary.example\nLEDGER_MODE=live\n")
    ledger = ansible.playbook(LEVEL1, {**plan, "component": "ledger", "confirm": "yes"})
    assert ledger.ok, ledger.tail()
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cloud["restored_cluster"])["DBClusters"][0]
    assert environment_file.read_text().splitlines() == [
        f"LEDGER_DB_HOST={cluster['Endpoint']}", "LEDGER_MODE=live", f"LEDGER_DB_PORT={cluster['Port']}"]
    origin = {item["Key"]: item["Value"] for item in cluster["TagList"]}["resilience.dr:restored-from"]
    assert origin == f"cluster_point_in_time:{cloud['cluster']}"
    assert [member["DBInstanceIdentifier"] for member in cluster["DBClusterMembers"]] == [f"{cloud['restored_cluster']}-1"]

    again = ansible.playbook(LEVEL1, {**plan, "component": "ledger", "confirm": "yes"})
    assert again.ok and not again.result("Restore the Aurora cluster with its instances - ledger")["changed"]
