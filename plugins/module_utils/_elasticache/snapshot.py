# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""elasticache_backup: a manual snapshot of a replication group or cache cluster, tagged, waited for, optionally copied.

community.aws.elasticache_snapshot creates a snapshot but neither tags it nor waits for it, and its copy is an
export to an S3 bucket: a backup that is still being made, or that a restore cannot find by its component, is not
one a recovery can use. A snapshot that exists is not taken again (its tags are brought in line).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._elasticache.api import (
    ElastiCache,
    snapshot_facts,
    wait_snapshot,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Progress, tags_to_list

IAM_HINT = (
    "the backup role needs elasticache:CreateSnapshot, elasticache:CopySnapshot, elasticache:DescribeSnapshots, "
    "elasticache:AddTagsToResource and elasticache:ListTagsForResource (see docs/elasticache.md)"
)


@dataclass
class BackupRequest:
    snapshot_name: str
    replication_group_id: str | None = None
    cache_cluster_id: str | None = None
    target_snapshot_name: str | None = None
    kms_key_id: str | None = None
    tags: dict[str, str] | None = None
    wait: bool = True
    wait_timeout: float = 1800
    poll_interval: float = 2.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> BackupRequest:
        tags = params.get("tags")
        return cls(
            snapshot_name=params["snapshot_name"],
            replication_group_id=params.get("replication_group_id"),
            cache_cluster_id=params.get("cache_cluster_id"),
            target_snapshot_name=params.get("target_snapshot_name"),
            kms_key_id=params.get("kms_key_id"),
            tags={str(key): "" if value is None else str(value) for key, value in tags.items()} if tags is not None else None,
            wait=bool(params.get("wait", True)),
            wait_timeout=float(params.get("wait_timeout") or 1800),
        )

    def source(self) -> str:
        if self.replication_group_id:
            return f"replication group {self.replication_group_id}"
        return f"cache cluster {self.cache_cluster_id}"


def plan(api: ElastiCache, request: BackupRequest) -> tuple[list[str], dict[str, t.Any]]:
    """The actions a run would take (create, tag, copy, tag-copy) and what ElastiCache holds now."""
    actions: list[str] = []
    current = api.snapshot(request.snapshot_name)
    copy = api.snapshot(request.target_snapshot_name) if request.target_snapshot_name else None
    found: dict[str, t.Any] = {"snapshot": current, "copy": copy, "snapshot_tags": {}, "copy_tags": {}}
    if current is None:
        if not (request.replication_group_id or request.cache_cluster_id):
            raise ConfigurationError(
                f"ElastiCache snapshot {request.snapshot_name} not found in {api.region}; give replication_group_id or "
                f"cache_cluster_id to take it, or check snapshot_name and region")
        source = (api.replication_group(request.replication_group_id) if request.replication_group_id
                  else api.cache_cluster(t.cast(str, request.cache_cluster_id)))
        if source is None:
            raise ConfigurationError(f"{request.source()} not found in {api.region}, so snapshot {request.snapshot_name} "
                                     f"cannot be taken; check the identifier and region")
        actions.append(f"create snapshot {request.snapshot_name} of {request.source()}")
    else:
        of = current.get("ReplicationGroupId") or current.get("CacheClusterId")
        wanted = request.replication_group_id or request.cache_cluster_id
        if wanted and of and of != wanted:
            raise ConfigurationError(
                f"ElastiCache snapshot {request.snapshot_name} in {api.region} exists but is a snapshot of {of}, not "
                f"{wanted}; choose another snapshot_name")
        found["snapshot_tags"] = api.tags(current.get("ARN"))
        if request.tags and any(found["snapshot_tags"].get(key) != value for key, value in request.tags.items()):
            actions.append(f"tag snapshot {request.snapshot_name}")
    if request.target_snapshot_name:
        if copy is None:
            actions.append(f"copy snapshot {request.snapshot_name} to {request.target_snapshot_name}")
        else:
            found["copy_tags"] = api.tags(copy.get("ARN"))
            if request.tags and any(found["copy_tags"].get(key) != value for key, value in request.tags.items()):
                actions.append(f"tag snapshot {request.target_snapshot_name}")
    return actions, found


def apply(api: ElastiCache, request: BackupRequest, actions: list[str], progress: Progress) -> None:
    tags = tags_to_list(request.tags or {})
    tagged: dict[str, t.Any] = {"Tags": tags} if tags else {}
    for action in actions:
        if action.startswith("create "):
            source: dict[str, t.Any] = (
                {"ReplicationGroupId": request.replication_group_id} if request.replication_group_id
                else {"CacheClusterId": request.cache_cluster_id})
            response = api.call(f"create snapshot {request.snapshot_name} of {request.source()}", "create_snapshot",
                                SnapshotName=request.snapshot_name, **source, **tagged)
            status = ((response or {}).get("Snapshot") or {}).get("SnapshotStatus")
            if status:
                progress.saw(f"ElastiCache snapshot {request.snapshot_name} in {api.region}", status)
        elif action.startswith("copy "):
            # A snapshot is copied only once it is available.
            wait_snapshot(api, request.snapshot_name, request.wait_timeout, progress, request.poll_interval)
            key: dict[str, t.Any] = {"KmsKeyId": request.kms_key_id} if request.kms_key_id else {}
            api.call(f"copy snapshot {request.snapshot_name} to {request.target_snapshot_name}", "copy_snapshot",
                     SourceSnapshotName=request.snapshot_name, TargetSnapshotName=request.target_snapshot_name,
                     **key, **tagged)
        elif action.startswith("tag "):
            name = action.split()[-1]
            arn = (api.snapshot(name) or {}).get("ARN")
            api.call(f"tag snapshot {name}", "add_tags_to_resource", ResourceName=arn, Tags=tags)


def run(api: ElastiCache, request: BackupRequest, *, check_mode: bool, diff: bool) -> dict[str, t.Any]:
    progress = Progress()
    actions, found = plan(api, request)
    before = {"snapshot": snapshot_facts(found["snapshot"], api.region, found["snapshot_tags"]),
              "copy": snapshot_facts(found["copy"], api.region, found["copy_tags"])}
    after = before
    snapshot: dict[str, t.Any] | None
    copy: dict[str, t.Any] | None
    if not check_mode:
        try:
            apply(api, request, actions, progress)
            if request.wait:
                snapshot = wait_snapshot(api, request.snapshot_name, request.wait_timeout, progress, request.poll_interval)
                copy = (wait_snapshot(api, request.target_snapshot_name, request.wait_timeout, progress, request.poll_interval)
                        if request.target_snapshot_name else None)
            else:
                snapshot = api.snapshot(request.snapshot_name)
                copy = api.snapshot(request.target_snapshot_name) if request.target_snapshot_name else None
        except DrError as error:
            error.details.setdefault("progress", progress.events)
            error.details.setdefault("actions", actions)
            error.details.setdefault("changed", bool(actions))
            raise
        after = {"snapshot": snapshot_facts(snapshot, api.region, api.tags((snapshot or {}).get("ARN"))),
                 "copy": snapshot_facts(copy, api.region, api.tags((copy or {}).get("ARN"))) if copy else None}
    facts = after["snapshot"]
    result: dict[str, t.Any] = {
        "changed": bool(actions),
        "actions": actions,
        "snapshot_name": request.snapshot_name,
        "backup_id": request.snapshot_name,
        "snapshot": facts,
        "copy": after["copy"],
        "progress": progress.events,
    }
    if facts and facts.get("snapshot_create_time"):
        result["consistency_point"] = {"time": facts["snapshot_create_time"]}
    if diff:
        result["diff"] = {"before": {key: value for key, value in before.items() if value},
                          "after": {key: value for key, value in after.items() if value} if not check_mode
                          else {"actions": actions}}
    return result
