# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_restore: a new DB instance from a snapshot or a point in time, or a promoted read replica.

Idempotence rests on the target identifier: the instances this module
restores carry the tag RESTORED_FROM_TAG (and RESTORE_TIME_TAG for a point in
time), set in the same API call that creates them, so a later run recognises
an instance restored from the same source (nothing to do) and refuses one
restored from anything else unless `replace` is given. A replaced instance is
deleted with a final snapshot, never without one.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, replace
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, TargetNotEmpty
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    INSTANCE_FAILED,
    RESTORE_TIME_TAG,
    RESTORED_FROM_TAG,
    Progress,
    Rds,
    check_restore_time,
    instance_facts,
    parse_restore_time,
    restorable_window,
    snapshot_facts,
    snapshot_time,
    newest_tagged,
    tags_to_dict,
    tags_to_list,
    wait_until,
)
from ansible_collections.resilience.dr.plugins.module_utils._rds.replicated_backup import SOURCE as REPLICA_BACKUPS, plan_replica
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

IAM_HINT = (
    "the restore role needs rds:DescribeDBInstances, rds:DescribeDBSnapshots, "
    "rds:DescribeDBInstanceAutomatedBackups, rds:RestoreDBInstanceFromDBSnapshot, "
    "rds:RestoreDBInstanceToPointInTime (on the replicated automated backups too), rds:PromoteReadReplica, "
    "rds:AddTagsToResource "
    "(and rds:DeleteDBInstance, rds:CreateDBSnapshot for replace), plus kms:CreateGrant and kms:DescribeKey for "
    "encrypted sources (see docs/rds.md)"
)

# The sources restored to a point in time: of an instance of the region, or of one whose automated backups are
# replicated into it.
TIMED = ("point_in_time", REPLICA_BACKUPS)

INSTANCE_OPTIONS = {
    "db_instance_class": "DBInstanceClass",
    "db_subnet_group_name": "DBSubnetGroupName",
    "vpc_security_group_ids": "VpcSecurityGroupIds",
    "db_parameter_group_name": "DBParameterGroupName",
    "multi_az": "MultiAZ",
}


@dataclass
class RestoreRequest:
    source: str
    db_instance_identifier: str
    db_snapshot_identifier: str | None = None
    snapshot_tags: dict[str, str] | None = None
    source_db_instance_identifier: str | None = None
    restore_time: datetime | None = None
    use_latest_restorable_time: bool = False
    instance_options: dict[str, t.Any] | None = None
    tags: dict[str, str] | None = None
    replace: bool = False
    wait: bool = True
    wait_timeout: float = 3600
    poll_interval: float = 2.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> RestoreRequest:
        restore_time = params.get("restore_time")
        tags = params.get("tags") or {}
        snapshot_tags = params.get("snapshot_tags")
        return cls(
            source=params["source"],
            db_instance_identifier=params["db_instance_identifier"].lower(),
            db_snapshot_identifier=(params.get("db_snapshot_identifier") or "").lower() or None,
            snapshot_tags={str(key): "" if value is None else str(value) for key, value in snapshot_tags.items()}
            if snapshot_tags else None,
            source_db_instance_identifier=(params.get("source_db_instance_identifier") or "").lower() or None,
            restore_time=parse_restore_time(restore_time) if restore_time else None,
            use_latest_restorable_time=bool(params.get("use_latest_restorable_time")),
            instance_options={key: params.get(key) for key in INSTANCE_OPTIONS if params.get(key) is not None},
            tags={str(key): "" if value is None else str(value) for key, value in tags.items()},
            replace=bool(params.get("replace")),
            wait=bool(params.get("wait", True)),
            wait_timeout=float(params.get("wait_timeout") or 3600),
        )

    def wanted_origin(self) -> str:
        if self.source == "snapshot":
            return f"snapshot:{self.db_snapshot_identifier}"
        if self.source in TIMED:
            return f"{self.source}:{self.source_db_instance_identifier}"
        return f"replica:{self.source_db_instance_identifier or ''}"

    def describe_source(self) -> str:
        if self.source == "snapshot":
            return f"DB snapshot {self.db_snapshot_identifier}"
        if self.source in TIMED:
            when = "its latest restorable time" if self.use_latest_restorable_time else format_time(t.cast(datetime, self.restore_time))
            replicated = " (its automated backups replicated into this region)" if self.source == REPLICA_BACKUPS else ""
            return f"DB instance {self.source_db_instance_identifier}{replicated} at {when}"
        return f"promotion of read replica {self.db_instance_identifier}"


