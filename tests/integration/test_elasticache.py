# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""elasticache_backup and elasticache_restore through ansible-playbook against the lab's moto server.

What moto 5.2.5 does and does not do for ElastiCache, and so what is checked here:
- create_snapshot, describe_snapshots and tags: implemented; a snapshot is "available" at once.
- create_replication_group / create_cache_cluster with SnapshotName: accepted, but moto neither checks that the
  snapshot exists nor copies any data (it has no data plane), and records no link to the snapshot. So the test
  checks what a user reads from the API: the new group, its endpoint and the tag naming the snapshot it was restored
  from; that the group's keys are the snapshot's is for a drill on real ElastiCache.
- copy_snapshot: not implemented ("The copy_snapshot action has not been implemented"); the copy is covered by the
  Stubber-driven unit tests (tests/unit/plugins/module_utils/_elasticache/test_snapshot.py), a stand-in.
"""

from __future__ import annotations

import typing as t

import pytest

from .conftest import boto3_client
from .rds_common import unique

BACKUP = "resilience.dr.elasticache_backup"
RESTORE = "resilience.dr.elasticache_restore"


def succeeded(result: dict, changed: bool) -> dict:
    assert not result["failed"], result.get("msg", result)
    assert result["changed"] is changed, result
    return result


@pytest.fixture
def elasticache(aws):
    return boto3_client(aws, "elasticache")


@pytest.fixture
def made(elasticache) -> t.Iterator[dict[str, list[str]]]:
    """The groups, clusters and snapshots a test makes, deleted afterwards whatever the outcome."""
    things: dict[str, list[str]] = {"groups": [], "clusters": [], "snapshots": []}
    yield things
    for name in things["snapshots"]:
        try:
            elasticache.delete_snapshot(SnapshotName=name)
        except elasticache.exceptions.SnapshotNotFoundFault:
            pass
    for name in things["groups"]:
        try:
            elasticache.delete_replication_group(ReplicationGroupId=name)
        except elasticache.exceptions.ReplicationGroupNotFoundFault:
            pass
    for name in things["clusters"]:
        try:
            elasticache.delete_cache_cluster(CacheClusterId=name)
        except elasticache.exceptions.CacheClusterNotFoundFault:
            pass


def tags_of(elasticache, arn: str) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in elasticache.list_tags_for_resource(ResourceName=arn)["TagList"]}


def test_snapshot_taken_once_then_restored_into_a_new_replication_group_once(ansible, aws, elasticache, made):
    source = unique("sessions")
    elasticache.create_replication_group(ReplicationGroupId=source, ReplicationGroupDescription="sessions",
                                         Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    made["groups"].append(source)
    snapshot = f"{source}-20261123t040000z"
    made["snapshots"].append(snapshot)
    component = {"resilience-dr-plan": "shop", "resilience-dr-component": source}
    backup = {**aws, "replication_group_id": source, "snapshot_name": snapshot, "tags": component}
    target = unique("sessions-restored")
    made["groups"].append(target)
    restore = {**aws, "snapshot_tags": component, "target_id": target, "cache_node_type": "cache.t3.micro",
               "tags": {"incident": "INC-4711"}}

    results = ansible.sequence([
        (BACKUP, backup, {"check": True}),
        (BACKUP, backup),
        (BACKUP, backup),
        (BACKUP, backup, {"check": True}),
        (RESTORE, restore, {"check": True, "diff": True}),
        (RESTORE, restore),
        (RESTORE, restore),
        (RESTORE, restore, {"check": True}),
    ])
    backup_planned, taken, backup_again, backup_checked, planned, restored, again, checked = results
    succeeded(backup_planned, True)
    assert backup_planned["snapshot"] is None and backup_planned["actions"] == [
        f"create snapshot {snapshot} of replication group {source}"]
    succeeded(taken, True)
    assert taken["snapshot"]["status"] == "available" and taken["backup_id"] == snapshot
    found = elasticache.describe_snapshots(SnapshotName=snapshot)["Snapshots"][0]
    assert found["ReplicationGroupId"] == source and tags_of(elasticache, found["ARN"]) == component
    for result in (backup_again, backup_checked):
        succeeded(result, False)
        assert result["actions"] == []

    succeeded(planned, True)
    assert planned["restored"] is None and planned["backup_id"] == snapshot and planned["diff"]["before"] == {}
    succeeded(restored, True)
    assert restored["backup_id"] == snapshot and restored["status"] == "available" and restored["endpoint"], restored
    assert restored["port"] == 6379 and restored["progress"][-1]["status"] == "available"
    group = elasticache.describe_replication_groups(ReplicationGroupId=target)["ReplicationGroups"][0]
    assert tags_of(elasticache, group["ARN"]) == {"resilience.dr:restored-from": f"snapshot:{snapshot}",
                                                  "incident": "INC-4711"}
    for result in (again, checked):
        succeeded(result, False)
        assert result["action"] == "none" and result["endpoint"] == restored["endpoint"]


def test_restore_refuses_a_group_restored_from_another_snapshot_and_a_missing_snapshot(ansible, aws, elasticache, made):
    source = unique("sessions")
    elasticache.create_cache_cluster(CacheClusterId=source, Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    made["clusters"].append(source)
    first, second = unique("sessions-a"), unique("sessions-b")
    made["snapshots"] += [first, second]
    target = unique("sessions-restored")
    made["clusters"].append(target)
    taken_first, taken_second, restored, refused, missing = ansible.sequence([
        (BACKUP, {**aws, "cache_cluster_id": source, "snapshot_name": first}),
        (BACKUP, {**aws, "cache_cluster_id": source, "snapshot_name": second}),
        (RESTORE, {**aws, "target": "cache_cluster", "snapshot_name": first, "target_id": target}),
        (RESTORE, {**aws, "target": "cache_cluster", "snapshot_name": second, "target_id": target}),
        (RESTORE, {**aws, "snapshot_name": unique("no-such-snapshot"), "target_id": unique("sessions-none")}),
    ])
    succeeded(taken_first, True)
    succeeded(taken_second, True)
    succeeded(restored, True)
    assert restored["restored"]["kind"] == "cache_cluster"
    assert refused["failed"] and not refused["changed"]
    assert f"cache cluster {target} exists in {aws['region']} and was restored from snapshot {first}" in refused["msg"]
    assert missing["failed"] and not missing["changed"] and "not found in" in missing["msg"]
    assert "check snapshot_name and region" in missing["msg"]


@pytest.mark.skip(reason="moto 5.2.5 does not implement ElastiCache copy_snapshot; covered by the Stubber unit tests "
                         "in tests/unit/plugins/module_utils/_elasticache/test_snapshot.py")
def test_snapshot_copied_under_another_name():
    """Left here so that the gap is visible in every run."""
