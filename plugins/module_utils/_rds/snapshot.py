# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_snapshot: a manual snapshot, its copy in another region, tags, deletion.

The plan lists the actions (create, tag, copy, delete) computed from what RDS
reports now; check mode returns it, a real run applies it in order. A copy to
another region is made from the source snapshot's ARN, re-encrypted with the
destination region's kms_key_id (RDS requires a key of the destination region
for an encrypted snapshot), and recognised on later runs by its source.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    SNAPSHOT_FAILED,
    Progress,
    Rds,
    kms_key_matches,
    snapshot_facts,
    tags_to_dict,
    tags_to_list,
    wait_until,
)

IAM_HINT = (
    "the backup role needs rds:DescribeDBInstances, rds:DescribeDBSnapshots, rds:CreateDBSnapshot, "
    "rds:CopyDBSnapshot, rds:AddTagsToResource, rds:RemoveTagsFromResource (and rds:DeleteDBSnapshot for "
    "state absent), plus kms:CreateGrant and kms:DescribeKey on the destination key for an encrypted copy "
    "(see docs/rds.md)"
)


@dataclass
class SnapshotRequest:
    db_snapshot_identifier: str
    state: str = "present"
    db_instance_identifier: str | None = None
    copy_to_region: str | None = None
    target_db_snapshot_identifier: str | None = None
    kms_key_id: str | None = None
    tags: dict[str, str] | None = None
    purge_tags: bool = False
    wait: bool = True
    wait_timeout: float = 1800
    poll_interval: float = 2.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> SnapshotRequest:
        tags = params.get("tags")
        return cls(
            db_snapshot_identifier=params["db_snapshot_identifier"].lower(),
            state=params.get("state") or "present",
            db_instance_identifier=(params.get("db_instance_identifier") or "").lower() or None,
            copy_to_region=params.get("copy_to_region"),
            target_db_snapshot_identifier=(params.get("target_db_snapshot_identifier") or "").lower() or None,
            kms_key_id=params.get("kms_key_id"),
            tags=None if tags is None else {str(key): "" if value is None else str(value) for key, value in tags.items()},
            purge_tags=bool(params.get("purge_tags")),
            wait=bool(params.get("wait", True)),
            wait_timeout=float(params.get("wait_timeout") or 1800),
        )

    @property
    def copy_identifier(self) -> str:
        return self.target_db_snapshot_identifier or self.db_snapshot_identifier


@dataclass
class Action:
    kind: str  # create, tag, copy, delete
    region: str
    db_snapshot_identifier: str
    detail: str
    tags_add: dict[str, str] = field(default_factory=dict)
    tags_remove: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.kind} {self.db_snapshot_identifier} in {self.region}: {self.detail}"


def tag_changes(current: dict[str, str], wanted: dict[str, str] | None, purge: bool) -> tuple[dict[str, str], list[str]]:
    if wanted is None:
        return {}, []
    add = {key: value for key, value in wanted.items() if current.get(key) != value}
    remove = sorted(key for key in current if key not in wanted and not key.startswith("aws:")) if purge else []
    return add, remove