def check_options(params: dict[str, t.Any]) -> None:
    """Refuse options that do not apply to the source, rather than ignore them silently."""
    source = params["source"]
    if source in TIMED and bool(params.get("restore_time")) == bool(params.get("use_latest_restorable_time")):
        raise ConfigurationError(f"source {source} needs exactly one of restore_time and use_latest_restorable_time: true")
    if source == "snapshot" and (params.get("use_latest_restorable_time") or (
            params.get("restore_time") and not params.get("snapshot_tags"))):
        raise ConfigurationError(
            "restore_time and use_latest_restorable_time apply to source point_in_time, not to a snapshot (with "
            "snapshot_tags, restore_time picks the newest snapshot taken at or before it)"
        )
    if source == "snapshot" and bool(params.get("db_snapshot_identifier")) == bool(params.get("snapshot_tags")):
        raise ConfigurationError(
            "source snapshot needs exactly one of db_snapshot_identifier (that snapshot) and snapshot_tags (the newest "
            "available snapshot carrying all of them)"
        )
    for name in ("db_snapshot_identifier", "snapshot_tags"):
        if source in TIMED and params.get(name):
            raise ConfigurationError(
                f"{name} applies to source snapshot; source {source} restores from "
                f"source_db_instance_identifier's automated backups"
            )
    if source == "replica":
        given = [name for name in (*INSTANCE_OPTIONS, "restore_time", "db_snapshot_identifier", "snapshot_tags")
                 if params.get(name) is not None]
        if params.get("use_latest_restorable_time"):
            given.append("use_latest_restorable_time")
        if given:
            raise ConfigurationError(
                f"source replica promotes an existing read replica as it is; these options do not apply to it: "
                f"{', '.join(given)}. Change its settings after promotion with amazon.aws.rds_instance"
            )


def newest_snapshot(rds: Rds, tags: dict[str, str], not_after: datetime | None = None) -> dict[str, t.Any]:
    """The available snapshot of the region carrying all of tags whose data is the newest (at or before not_after).

    The time compared is when the data was taken, so a cross-region copy counts
    from its source snapshot's time, not from when it was copied.
    """
    wanted = ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
    chosen, seen = newest_tagged(rds.snapshots(), tags, "DBSnapshotIdentifier", snapshot_time, not_after)
    if chosen is not None:
        return chosen
    when = f" taken at or before {format_time(not_after)}" if not_after is not None else ""
    raise ConfigurationError(
        f"no available DB snapshot in {rds.region} carries the tags {wanted}{when}, so there is nothing to restore; "
        f"snapshots with these tags there: {seen}. Copy one into {rds.region} (rds_snapshot copy_to_region, or the "
        f"backup role with the site's region in the plan), or name one with db_snapshot_identifier",
        snapshot_tags=tags,
    )


def used_snapshot_facts(snapshot: dict[str, t.Any] | None, region: str, clock: Clock = utc_now) -> dict[str, t.Any] | None:
    """The facts of the snapshot restored from, with age_s: how old its data is now."""
    facts = snapshot_facts(snapshot, region)
    if facts is None or snapshot is None:
        return None
    moment = snapshot_time(snapshot)
    facts["age_s"] = round((clock() - moment).total_seconds(), 1) if moment else None
    return facts


def origin_of(tags: dict[str, str]) -> dict[str, t.Any] | None:
    """Where an instance was restored from, as its tags record it; None when they record nothing."""
    value = tags.get(RESTORED_FROM_TAG)
    if not value or ":" not in value:
        return None
    kind, name = value.split(":", 1)
    origin: dict[str, t.Any] = {"source": kind, "db_snapshot_identifier": None,
                                "source_db_instance_identifier": None, "restore_time": None}
    if kind == "snapshot":
        origin["db_snapshot_identifier"] = name
    else:
        origin["source_db_instance_identifier"] = name or None
    if kind in TIMED:
        origin["restore_time"] = tags.get(RESTORE_TIME_TAG)
    return origin


@dataclass
class RestorePlan:
    action: str  # none, restore, replace, promote
    existing: dict[str, t.Any] | None
    restored_from: dict[str, t.Any]
    reason: str
    restorable_window: dict[str, str] | None = None
    automated_backups_arn: str | None = None


