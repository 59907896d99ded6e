# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_cluster_restore: a new Aurora DB cluster from a cluster snapshot or a point in time, with its instances.

A cluster restored by RDS has no instance, so it answers no query: the restore is complete only when the cluster
and each of its instances are available. Idempotence rests on the target identifier, as in restore.py: the cluster
carries RESTORED_FROM_TAG (and RESTORE_TIME_TAG for a point in time) from the call that creates it; a later run
that finds the cluster restored from the same source only adds the instances still missing, and refuses a cluster
restored from anything else.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field, replace
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, TargetNotEmpty
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    RESTORE_TIME_TAG,
    RESTORED_FROM_TAG,
    Progress,
    Rds,
    parse_restore_time,
    newest_tagged,
    tags_to_dict,
    tags_to_list,
)
from ansible_collections.resilience.dr.plugins.module_utils._rds.cluster import (
    check_cluster_time,
    cluster,
    cluster_facts,
    cluster_snapshot,
    cluster_snapshot_facts,
    cluster_snapshot_time,
    cluster_snapshots,
    cluster_window,
    wait_cluster,
    wait_instance,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

IAM_HINT = (
    "the restore role needs rds:DescribeDBClusters, rds:DescribeDBClusterSnapshots, rds:DescribeDBInstances, "
    "rds:RestoreDBClusterFromSnapshot, rds:RestoreDBClusterToPointInTime, rds:CreateDBInstance, "
    "rds:AddTagsToResource, plus kms:CreateGrant and kms:DescribeKey for encrypted sources (see docs/rds.md)"
)

CLUSTER_OPTIONS = {
    "db_subnet_group_name": "DBSubnetGroupName",
    "vpc_security_group_ids": "VpcSecurityGroupIds",
    "db_cluster_parameter_group_name": "DBClusterParameterGroupName",
    "kms_key_id": "KmsKeyId",
}


@dataclass
class ClusterRestoreRequest:
    source: str
    db_cluster_identifier: str
    db_cluster_snapshot_identifier: str | None = None
    snapshot_tags: dict[str, str] | None = None
    source_db_cluster_identifier: str | None = None
    restore_time: datetime | None = None
    use_latest_restorable_time: bool = False
    db_instance_class: str | None = None
    instance_identifiers: list[str] = field(default_factory=list)
    cluster_options: dict[str, t.Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    wait: bool = True
    wait_timeout: float = 3600
    poll_interval: float = 2.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> ClusterRestoreRequest:
        check_options(params)
        target = params["db_cluster_identifier"].lower()
        restore_time = params.get("restore_time")
        snapshot_tags = params.get("snapshot_tags")
        instances = params.get("instance_identifiers")
        return cls(
            source=params["source"],
            db_cluster_identifier=target,
            db_cluster_snapshot_identifier=(params.get("db_cluster_snapshot_identifier") or "").lower() or None,
            snapshot_tags={str(key): "" if value is None else str(value) for key, value in snapshot_tags.items()}
            if snapshot_tags else None,
            source_db_cluster_identifier=(params.get("source_db_cluster_identifier") or "").lower() or None,
            restore_time=parse_restore_time(restore_time) if restore_time else None,
            use_latest_restorable_time=bool(params.get("use_latest_restorable_time")),
            db_instance_class=params.get("db_instance_class"),
            instance_identifiers=[name.lower() for name in instances] if instances is not None else [f"{target}-1"],
            cluster_options={key: params[key] for key in CLUSTER_OPTIONS if params.get(key) is not None},
            tags={str(key): "" if value is None else str(value) for key, value in (params.get("tags") or {}).items()},
            wait=bool(params.get("wait", True)),
            wait_timeout=float(params.get("wait_timeout") or 3600),
        )

    def wanted_origin(self) -> str:
        if self.source == "snapshot":
            return f"cluster_snapshot:{self.db_cluster_snapshot_identifier}"
        return f"cluster_point_in_time:{self.source_db_cluster_identifier}"

    def describe_source(self) -> str:
        if self.source == "snapshot":
            return f"DB cluster snapshot {self.db_cluster_snapshot_identifier}"
        when = "its latest restorable time" if self.use_latest_restorable_time else format_time(t.cast(datetime, self.restore_time))
        return f"DB cluster {self.source_db_cluster_identifier} at {when}"


def check_options(params: dict[str, t.Any]) -> None:
    """Refuse options that do not apply to the source, rather than ignore them silently."""
    source = params["source"]
    if source == "point_in_time":
        if bool(params.get("restore_time")) == bool(params.get("use_latest_restorable_time")):
            raise ConfigurationError("source point_in_time needs exactly one of restore_time and use_latest_restorable_time: true")
        if not params.get("source_db_cluster_identifier"):
            raise ConfigurationError("source point_in_time needs source_db_cluster_identifier, the cluster whose backups are restored")
        given = [name for name in ("db_cluster_snapshot_identifier", "snapshot_tags") if params.get(name)]
        if given:
            raise ConfigurationError(f"{', '.join(given)} apply to source snapshot; source point_in_time restores from "
                                     f"source_db_cluster_identifier's automated backups")
    else:
        if params.get("use_latest_restorable_time") or (params.get("restore_time") and not params.get("snapshot_tags")):
            raise ConfigurationError(
                "restore_time and use_latest_restorable_time apply to source point_in_time, not to a snapshot (with "
                "snapshot_tags, restore_time picks the newest cluster snapshot taken at or before it)"
            )
        if bool(params.get("db_cluster_snapshot_identifier")) == bool(params.get("snapshot_tags")):
            raise ConfigurationError(
                "source snapshot needs exactly one of db_cluster_snapshot_identifier (that snapshot) and snapshot_tags "
                "(the newest available cluster snapshot carrying all of them)"
            )
    if params.get("instance_identifiers") != [] and not params.get("db_instance_class"):
        raise ConfigurationError(
            "db_instance_class is needed for the cluster's instances (a restored cluster has none and answers no "
            "query without one); give it, or instance_identifiers: [] to restore the cluster alone"
        )


def newest_cluster_snapshot(rds: Rds, tags: dict[str, str], not_after: datetime | None = None) -> dict[str, t.Any]:
    """The available cluster snapshot carrying all of tags with the newest data (at or before not_after)."""
    wanted = ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
    chosen, seen = newest_tagged(cluster_snapshots(rds), tags, "DBClusterSnapshotIdentifier", cluster_snapshot_time, not_after)
    if chosen is not None:
        return chosen
    when = f" taken at or before {format_time(not_after)}" if not_after is not None else ""
    raise ConfigurationError(
        f"no available DB cluster snapshot in {rds.region} carries the tags {wanted}{when}, so there is nothing to "
        f"restore; cluster snapshots with these tags there: {seen}. Take or copy one there "
        f"(amazon.aws.rds_cluster_snapshot), or name one with db_cluster_snapshot_identifier",
        snapshot_tags=tags,
    )


@dataclass
class ClusterPlan:
    action: str  # none, restore, instances (the cluster is there, some instances are not)
    existing: dict[str, t.Any] | None
    restored_from: dict[str, t.Any]
    missing_instances: list[str]
    reason: str
    restorable_window: dict[str, str] | None = None


def _origin(tags: dict[str, str]) -> dict[str, t.Any] | None:
    value = tags.get(RESTORED_FROM_TAG)
    if not value or ":" not in value:
        return None
    kind, name = value.split(":", 1)
    if kind == "cluster_snapshot":
        return {"source": "snapshot", "db_cluster_snapshot_identifier": name, "source_db_cluster_identifier": None,
                "restore_time": None}
    if kind == "cluster_point_in_time":
        return {"source": "point_in_time", "db_cluster_snapshot_identifier": None,
                "source_db_cluster_identifier": name, "restore_time": tags.get(RESTORE_TIME_TAG)}
    return None


def _same_origin(origin: dict[str, t.Any], request: ClusterRestoreRequest) -> bool:
    if origin["source"] != request.source:
        return False
    if request.source == "snapshot":
        return bool(origin["db_cluster_snapshot_identifier"] == request.db_cluster_snapshot_identifier)
    if origin["source_db_cluster_identifier"] != request.source_db_cluster_identifier:
        return False
    if request.use_latest_restorable_time:
        return True
    try:
        return origin.get("restore_time") is not None and parse_restore_time(origin["restore_time"]) == request.restore_time
    except ConfigurationError:
        return False


def _missing_instances(rds: Rds, request: ClusterRestoreRequest) -> list[str]:
    missing = []
    for name in request.instance_identifiers:
        found = rds.instance(name)
        if found is None:
            missing.append(name)
        elif (found.get("DBClusterIdentifier") or "").lower() != request.db_cluster_identifier:
            raise TargetNotEmpty(
                f"DB instance {name} exists in {rds.region} but is not a member of DB cluster "
                f"{request.db_cluster_identifier} (it belongs to {found.get('DBClusterIdentifier') or 'no cluster'}); "
                f"choose other instance_identifiers",
                db_instance_identifier=name,
            )
    return missing


def plan(rds: Rds, request: ClusterRestoreRequest, clock: Clock = utc_now) -> ClusterPlan:
    target = request.db_cluster_identifier
    if request.source == "point_in_time" and request.source_db_cluster_identifier == target:
        raise ConfigurationError(f"db_cluster_identifier {target} is the cluster restored from; a point-in-time restore "
                                 f"makes a new cluster: give it another db_cluster_identifier")
    wanted = {"source": request.source, "db_cluster_snapshot_identifier": request.db_cluster_snapshot_identifier,
              "source_db_cluster_identifier": request.source_db_cluster_identifier,
              "restore_time": format_time(request.restore_time) if request.restore_time else None}
    existing = cluster(rds, target)
    if existing is not None:
        origin = _origin(tags_to_dict(existing.get("TagList")))
        if origin is None or not _same_origin(origin, request):
            found = "was not restored by this collection" if origin is None else "was restored from " + (
                f"DB cluster snapshot {origin['db_cluster_snapshot_identifier']}" if origin["source"] == "snapshot"
                else f"DB cluster {origin['source_db_cluster_identifier']} at {origin['restore_time']}")
            raise TargetNotEmpty(
                f"DB cluster {target} exists in {rds.region} and {found}, not from {request.describe_source()}; "
                f"choose another db_cluster_identifier, or delete that cluster first (amazon.aws.rds_cluster "
                f"state: absent, keeping a final snapshot)",
                db_cluster_identifier=target,
            )
        missing = _missing_instances(rds, request)
        if missing:
            return ClusterPlan("instances", existing, origin, missing,
                               f"DB cluster {target} was already restored from {request.describe_source()}; add "
                               f"instance(s) {', '.join(missing)}")
        return ClusterPlan("none", existing, origin, [], f"DB cluster {target} was already restored from "
                           f"{request.describe_source()}, with its instances")
    window = None
    if request.source == "snapshot":
        if cluster_snapshot(rds, t.cast(str, request.db_cluster_snapshot_identifier)) is None:
            raise ConfigurationError(
                f"DB cluster snapshot {request.db_cluster_snapshot_identifier} not found in {rds.region}, so DB "
                f"cluster {target} cannot be restored from it; check db_cluster_snapshot_identifier and region",
                db_cluster_snapshot_identifier=request.db_cluster_snapshot_identifier,
            )
    else:
        source_id = t.cast(str, request.source_db_cluster_identifier)
        source = cluster(rds, source_id)
        if source is None:
            raise ConfigurationError(
                f"DB cluster {source_id} not found in {rds.region}, so it cannot be restored to a point in time; "
                f"check source_db_cluster_identifier and region",
                source_db_cluster_identifier=source_id,
            )
        earliest, latest = cluster_window(rds, source)
        window = {"earliest": format_time(earliest), "latest": format_time(latest)}
        if request.restore_time is not None:
            check_cluster_time(source_id, rds.region, request.restore_time, (earliest, latest))
        else:
            wanted["restore_time"] = format_time(latest)
    missing = _missing_instances(rds, request)
    return ClusterPlan("restore", None, wanted, missing,
                       f"restore {request.describe_source()} to new DB cluster {target}"
                       + (f" with instance(s) {', '.join(missing)}" if missing else ""), window)


def apply(rds: Rds, request: ClusterRestoreRequest, planned: ClusterPlan, engine: str | None,
          progress: Progress) -> None:
    target = request.db_cluster_identifier
    if planned.action == "restore":
        tags = dict(request.tags)
        tags[RESTORED_FROM_TAG] = request.wanted_origin()
        if request.source == "point_in_time" and planned.restored_from.get("restore_time"):
            tags[RESTORE_TIME_TAG] = planned.restored_from["restore_time"]
        options = {CLUSTER_OPTIONS[key]: value for key, value in request.cluster_options.items()}
        if request.source == "snapshot":
            response = rds.call(
                f"restore DB cluster {target} from {request.describe_source()}", "restore_db_cluster_from_snapshot",
                DBClusterIdentifier=target, SnapshotIdentifier=request.db_cluster_snapshot_identifier,
                Engine=engine, Tags=tags_to_list(tags), **options,
            )
        else:
            when: dict[str, t.Any] = ({"UseLatestRestorableTime": True} if request.use_latest_restorable_time
                                      else {"RestoreToTime": request.restore_time})
            response = rds.call(
                f"restore DB cluster {target} from {request.describe_source()}", "restore_db_cluster_to_point_in_time",
                DBClusterIdentifier=target, SourceDBClusterIdentifier=request.source_db_cluster_identifier,
                Tags=tags_to_list(tags), **when, **options,
            )
        status = ((response or {}).get("DBCluster") or {}).get("Status")
        if status:
            progress.saw(f"DB cluster {target} in {rds.region}", status)
        engine = engine or ((response or {}).get("DBCluster") or {}).get("Engine")
    if planned.missing_instances:
        # An instance can join only an available cluster.
        wait_cluster(rds, target, request.wait_timeout, progress, request.poll_interval)
        engine = engine or (cluster(rds, target) or {}).get("Engine")
        for name in planned.missing_instances:
            rds.call(f"create DB instance {name} in DB cluster {target}", "create_db_instance",
                     DBInstanceIdentifier=name, DBClusterIdentifier=target, Engine=engine,
                     DBInstanceClass=request.db_instance_class, Tags=tags_to_list(request.tags))


def run(rds: Rds, request: ClusterRestoreRequest, *, check_mode: bool, diff: bool,
        clock: Clock = utc_now) -> dict[str, t.Any]:
    progress = Progress()
    used = None
    if request.source == "snapshot":
        if request.snapshot_tags:
            used = newest_cluster_snapshot(rds, request.snapshot_tags, request.restore_time)
            request = replace(request, db_cluster_snapshot_identifier=str(used["DBClusterSnapshotIdentifier"]).lower(),
                              restore_time=None)
        else:
            used = cluster_snapshot(rds, t.cast(str, request.db_cluster_snapshot_identifier))
    planned = plan(rds, request, clock)
    changed = planned.action != "none"
    result: dict[str, t.Any] = {
        "changed": changed,
        "action": planned.action,
        "plan": planned.reason,
        "db_cluster_identifier": request.db_cluster_identifier,
        "restored_from": planned.restored_from,
        "restorable_window": planned.restorable_window,
        "created_instances": planned.missing_instances,
        "snapshot": cluster_snapshot_facts(used, rds.region),
    }
    moment = cluster_snapshot_time(used) if used is not None else None
    if moment is not None:
        result["consistency_point"] = {"time": format_time(moment)}
    elif planned.restored_from.get("restore_time"):
        result["consistency_point"] = {"time": planned.restored_from["restore_time"]}
    found = planned.existing
    if not check_mode:
        try:
            apply(rds, request, planned, used.get("Engine") if used else None, progress)
            if request.wait:
                found = wait_cluster(rds, request.db_cluster_identifier, request.wait_timeout, progress, request.poll_interval)
                for name in request.instance_identifiers:
                    wait_instance(rds, name, request.wait_timeout, progress, request.poll_interval)
            found = cluster(rds, request.db_cluster_identifier)
        except DrError as error:
            error.details.setdefault("progress", progress.events)
            error.details.setdefault("changed", changed)
            error.details.setdefault("db_cluster_identifier", request.db_cluster_identifier)
            error.details.setdefault("restored_from", planned.restored_from)
            raise
    facts = cluster_facts(found, rds.region)
    result.update({
        "cluster": facts,
        "endpoint": facts["endpoint"] if facts else None,
        "reader_endpoint": facts["reader_endpoint"] if facts else None,
        "port": facts["port"] if facts else None,
        "status": facts["status"] if facts else None,
        "progress": progress.events,
    })
    if diff:
        before = _diff_view(planned.existing, request, [] if planned.existing is None else
                            [name for name in request.instance_identifiers if name not in planned.missing_instances])
        after = {"db_cluster_identifier": request.db_cluster_identifier, "restored_from": planned.restored_from,
                 "instances": list(request.instance_identifiers)}
        result["diff"] = {"before": before, "after": after}
    return result


def _diff_view(found: dict[str, t.Any] | None, request: ClusterRestoreRequest, instances: list[str]) -> dict[str, t.Any]:
    if found is None:
        return {}
    return {"db_cluster_identifier": found.get("DBClusterIdentifier"),
            "restored_from": _origin(tags_to_dict(found.get("TagList"))), "instances": instances}