def plan(source: Rds, destination: Rds | None, request: SnapshotRequest) -> tuple[list[Action], dict[str, t.Any]]:
    """The actions a run would take and what RDS holds now ({"snapshot": ..., "copy": ...})."""
    actions: list[Action] = []
    snapshot_id = request.db_snapshot_identifier
    if destination is not None and destination.region == source.region and request.copy_identifier == snapshot_id:
        raise ConfigurationError(
            f"copy_to_region {destination.region} is the snapshot's own region: give target_db_snapshot_identifier "
            f"for a copy in the same region, or the secondary region in copy_to_region"
        )
    current = source.snapshot(snapshot_id)
    copy = destination.snapshot(request.copy_identifier) if destination is not None else None
    found = {"snapshot": current, "copy": copy}

    if request.state == "absent":
        if current is not None:
            actions.append(Action("delete", source.region, snapshot_id, "delete the manual snapshot"))
        if destination is not None and copy is not None:
            actions.append(Action("delete", destination.region, request.copy_identifier, "delete the copy"))
        return actions, found

    encrypted = False
    if current is None:
        if not request.db_instance_identifier:
            raise ConfigurationError(
                f"DB snapshot {snapshot_id} not found in {source.region}; give db_instance_identifier to create it, "
                f"or check db_snapshot_identifier and region",
                db_snapshot_identifier=snapshot_id,
            )
        instance = source.instance(request.db_instance_identifier)
        if instance is None:
            raise ConfigurationError(
                f"DB instance {request.db_instance_identifier} not found in {source.region}, so snapshot {snapshot_id} "
                f"cannot be taken; check db_instance_identifier and region",
                db_instance_identifier=request.db_instance_identifier,
            )
        encrypted = bool(instance.get("StorageEncrypted"))
        actions.append(Action(
            "create", source.region, snapshot_id, f"manual snapshot of DB instance {request.db_instance_identifier}",
            tags_add=dict(request.tags or {}),
        ))
    else:
        of_instance = current.get("DBInstanceIdentifier")
        if request.db_instance_identifier and of_instance and of_instance.lower() != request.db_instance_identifier:
            raise ConfigurationError(
                f"DB snapshot {snapshot_id} in {source.region} exists but is a snapshot of DB instance {of_instance}, "
                f"not {request.db_instance_identifier}; choose another db_snapshot_identifier",
                db_snapshot_identifier=snapshot_id,
            )
        encrypted = bool(current.get("Encrypted"))
        add, remove = tag_changes(tags_to_dict(current.get("TagList")), request.tags, request.purge_tags)
        if add or remove:
            actions.append(Action("tag", source.region, snapshot_id, _tag_detail(add, remove), add, remove))

    if destination is not None:
        if copy is None:
            if encrypted and not request.kms_key_id:
                raise ConfigurationError(
                    f"DB snapshot {snapshot_id} is encrypted: a copy to {destination.region} must be re-encrypted with "
                    f"a KMS key of {destination.region}; give kms_key_id (its ARN, id or alias in {destination.region})",
                    db_snapshot_identifier=snapshot_id,
                )
            key = f", re-encrypted with KMS key {request.kms_key_id}" if request.kms_key_id else ""
            actions.append(Action(
                "copy", destination.region, request.copy_identifier,
                f"copy of {snapshot_id} from {source.region}{key}", tags_add=dict(request.tags or {}),
            ))
        else:
            _check_copy(current, copy, source, destination, request)
            add, remove = tag_changes(tags_to_dict(copy.get("TagList")), request.tags, request.purge_tags)
            if add or remove:
                actions.append(Action("tag", destination.region, request.copy_identifier, _tag_detail(add, remove), add, remove))
    return actions, found


def _tag_detail(add: dict[str, str], remove: list[str]) -> str:
    parts = []
    if add:
        parts.append("set tags " + ", ".join(f"{key}={value}" for key, value in sorted(add.items())))
    if remove:
        parts.append("remove tags " + ", ".join(remove))
    return "; ".join(parts)


def _check_copy(
    current: dict[str, t.Any] | None, copy: dict[str, t.Any], source: Rds, destination: Rds, request: SnapshotRequest
) -> None:
    """An existing snapshot at the copy's identifier must be a copy of this snapshot, with the asked key."""
    where = f"DB snapshot {request.copy_identifier} in {destination.region}"
    if current is not None:
        recorded = copy.get("SourceDBSnapshotIdentifier")
        if recorded:
            same = recorded == current.get("DBSnapshotArn") or recorded.rsplit(":", 1)[-1] == request.db_snapshot_identifier
        else:
            same = (
                (copy.get("DBInstanceIdentifier") or "").lower() == (current.get("DBInstanceIdentifier") or "").lower()
                and copy.get("OriginalSnapshotCreateTime") == current.get("OriginalSnapshotCreateTime")
            )
        if not same:
            raise ConfigurationError(
                f"{where} exists but is not a copy of {request.db_snapshot_identifier} in {source.region} (it is of "
                f"DB instance {copy.get('DBInstanceIdentifier')}, taken {copy.get('OriginalSnapshotCreateTime')}); "
                f"choose another target_db_snapshot_identifier or delete it",
                db_snapshot_identifier=request.copy_identifier,
            )
    if request.kms_key_id and kms_key_matches(request.kms_key_id, copy.get("KmsKeyId")) is False:
        raise ConfigurationError(
            f"{where} exists but is encrypted with KMS key {copy.get('KmsKeyId')}, not {request.kms_key_id}; delete "
            f"it (state absent) to copy again with the new key, or choose another target_db_snapshot_identifier",
            db_snapshot_identifier=request.copy_identifier,
        )


