# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""elasticache_restore: a new replication group (or cache cluster) seeded from an ElastiCache snapshot.

ElastiCache restores a snapshot only into a new cluster (create_replication_group or create_cache_cluster with
SnapshotName). Idempotence rests on the target's id: the new group carries RESTORED_FROM_TAG from the call that
creates it, so a later run that finds it restored from the same snapshot changes nothing, and one restored from
anything else (or not by this module) is refused. community.aws.elasticache creates cache clusters but takes no
snapshot to seed them and makes no replication group.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ansible_collections.resilience.dr.plugins.module_utils._elasticache.api import (
    ElastiCache,
    cluster_facts,
    group_facts,
    snapshot_facts,
    snapshot_time,
    wait_target,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, TargetNotEmpty
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import RESTORED_FROM_TAG, Progress, tags_to_list
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time

IAM_HINT = (
    "the restore role needs elasticache:DescribeSnapshots, elasticache:DescribeReplicationGroups, "
    "elasticache:DescribeCacheClusters, elasticache:CreateReplicationGroup (or CreateCacheCluster), "
    "elasticache:AddTagsToResource and elasticache:ListTagsForResource (see docs/elasticache.md)"
)

# Options of the new group or cluster, by the API's name for each kind.
TARGET_OPTIONS: dict[str, tuple[str, str | None]] = {
    "cache_node_type": ("CacheNodeType", "CacheNodeType"),
    "engine_version": ("EngineVersion", "EngineVersion"),
    "cache_subnet_group_name": ("CacheSubnetGroupName", "CacheSubnetGroupName"),
    "security_group_ids": ("SecurityGroupIds", "SecurityGroupIds"),
    "cache_parameter_group_name": ("CacheParameterGroupName", "CacheParameterGroupName"),
    "kms_key_id": ("KmsKeyId", None),
}


@dataclass
class RestoreRequest:
    target: str  # replication_group, cache_cluster
    target_id: str
    snapshot_name: str | None = None
    snapshot_tags: dict[str, str] | None = None
    restore_time: datetime | None = None
    num_cache_clusters: int = 1
    options: dict[str, t.Any] | None = None
    tags: dict[str, str] | None = None
    wait: bool = True
    wait_timeout: float = 3600
    poll_interval: float = 2.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> RestoreRequest:
        if bool(params.get("snapshot_name")) == bool(params.get("snapshot_tags")):
            raise ConfigurationError("give exactly one of snapshot_name (that snapshot) and snapshot_tags (the newest "
                                     "available snapshot carrying all of them)")
        target = params.get("target") or "replication_group"
        if target == "cache_cluster" and params.get("kms_key_id"):
            raise ConfigurationError("kms_key_id applies to a replication group; a cache cluster is encrypted as its "
                                     "snapshot was")
        if params.get("restore_time") and not params.get("snapshot_tags"):
            raise ConfigurationError("restore_time picks the newest snapshot carrying snapshot_tags taken at or before it; "
                                     "give snapshot_tags with it (ElastiCache restores snapshots, never a point in time)")
        tags = params.get("tags") or {}
        snapshot_tags = params.get("snapshot_tags")
        return cls(
            target=target,
            target_id=params["target_id"].lower(),
            snapshot_name=params.get("snapshot_name"),
            snapshot_tags={str(key): "" if value is None else str(value) for key, value in snapshot_tags.items()}
            if snapshot_tags else None,
            restore_time=parse_time(params["restore_time"], "restore_time") if params.get("restore_time") else None,
            num_cache_clusters=int(params.get("num_cache_clusters") or 1),
            options={key: params[key] for key in TARGET_OPTIONS if params.get(key) is not None},
            tags={str(key): "" if value is None else str(value) for key, value in tags.items()},
            wait=bool(params.get("wait", True)),
            wait_timeout=float(params.get("wait_timeout") or 3600),
        )

    def describe(self) -> str:
        return f"{self.target.replace('_', ' ')} {self.target_id}"


def newest_snapshot(api: ElastiCache, tags: dict[str, str], not_after: datetime | None = None) -> dict[str, t.Any]:
    """The available snapshot carrying all of tags with the newest data (taken at or before not_after).

    ElastiCache's snapshot listing carries no tags, so each snapshot's tags are read. The time compared is the
    newest node snapshot time; a snapshot without one (moto reports none) sorts by its name, which for the backup
    role's snapshots ends in the UTC time it was taken; with not_after, only snapshots with a known time count.
    """
    wanted = ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
    tagged = [item for item in api.snapshots()
              if all(api.tags(item.get("ARN")).get(key) == value for key, value in tags.items())]
    usable = [item for item in tagged if item.get("SnapshotStatus") == "available"]
    if not_after is not None:
        usable = [item for item in usable if (snapshot_time(item) or not_after + timedelta(seconds=1)) <= not_after]
    if usable:
        return max(usable, key=lambda item: (_taken(item), str(item.get("SnapshotName"))))
    seen = "; ".join(f"{item.get('SnapshotName')} ({item.get('SnapshotStatus')}, taken {_taken(item) or 'at an unknown time'})"
                     for item in tagged) or "none"
    when = f" taken at or before {format_time(not_after)}" if not_after is not None else ""
    raise ConfigurationError(
        f"no available ElastiCache snapshot in {api.region} carries the tags {wanted}{when}, so there is nothing to restore; "
        f"snapshots with these tags there: {seen}. Take one (elasticache_backup) or name one with snapshot_name",
        snapshot_tags=tags,
    )


def _taken(snapshot: dict[str, t.Any]) -> str:
    moment = snapshot_time(snapshot)
    return format_time(moment) if moment is not None else ""


def _read_target(api: ElastiCache, request: RestoreRequest) -> dict[str, t.Any] | None:
    if request.target == "replication_group":
        return api.replication_group(request.target_id)
    return api.cache_cluster(request.target_id)


def _facts(found: dict[str, t.Any] | None, request: RestoreRequest, region: str) -> dict[str, t.Any] | None:
    return group_facts(found, region) if request.target == "replication_group" else cluster_facts(found, region)


def plan(api: ElastiCache, request: RestoreRequest) -> tuple[str, dict[str, t.Any] | None, str]:
    """(action, the target as found, the plan in words); action is restore or none."""
    existing = _read_target(api, request)
    wanted = f"snapshot:{request.snapshot_name}"
    if existing is not None:
        origin = api.tags(existing.get("ARN")).get(RESTORED_FROM_TAG)
        if origin == wanted:
            return "none", existing, f"{request.describe()} was already restored from snapshot {request.snapshot_name}"
        found = "was not restored by this collection" if not origin else f"was restored from {origin.replace(':', ' ', 1)}"
        raise TargetNotEmpty(
            f"{request.describe()} exists in {api.region} and {found}, not from snapshot {request.snapshot_name}; "
            f"choose another target_id, or delete it first (community.aws.elasticache state: absent)",
            target_id=request.target_id,
        )
    return "restore", None, f"restore snapshot {request.snapshot_name} into new {request.describe()}"


def apply(api: ElastiCache, request: RestoreRequest, snapshot: dict[str, t.Any], progress: Progress) -> None:
    tags = tags_to_list({**(request.tags or {}), RESTORED_FROM_TAG: f"snapshot:{request.snapshot_name}"})
    index = 0 if request.target == "replication_group" else 1
    options: dict[str, t.Any] = {}
    for key, value in (request.options or {}).items():
        name = TARGET_OPTIONS[key][index]
        if name:
            options[name] = value
    if "CacheNodeType" not in options and snapshot.get("CacheNodeType"):
        options["CacheNodeType"] = snapshot["CacheNodeType"]  # the snapshot's, as the option's documentation says
    if request.target == "replication_group":
        response = api.call(
            f"create replication group {request.target_id} from snapshot {request.snapshot_name}",
            "create_replication_group", ReplicationGroupId=request.target_id,
            ReplicationGroupDescription=f"restored from ElastiCache snapshot {request.snapshot_name}",
            SnapshotName=request.snapshot_name, Engine="redis", NumCacheClusters=request.num_cache_clusters,
            Tags=tags, **options,
        )
        status = ((response or {}).get("ReplicationGroup") or {}).get("Status")
    else:
        response = api.call(
            f"create cache cluster {request.target_id} from snapshot {request.snapshot_name}", "create_cache_cluster",
            CacheClusterId=request.target_id, SnapshotName=request.snapshot_name, Engine="redis", NumCacheNodes=1,
            Tags=tags, **options,
        )
        status = ((response or {}).get("CacheCluster") or {}).get("CacheClusterStatus")
    if status:
        progress.saw(f"{request.describe()} in {api.region}", status)


def run(api: ElastiCache, request: RestoreRequest, *, check_mode: bool, diff: bool) -> dict[str, t.Any]:
    progress = Progress()
    if request.snapshot_tags:
        chosen = newest_snapshot(api, request.snapshot_tags, request.restore_time)
        request = replace(request, snapshot_name=str(chosen["SnapshotName"]))
    snapshot = api.snapshot(t.cast(str, request.snapshot_name))
    action, existing, reason = plan(api, request)
    if snapshot is None and action == "restore":
        raise ConfigurationError(
            f"ElastiCache snapshot {request.snapshot_name} not found in {api.region}, so {request.describe()} cannot be "
            f"restored from it; check snapshot_name and region", snapshot_name=request.snapshot_name)
    if snapshot is not None and snapshot.get("SnapshotStatus") != "available" and action == "restore":
        raise ConfigurationError(
            f"ElastiCache snapshot {request.snapshot_name} in {api.region} is {snapshot.get('SnapshotStatus')}, not "
            f"available; wait for it (elasticache_backup waits) or choose another", snapshot_name=request.snapshot_name)
    changed = action == "restore"
    found = existing
    if not check_mode and changed:
        try:
            apply(api, request, t.cast(dict, snapshot), progress)
            found = (wait_target(api, request.target, request.target_id, request.wait_timeout, progress, request.poll_interval)
                     if request.wait else _read_target(api, request))
        except DrError as error:
            error.details.setdefault("progress", progress.events)
            error.details.setdefault("changed", True)
            error.details.setdefault("target_id", request.target_id)
            raise
    facts = _facts(found, request, api.region)
    used = snapshot_facts(snapshot, api.region)
    result: dict[str, t.Any] = {
        "changed": changed,
        "action": action,
        "plan": reason,
        "target_id": request.target_id,
        "backup_id": request.snapshot_name,
        "snapshot": used,
        "restored": facts,
        "endpoint": facts["endpoint"] if facts else None,
        "port": facts["port"] if facts else None,
        "status": facts["status"] if facts else None,
        "progress": progress.events,
    }
    if used and used.get("snapshot_create_time"):
        result["consistency_point"] = {"time": used["snapshot_create_time"]}
    if diff:
        before = {} if existing is None else {"target_id": request.target_id, "restored_from": request.snapshot_name}
        result["diff"] = {"before": before, "after": {"target_id": request.target_id, "kind": request.target,
                                                      "restored_from": request.snapshot_name}}
    return result