def plan(rds: Rds, request: RestoreRequest, clock: Clock = utc_now) -> RestorePlan:
    target_id = request.db_instance_identifier
    existing = rds.instance(target_id)
    if request.source == "replica":
        return _plan_promotion(rds, request, existing)
    if request.source in TIMED and request.source_db_instance_identifier == target_id:
        raise ConfigurationError(
            f"db_instance_identifier {target_id} is the instance restored from; a point-in-time restore makes a new "
            f"instance: give it another db_instance_identifier"
        )
    wanted = {"source": request.source, "db_snapshot_identifier": request.db_snapshot_identifier,
              "source_db_instance_identifier": request.source_db_instance_identifier,
              "restore_time": format_time(request.restore_time) if request.restore_time else None}
    action, reason = "restore", f"restore {request.describe_source()} to new DB instance {target_id}"
    if existing is not None:
        origin = origin_of(tags_to_dict(existing.get("TagList")))
        if origin is not None and _same_origin(origin, request):
            return RestorePlan("none", existing, origin, f"DB instance {target_id} was already restored from "
                               f"{request.describe_source()}")
        found = "was not restored by this collection" if origin is None else (
            f"was restored from {_describe_origin(origin)}")
        if not request.replace:
            raise TargetNotEmpty(
                f"DB instance {target_id} exists in {rds.region} and {found}, not from {request.describe_source()}; "
                f"choose another db_instance_identifier, or set replace: true to delete it (a final snapshot is "
                f"kept) and restore in its place",
                db_instance_identifier=target_id,
            )
        if existing.get("DeletionProtection"):
            raise TargetNotEmpty(
                f"DB instance {target_id} in {rds.region} has deletion protection, so replace cannot delete it; "
                f"turn deletion protection off first (amazon.aws.rds_instance deletion_protection: false)",
                db_instance_identifier=target_id,
            )
        action, reason = "replace", f"delete DB instance {target_id} (which {found}) with a final snapshot, then {reason}"
    window = None
    if request.source == "snapshot":
        snapshot = rds.snapshot(t.cast(str, request.db_snapshot_identifier))
        if snapshot is None:
            raise ConfigurationError(
                f"DB snapshot {request.db_snapshot_identifier} not found in {rds.region}, so DB instance {target_id} "
                f"cannot be restored from it; check db_snapshot_identifier and region (a copy from another region "
                f"lives in that region: see rds_snapshot copy_to_region)",
                db_snapshot_identifier=request.db_snapshot_identifier,
            )
    elif request.source == REPLICA_BACKUPS:
        replicated = plan_replica(rds, t.cast(str, request.source_db_instance_identifier), request.restore_time)
        wanted["restore_time"] = replicated["restore_time"]
        return RestorePlan(action, existing, wanted, reason, replicated["window"], replicated["arn"])
    else:
        source_id = t.cast(str, request.source_db_instance_identifier)
        source = rds.instance(source_id)
        if source is None:
            raise ConfigurationError(
                f"DB instance {source_id} not found in {rds.region}, so it cannot be restored to a point in time; "
                f"check source_db_instance_identifier and region",
                source_db_instance_identifier=source_id,
            )
        earliest, latest = restorable_window(rds, source, clock)
        window = {"earliest": format_time(earliest), "latest": format_time(latest)}
        if request.restore_time is not None:
            check_restore_time(source_id, rds.region, request.restore_time, (earliest, latest))
        else:
            wanted["restore_time"] = format_time(latest)
    return RestorePlan(action, existing, wanted, reason, window)


def _same_origin(origin: dict[str, t.Any], request: RestoreRequest) -> bool:
    if origin["source"] != request.source:
        return False
    if request.source == "snapshot":
        return origin["db_snapshot_identifier"] == request.db_snapshot_identifier
    if origin["source_db_instance_identifier"] != request.source_db_instance_identifier:
        return False
    if request.use_latest_restorable_time:
        return True
    recorded = origin.get("restore_time")
    try:
        return recorded is not None and parse_restore_time(recorded) == request.restore_time
    except ConfigurationError:
        return False


def _describe_origin(origin: dict[str, t.Any]) -> str:
    if origin["source"] == "snapshot":
        return f"DB snapshot {origin['db_snapshot_identifier']}"
    if origin["source"] in TIMED:
        replicated = "'s replicated automated backups" if origin["source"] == REPLICA_BACKUPS else ""
        return f"DB instance {origin['source_db_instance_identifier']}{replicated} at {origin.get('restore_time')}"
    return f"read replica promotion (of {origin['source_db_instance_identifier']})"


