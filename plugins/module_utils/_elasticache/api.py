# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One region's ElastiCache API: reads of snapshots, replication groups and cache clusters, their facts and waits.

The client comes from _aws.clients.aws_client (the project's retry policy), so every call passes aws_retry=True.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import (
    BotoCoreError,
    ClientError,
    error_code,
    failure,
)
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Progress, tags_to_dict, wait_until
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

NOT_FOUND = {
    "snapshot": ("SnapshotNotFoundFault",),
    "replication_group": ("ReplicationGroupNotFoundFault",),
    "cache_cluster": ("CacheClusterNotFound", "CacheClusterNotFoundFault"),
}
SNAPSHOT_FAILED = frozenset({"failed"})
CLUSTER_FAILED = frozenset({"create-failed", "incompatible-network", "restore-failed", "deleting", "deleted"})


class ElastiCache:
    """One region's ElastiCache API, with errors that say what failed and what to do."""

    def __init__(self, client: t.Any, region: str, iam_hint: str) -> None:
        self.client = client
        self.region = region
        self.iam_hint = iam_hint

    def call(self, what: str, method: str, missing: str | None = None, **kwargs: t.Any) -> t.Any:
        """Call method; a NotFound of kind `missing` returns None, other failures raise DrError."""
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except ClientError as error:
            if missing and error_code(error) in NOT_FOUND[missing]:
                return None
            raise failure(error, f"ElastiCache in {self.region}", what, self.iam_hint) from None
        except BotoCoreError as error:
            raise failure(error, f"ElastiCache in {self.region}", what, self.iam_hint) from None

    def snapshot(self, name: str) -> dict[str, t.Any] | None:
        found = self.call(f"describe snapshot {name}", "describe_snapshots", missing="snapshot", SnapshotName=name)
        items = (found or {}).get("Snapshots") or []
        return items[0] if items else None

    def snapshots(self) -> list[dict[str, t.Any]]:
        """Every snapshot of the region, page by page."""
        found: list[dict[str, t.Any]] = []
        marker: str | None = None
        while True:
            page = self.call("list the snapshots", "describe_snapshots", MaxRecords=50, **({"Marker": marker} if marker else {}))
            found.extend((page or {}).get("Snapshots") or [])
            marker = (page or {}).get("Marker")
            if not marker:
                return found

    def replication_group(self, name: str) -> dict[str, t.Any] | None:
        found = self.call(f"describe replication group {name}", "describe_replication_groups",
                          missing="replication_group", ReplicationGroupId=name)
        items = (found or {}).get("ReplicationGroups") or []
        return items[0] if items else None

    def cache_cluster(self, name: str) -> dict[str, t.Any] | None:
        found = self.call(f"describe cache cluster {name}", "describe_cache_clusters", missing="cache_cluster",
                          CacheClusterId=name, ShowCacheNodeInfo=True)
        items = (found or {}).get("CacheClusters") or []
        return items[0] if items else None

    def tags(self, arn: str | None) -> dict[str, str]:
        if not arn:
            return {}
        return tags_to_dict((self.call(f"list the tags of {arn}", "list_tags_for_resource", ResourceName=arn) or {}).get("TagList"))


def snapshot_time(snapshot: dict[str, t.Any]) -> datetime | None:
    """When the snapshot's data was taken: the newest of its nodes' snapshot times (absent on moto)."""
    times = [node.get("SnapshotCreateTime") for node in snapshot.get("NodeSnapshots") or []]
    known = [moment.astimezone(timezone.utc) for moment in times if isinstance(moment, datetime)]
    return max(known) if known else None


def snapshot_facts(snapshot: dict[str, t.Any] | None, region: str, tags: dict[str, str] | None = None) -> dict[str, t.Any] | None:
    if snapshot is None:
        return None
    taken = snapshot_time(snapshot)
    return {
        "snapshot_name": snapshot.get("SnapshotName"),
        "arn": snapshot.get("ARN"),
        "region": region,
        "status": snapshot.get("SnapshotStatus"),
        "source": snapshot.get("SnapshotSource"),
        "replication_group_id": snapshot.get("ReplicationGroupId"),
        "cache_cluster_id": snapshot.get("CacheClusterId"),
        "engine": snapshot.get("Engine"),
        "engine_version": snapshot.get("EngineVersion"),
        "cache_node_type": snapshot.get("CacheNodeType"),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "snapshot_create_time": format_time(taken) if taken else None,
        "tags": dict(tags or {}),
    }


def group_facts(group: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if group is None:
        return None
    node_groups = group.get("NodeGroups") or []
    primary = (node_groups[0].get("PrimaryEndpoint") or {}) if node_groups else {}
    configuration = group.get("ConfigurationEndpoint") or {}
    endpoint = configuration or primary
    return {
        "kind": "replication_group",
        "id": group.get("ReplicationGroupId"),
        "arn": group.get("ARN"),
        "region": region,
        "status": group.get("Status"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "member_clusters": list(group.get("MemberClusters") or []),
        "cache_node_type": group.get("CacheNodeType"),
    }


def cluster_facts(found: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if found is None:
        return None
    nodes = found.get("CacheNodes") or []
    endpoint = (nodes[0].get("Endpoint") or {}) if nodes else {}
    return {
        "kind": "cache_cluster",
        "id": found.get("CacheClusterId"),
        "arn": found.get("ARN"),
        "region": region,
        "status": found.get("CacheClusterStatus"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "member_clusters": [],
        "cache_node_type": found.get("CacheNodeType"),
    }


def wait_snapshot(api: ElastiCache, name: str, timeout: float, progress: Progress, interval: float) -> dict[str, t.Any]:
    item = wait_until(
        lambda: api.snapshot(name), resource=f"ElastiCache snapshot {name} in {api.region}", status_key="SnapshotStatus",
        wanted=lambda found: found is not None and found.get("SnapshotStatus") == "available", failed=SNAPSHOT_FAILED,
        timeout=timeout, progress=progress, interval=interval,
        hint="The snapshot keeps being made: run again with a longer wait_timeout (it is not taken twice).",
    )
    return t.cast(dict, item)


def wait_target(api: ElastiCache, kind: str, name: str, timeout: float, progress: Progress,
                interval: float) -> dict[str, t.Any] | None:
    if kind == "replication_group":
        return wait_until(
            lambda: api.replication_group(name), resource=f"replication group {name} in {api.region}", status_key="Status",
            wanted=lambda found: found is not None and found.get("Status") == "available", failed=CLUSTER_FAILED,
            timeout=timeout, progress=progress, interval=interval,
            hint="Run again with a longer wait_timeout to keep waiting (the restore is not repeated).",
        )
    return wait_until(
        lambda: api.cache_cluster(name), resource=f"cache cluster {name} in {api.region}", status_key="CacheClusterStatus",
        wanted=lambda found: found is not None and found.get("CacheClusterStatus") == "available", failed=CLUSTER_FAILED,
        timeout=timeout, progress=progress, interval=interval,
        hint="Run again with a longer wait_timeout to keep waiting (the restore is not repeated).",
    )