def apply(
    source: Rds, destination: Rds | None, request: SnapshotRequest, actions: list[Action], progress: Progress
) -> dict[str, t.Any]:
    """Carry the actions out, waiting where asked (a copy always waits for its source to be available)."""
    by_region = {source.region: source}
    if destination is not None:
        by_region[destination.region] = destination
    for action in actions:
        rds = by_region[action.region]
        if action.kind == "create":
            kwargs: dict[str, t.Any] = {}
            if action.tags_add:
                kwargs["Tags"] = tags_to_list(action.tags_add)
            rds.call(
                f"create DB snapshot {action.db_snapshot_identifier} of {request.db_instance_identifier}",
                "create_db_snapshot", DBSnapshotIdentifier=action.db_snapshot_identifier,
                DBInstanceIdentifier=request.db_instance_identifier, **kwargs,
            )
        elif action.kind == "tag":
            arn = _arn(rds, action.db_snapshot_identifier)
            if action.tags_add:
                rds.call(f"tag {arn}", "add_tags_to_resource", ResourceName=arn, Tags=tags_to_list(action.tags_add))
            if action.tags_remove:
                rds.call(f"untag {arn}", "remove_tags_from_resource", ResourceName=arn, TagKeys=action.tags_remove)
        elif action.kind == "copy":
            source_snapshot = _wait_available(source, request.db_snapshot_identifier, request, progress)
            # SourceRegion makes botocore add the pre-signed URL a cross-region copy needs; none within a region.
            kwargs = {"SourceRegion": source.region} if rds.region != source.region else {}
            if request.kms_key_id:
                kwargs["KmsKeyId"] = request.kms_key_id
            if request.tags is not None:
                kwargs["Tags"] = tags_to_list(request.tags)
            else:
                kwargs["CopyTags"] = True
            rds.call(
                f"copy DB snapshot {request.db_snapshot_identifier} from {source.region} to "
                f"{action.db_snapshot_identifier}", "copy_db_snapshot",
                SourceDBSnapshotIdentifier=source_snapshot["DBSnapshotArn"],
                TargetDBSnapshotIdentifier=action.db_snapshot_identifier, **kwargs,
            )
        elif action.kind == "delete":
            rds.call(
                f"delete DB snapshot {action.db_snapshot_identifier}", "delete_db_snapshot", missing="snapshot",
                DBSnapshotIdentifier=action.db_snapshot_identifier,
            )
    result: dict[str, t.Any] = {}
    if request.state == "absent":
        if request.wait:
            for action in actions:
                _wait_gone(by_region[action.region], action.db_snapshot_identifier, request, progress)
        return result
    snapshot: dict[str, t.Any] | None
    copy: dict[str, t.Any] | None
    if request.wait:
        snapshot = _wait_available(source, request.db_snapshot_identifier, request, progress)
        copy = _wait_available(destination, request.copy_identifier, request, progress) if destination else None
    else:
        snapshot = source.snapshot(request.db_snapshot_identifier)
        copy = destination.snapshot(request.copy_identifier) if destination else None
    return {"snapshot": snapshot, "copy": copy}


def _arn(rds: Rds, identifier: str) -> str:
    snapshot = rds.snapshot(identifier)
    if snapshot is None:
        raise ConfigurationError(f"DB snapshot {identifier} disappeared from {rds.region} while it was being tagged")
    return str(snapshot["DBSnapshotArn"])