def _plan_promotion(rds: Rds, request: RestoreRequest, existing: dict[str, t.Any] | None) -> RestorePlan:
    target_id = request.db_instance_identifier
    if existing is None:
        raise ConfigurationError(
            f"DB instance {target_id} not found in {rds.region}: there is no read replica to promote; check "
            f"db_instance_identifier and region (a cross-region replica lives in the region of the replica)",
            db_instance_identifier=target_id,
        )
    origin = origin_of(tags_to_dict(existing.get("TagList")))
    if origin is not None and origin["source"] == "replica":
        promoted_from = origin["source_db_instance_identifier"]
        if request.source_db_instance_identifier and promoted_from and request.source_db_instance_identifier != promoted_from:
            raise ConfigurationError(
                f"DB instance {target_id} in {rds.region} was promoted from a read replica of {promoted_from}, not of "
                f"{request.source_db_instance_identifier}; check which replica to promote",
                db_instance_identifier=target_id,
            )
        return RestorePlan("none", existing, origin, f"read replica {target_id} was already promoted")
    replica_of = existing.get("ReadReplicaSourceDBInstanceIdentifier")
    if not replica_of:
        return RestorePlan(
            "none", existing, {"source": "replica", "db_snapshot_identifier": None,
                               "source_db_instance_identifier": None, "restore_time": None},
            f"DB instance {target_id} is not a read replica (already standalone); nothing to promote",
        )
    replica_name = str(replica_of).rsplit(":", 1)[-1].lower()
    if request.source_db_instance_identifier and request.source_db_instance_identifier not in (replica_name, replica_of):
        raise ConfigurationError(
            f"DB instance {target_id} in {rds.region} is a read replica of {replica_of}, not of "
            f"{request.source_db_instance_identifier}; check which replica to promote",
            db_instance_identifier=target_id,
        )
    return RestorePlan(
        "promote", existing, {"source": "replica", "db_snapshot_identifier": None,
                              "source_db_instance_identifier": replica_name, "restore_time": None},
        f"promote read replica {target_id} (of {replica_of}) to a standalone instance",
    )


def apply(rds: Rds, request: RestoreRequest, planned: RestorePlan, progress: Progress,
          clock: Clock = utc_now) -> dict[str, t.Any]:
    target_id = request.db_instance_identifier
    outcome: dict[str, t.Any] = {"final_db_snapshot_identifier": None}
    if planned.action == "replace":
        final = f"{target_id}-final-{clock().strftime('%Y%m%d%H%M%S')}"
        rds.call(
            f"delete DB instance {target_id} (keeping final snapshot {final})", "delete_db_instance",
            DBInstanceIdentifier=target_id, FinalDBSnapshotIdentifier=final, SkipFinalSnapshot=False,
            DeleteAutomatedBackups=False,
        )
        outcome["final_db_snapshot_identifier"] = final
        # The identifier is free only once the old instance is gone, whatever `wait` says.
        wait_until(
            lambda: rds.instance(target_id), resource=f"DB instance {target_id} in {rds.region}",
            status_key="DBInstanceStatus", wanted=lambda found: found is None, failed=frozenset(),
            timeout=request.wait_timeout, progress=progress, interval=request.poll_interval,
            hint=f"It is being deleted (final snapshot {final}); run again to restore once it is gone.",
        )
    if planned.action in ("restore", "replace"):
        tags = dict(request.tags or {})
        tags[RESTORED_FROM_TAG] = request.wanted_origin()
        if request.source in TIMED and planned.restored_from.get("restore_time"):
            tags[RESTORE_TIME_TAG] = planned.restored_from["restore_time"]
        options = {INSTANCE_OPTIONS[key]: value for key, value in (request.instance_options or {}).items()}
        if request.source == "snapshot":
            response = rds.call(
                f"restore DB instance {target_id} from DB snapshot {request.db_snapshot_identifier}",
                "restore_db_instance_from_db_snapshot", DBInstanceIdentifier=target_id,
                DBSnapshotIdentifier=request.db_snapshot_identifier, Tags=tags_to_list(tags), **options,
            )
        else:
            when: dict[str, t.Any] = (
                {"UseLatestRestorableTime": True} if request.use_latest_restorable_time
                else {"RestoreTime": request.restore_time}
            )
            source: dict[str, t.Any] = (
                {"SourceDBInstanceAutomatedBackupsArn": planned.automated_backups_arn}
                if request.source == REPLICA_BACKUPS else {"SourceDBInstanceIdentifier": request.source_db_instance_identifier}
            )
            response = rds.call(
                f"restore DB instance {target_id} from {request.describe_source()}",
                "restore_db_instance_to_point_in_time", **source,
                TargetDBInstanceIdentifier=target_id, Tags=tags_to_list(tags), **when, **options,
            )
        _saw_response(rds, target_id, response, progress)
    elif planned.action == "promote":
        response = rds.call(f"promote read replica {target_id}", "promote_read_replica", DBInstanceIdentifier=target_id)
        _saw_response(rds, target_id, response, progress)
        # Recorded after the promotion succeeded: a later run then knows it is done.
        arn = (planned.existing or {}).get("DBInstanceArn")
        origin = f"replica:{planned.restored_from.get('source_db_instance_identifier') or ''}"
        rds.call(f"tag {arn}", "add_tags_to_resource", ResourceName=arn,
                 Tags=tags_to_list({**(request.tags or {}), RESTORED_FROM_TAG: origin}))
    return outcome


