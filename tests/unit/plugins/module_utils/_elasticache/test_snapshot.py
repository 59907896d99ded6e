# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ElastiCache snapshots and restores against a real botocore client whose answers are scripted with Stubber.

The Stubber is a stand-in for what the lab's moto server (5.2.5) cannot do: it does not implement copy_snapshot,
reports every snapshot and group "available" at once (never "creating"), and never fails one. What moto does do
(snapshots, tags, new groups and clusters, idempotence) runs against it in tests/integration/test_elasticache.py.
"""

from __future__ import annotations

import typing as t

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.resilience.dr.plugins.module_utils._elasticache import restore, snapshot
from ansible_collections.resilience.dr.plugins.module_utils._elasticache.api import ElastiCache
from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, TargetNotEmpty
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._aws.stubs import stubbed_client

ARN = "arn:aws:elasticache:eu-west-1:111122223333:snapshot:"


@pytest.fixture
def stubbed() -> t.Iterator[tuple[ElastiCache, Stubber]]:
    with stubbed_client("elasticache", "eu-west-1") as (client, stubber):
        yield ElastiCache(client, "eu-west-1", "hint"), stubber


def snap(name: str, status: str = "available", **extra: t.Any) -> dict[str, t.Any]:
    return {"Snapshots": [{"SnapshotName": name, "SnapshotStatus": status, "ARN": ARN + name,
                           "CacheNodeType": "cache.r7g.large", **extra}]}


def not_found(stubber: Stubber, method: str, code: str) -> None:
    stubber.add_client_error(method, service_error_code=code, http_status_code=404)


def backup_request(**params: t.Any) -> snapshot.BackupRequest:
    made = snapshot.BackupRequest.from_params({"snapshot_name": "sessions-1", "replication_group_id": "sessions",
                                               "tags": {"resilience-dr-component": "sessions"}, **params})
    made.poll_interval = 0.01
    return made


def test_a_copy_waits_for_its_source_then_is_made_and_waited_for(stubbed):
    api, stubber = stubbed
    stubber.add_response("describe_snapshots", snap("sessions-1"))
    not_found(stubber, "describe_snapshots", "SnapshotNotFoundFault")  # the copy is not there yet
    stubber.add_response("list_tags_for_resource", {"TagList": [{"Key": "resilience-dr-component", "Value": "sessions"}]})
    stubber.add_response("describe_snapshots", snap("sessions-1"))  # the source is available
    stubber.add_response("copy_snapshot", {"Snapshot": {"SnapshotName": "sessions-1-copy", "SnapshotStatus": "creating"}}, {
        "SourceSnapshotName": "sessions-1", "TargetSnapshotName": "sessions-1-copy", "KmsKeyId": "alias/cache",
        "Tags": [{"Key": "resilience-dr-component", "Value": "sessions"}]})
    stubber.add_response("describe_snapshots", snap("sessions-1"))
    stubber.add_response("describe_snapshots", snap("sessions-1-copy", "copying"))
    stubber.add_response("describe_snapshots", snap("sessions-1-copy"))
    stubber.add_response("list_tags_for_resource", {"TagList": []})
    stubber.add_response("list_tags_for_resource", {"TagList": []})

    result = snapshot.run(api, backup_request(target_snapshot_name="sessions-1-copy", kms_key_id="alias/cache"),
                          check_mode=False, diff=False)

    assert result["changed"] and result["actions"] == ["copy snapshot sessions-1 to sessions-1-copy"]
    assert [event["status"] for event in result["progress"] if "copy" in event["resource"]] == ["copying", "available"]
    assert result["copy"]["status"] == "available"


def test_a_failed_snapshot_ends_the_wait_with_its_history(stubbed):
    api, stubber = stubbed
    not_found(stubber, "describe_snapshots", "SnapshotNotFoundFault")
    stubber.add_response("describe_replication_groups", {"ReplicationGroups": [{"ReplicationGroupId": "sessions"}]})
    stubber.add_response("create_snapshot", {"Snapshot": {"SnapshotName": "sessions-1", "SnapshotStatus": "creating"}},
                         {"SnapshotName": "sessions-1", "ReplicationGroupId": "sessions", "Tags": ANY})
    stubber.add_response("describe_snapshots", snap("sessions-1", "failed"))
    with pytest.raises(DrError) as raised:
        snapshot.run(api, backup_request(), check_mode=False, diff=False)
    assert "ElastiCache snapshot sessions-1 in eu-west-1 is failed (status history: creating" in raised.value.message
    assert raised.value.details["changed"] is True


def test_restore_takes_the_newest_tagged_snapshot_and_waits_for_the_new_group(stubbed):
    api, stubber = stubbed
    stubber.add_response("describe_snapshots", {"Snapshots": [
        snap("sessions-20261122t040000z")["Snapshots"][0], snap("sessions-20261123t040000z")["Snapshots"][0],
        snap("other-20261124t040000z")["Snapshots"][0]]})
    for component in ("sessions", "sessions", "other"):
        stubber.add_response("list_tags_for_resource", {"TagList": [{"Key": "resilience-dr-component", "Value": component}]})
    stubber.add_response("describe_snapshots", snap("sessions-20261123t040000z"))
    not_found(stubber, "describe_replication_groups", "ReplicationGroupNotFoundFault")
    stubber.add_response("create_replication_group", {"ReplicationGroup": {"Status": "creating"}}, {
        "ReplicationGroupId": "sessions-restored", "ReplicationGroupDescription": ANY,
        "SnapshotName": "sessions-20261123t040000z", "Engine": "redis", "NumCacheClusters": 2,
        "CacheNodeType": "cache.r7g.large",
        "Tags": [{"Key": "resilience.dr:restored-from", "Value": "snapshot:sessions-20261123t040000z"}]})
    stubber.add_response("describe_replication_groups", {"ReplicationGroups": [{"Status": "creating"}]})
    stubber.add_response("describe_replication_groups", {"ReplicationGroups": [{"Status": "available", "NodeGroups": [
        {"PrimaryEndpoint": {"Address": "master.sessions-restored.x.euw1.cache.amazonaws.com", "Port": 6379}}]}]})
    request = restore.RestoreRequest.from_params({"target_id": "sessions-restored", "num_cache_clusters": 2,
                                                  "snapshot_tags": {"resilience-dr-component": "sessions"}})
    request.poll_interval = 0.01

    result = restore.run(api, request, check_mode=False, diff=False)

    assert result["backup_id"] == "sessions-20261123t040000z" and result["port"] == 6379
    assert [event["status"] for event in result["progress"]] == ["creating", "available"]


def test_restore_refuses_a_group_it_did_not_restore(stubbed):
    api, stubber = stubbed
    stubber.add_response("describe_snapshots", snap("sessions-1"))
    stubber.add_response("describe_replication_groups", {"ReplicationGroups": [{"ARN": "arn:group"}]})
    stubber.add_response("list_tags_for_resource", {"TagList": []})
    request = restore.RestoreRequest.from_params({"target_id": "sessions", "snapshot_name": "sessions-1"})
    with pytest.raises(TargetNotEmpty, match="replication group sessions exists in eu-west-1 and was not restored by"):
        restore.run(api, request, check_mode=True, diff=False)


def test_a_restore_time_takes_the_newest_snapshot_taken_at_or_before_it(stubbed):
    from datetime import datetime, timezone

    def at(day: int) -> dict[str, t.Any]:
        return {"NodeSnapshots": [{"SnapshotCreateTime": datetime(2026, 11, day, 4, 0, tzinfo=timezone.utc)}]}

    api, stubber = stubbed
    stubber.add_response("describe_snapshots", {"Snapshots": [
        snap("sessions-a", **at(21))["Snapshots"][0], snap("sessions-b", **at(22))["Snapshots"][0],
        snap("sessions-c", **at(23))["Snapshots"][0], snap("sessions-unknown")["Snapshots"][0]]})
    for _snapshot in range(4):
        stubber.add_response("list_tags_for_resource", {"TagList": [{"Key": "resilience-dr-component", "Value": "sessions"}]})
    chosen = restore.newest_snapshot(api, {"resilience-dr-component": "sessions"},
                                     datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc))
    assert chosen["SnapshotName"] == "sessions-b"