def _wait_available(rds: Rds, identifier: str, request: SnapshotRequest, progress: Progress) -> dict[str, t.Any]:
    resource = f"DB snapshot {identifier} in {rds.region}"

    def read() -> dict[str, t.Any] | None:
        return rds.snapshot(identifier)

    item = wait_until(
        read, resource=resource, status_key="Status", wanted=lambda found: found is not None and found.get("Status") == "available",
        failed=SNAPSHOT_FAILED, timeout=request.wait_timeout, progress=progress, interval=request.poll_interval,
        hint="The snapshot keeps being made: run again with a longer wait_timeout, or with wait: false.",
    )
    return t.cast(dict, item)


def _wait_gone(rds: Rds, identifier: str, request: SnapshotRequest, progress: Progress) -> None:
    wait_until(
        lambda: rds.snapshot(identifier), resource=f"DB snapshot {identifier} in {rds.region}", status_key="Status",
        wanted=lambda found: found is None, failed=frozenset(), timeout=request.wait_timeout, progress=progress,
        interval=request.poll_interval, hint="RDS is still deleting it; run again to wait longer.",
    )


def run(
    source: Rds, destination: Rds | None, request: SnapshotRequest, *, check_mode: bool, diff: bool
) -> dict[str, t.Any]:
    progress = Progress()
    actions, found = plan(source, destination, request)
    result: dict[str, t.Any] = {
        "changed": bool(actions),
        "actions": [action.describe() for action in actions],
        "db_snapshot_identifier": request.db_snapshot_identifier,
    }
    before = {
        "snapshot": snapshot_facts(found["snapshot"], source.region),
        "copy": snapshot_facts(found["copy"], destination.region) if destination else None,
    }
    if check_mode or not actions:
        after = before
        if request.state == "present" and request.wait and not actions:
            # Nothing to do, but the snapshot may still be being made: wait as asked.
            waited = apply(source, destination, request, [], progress)
            after = {
                "snapshot": snapshot_facts(waited["snapshot"], source.region),
                "copy": snapshot_facts(waited["copy"], destination.region) if destination else None,
            }
    else:
        try:
            applied = apply(source, destination, request, actions, progress)
        except DrError as error:
            # Re-raised with what was done so far: the failure result shows the progress.
            error.details.setdefault("progress", progress.events)
            error.details.setdefault("actions", result["actions"])
            error.details.setdefault("changed", True)
            raise
        after = {
            "snapshot": snapshot_facts(applied.get("snapshot"), source.region),
            "copy": snapshot_facts(applied.get("copy"), destination.region) if destination else None,
        }
    result["snapshot"] = after["snapshot"]
    result["copy"] = after["copy"]
    result["progress"] = progress.events
    if diff:
        result["diff"] = {"before": _diff_view(before), "after": _planned_view(before, actions, request) if check_mode else _diff_view(after)}
    return result


def _diff_view(state: dict[str, t.Any]) -> dict[str, t.Any]:
    view = {}
    for key in ("snapshot", "copy"):
        facts = state.get(key)
        if facts is not None:
            view[key] = {"db_snapshot_identifier": facts["db_snapshot_identifier"], "region": facts["region"],
                         "kms_key_id": facts["kms_key_id"], "tags": facts["tags"]}
    return view


def _planned_view(before: dict[str, t.Any], actions: list[Action], request: SnapshotRequest) -> dict[str, t.Any]:
    view = _diff_view(before)
    for action in actions:
        is_copy = bool(request.copy_to_region) and action.region == request.copy_to_region and (
            action.db_snapshot_identifier == request.copy_identifier
        ) and (action.kind == "copy" or "copy" in view)
        key = "copy" if is_copy else "snapshot"
        if action.kind == "delete":
            view.pop(key, None)
        elif action.kind in ("create", "copy"):
            view[key] = {"db_snapshot_identifier": action.db_snapshot_identifier, "region": action.region,
                         "kms_key_id": request.kms_key_id if action.kind == "copy" else None, "tags": dict(action.tags_add)}
        else:
            entry = view.setdefault(key, {"tags": {}})
            tags = dict(entry.get("tags") or {})
            tags.update(action.tags_add)
            for name in action.tags_remove:
                tags.pop(name, None)
            entry["tags"] = tags
    return view