def _saw_response(rds: Rds, target_id: str, response: t.Any, progress: Progress) -> None:
    """The status the API call answered with ("creating", "modifying") starts the progress."""
    status = ((response or {}).get("DBInstance") or {}).get("DBInstanceStatus")
    if status:
        progress.saw(f"DB instance {target_id} in {rds.region}", status)


def wait_available(rds: Rds, request: RestoreRequest, progress: Progress) -> dict[str, t.Any] | None:
    target_id = request.db_instance_identifier
    return wait_until(
        lambda: rds.instance(target_id), resource=f"DB instance {target_id} in {rds.region}",
        status_key="DBInstanceStatus", wanted=lambda found: found is not None and found.get("DBInstanceStatus") == "available",
        failed=INSTANCE_FAILED, timeout=request.wait_timeout, progress=progress, interval=request.poll_interval,
        hint="Run again with a longer wait_timeout to keep waiting (the restore is not repeated), or look at the "
             "instance's events (aws rds describe-events --source-identifier " + target_id + ").",
    )


def run(rds: Rds, request: RestoreRequest, *, check_mode: bool, diff: bool,
        clock: Clock = utc_now) -> dict[str, t.Any]:
    progress = Progress()
    used = None
    if request.source == "snapshot":
        if request.snapshot_tags:
            used = newest_snapshot(rds, request.snapshot_tags, request.restore_time)
            # From here on, a restore of that snapshot like any other (restore_time only chose it).
            request = replace(request, db_snapshot_identifier=str(used["DBSnapshotIdentifier"]).lower(), restore_time=None)
        else:
            used = rds.snapshot(t.cast(str, request.db_snapshot_identifier))
    planned = plan(rds, request, clock)
    changed = planned.action != "none"
    result: dict[str, t.Any] = {
        "changed": changed,
        "action": planned.action,
        "plan": planned.reason,
        "db_instance_identifier": request.db_instance_identifier,
        "restored_from": planned.restored_from,
        "restorable_window": planned.restorable_window,
        "final_db_snapshot_identifier": None,
        "snapshot": used_snapshot_facts(used, rds.region, clock),
    }
    moment = snapshot_time(used) if used is not None else None
    if moment is not None:
        result["consistency_point"] = {"time": format_time(moment)}
    elif request.source == REPLICA_BACKUPS and planned.restored_from.get("restore_time"):
        # Replicated backups may lag well behind the source: the time restored to is the data's, not now.
        result["consistency_point"] = {"time": planned.restored_from["restore_time"]}
    instance = planned.existing
    if not check_mode:
        try:
            outcome = apply(rds, request, planned, progress, clock)
            result.update(outcome)
            instance = wait_available(rds, request, progress) if request.wait else rds.instance(request.db_instance_identifier)
        except DrError as error:
            error.details.setdefault("progress", progress.events)
            error.details.setdefault("changed", changed)
            error.details.setdefault("db_instance_identifier", request.db_instance_identifier)
            error.details.setdefault("restored_from", planned.restored_from)
            raise
    elif changed:
        instance = None if planned.action in ("restore", "replace") else instance
    facts = instance_facts(instance, rds.region)
    result.update({
        "instance": facts,
        "endpoint": facts["endpoint"] if facts else None,
        "port": facts["port"] if facts else None,
        "arn": facts["db_instance_arn"] if facts else None,
        "status": facts["status"] if facts else None,
        "progress": progress.events,
    })
    if diff:
        before = _diff_view(planned.existing)
        after = _diff_view(instance) if not check_mode or not changed else {
            "db_instance_identifier": request.db_instance_identifier, "restored_from": planned.restored_from}
        result["diff"] = {"before": before, "after": after}
    return result


def _diff_view(instance: dict[str, t.Any] | None) -> dict[str, t.Any]:
    if instance is None:
        return {}
    tags = tags_to_dict(instance.get("TagList"))
    return {
        "db_instance_identifier": instance.get("DBInstanceIdentifier"),
        "restored_from": origin_of(tags),
        "read_replica_source_db_instance_identifier": instance.get("ReadReplicaSourceDBInstanceIdentifier"),
        "db_instance_class": instance.get("DBInstanceClass"),
    }
