# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_snapshot_prune: a component's retention applied to its manual RDS snapshots in one region.

Only the snapshots the backup role takes and copies are candidates: manual
snapshots carrying both its tags (component_tags: the plan and the
component). Automated snapshots, snapshots shared with the account, and
manual snapshots without these tags (restore points taken by hand before a
release) are never touched. Which candidates stay is decided by the
repository's retention rules (_repository.retention.plan_retention), with a
snapshot's time being when its data was taken (a copy counts from its source
snapshot), so a snapshot and its copies age alike in every region. The newest
available candidate always stays; a candidate that is not available (being
made, copied or deleted) is left alone and does not count.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import (
    Rds,
    carries,
    component_tags,
    snapshot_time,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import (
    Candidate,
    RetentionPolicy,
    plan_retention,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

IAM_HINT = (
    "the backup role needs rds:DescribeDBSnapshots and rds:DeleteDBSnapshot in every region it prunes "
    "(see docs/rds.md)"
)


@dataclass
class PrunePlan:
    """What retention keeps, deletes and leaves alone among a region's snapshots of one component."""

    region: str
    tags: dict[str, str]
    kept: list[dict[str, t.Any]] = field(default_factory=list)
    deleted: list[dict[str, t.Any]] = field(default_factory=list)
    left_alone: list[dict[str, t.Any]] = field(default_factory=list)


def _entry(snapshot: dict[str, t.Any], region: str) -> dict[str, t.Any]:
    moment = snapshot_time(snapshot)
    return {
        "db_snapshot_identifier": snapshot.get("DBSnapshotIdentifier"),
        "region": region,
        "status": snapshot.get("Status"),
        "snapshot_time": format_time(moment) if moment else None,
    }


def describe_policy(policy: RetentionPolicy) -> str:
    rules = [f"{name} {getattr(policy, name)}" for name in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
             if getattr(policy, name)]
    if policy.keep_within is not None:
        rules.append(f"keep_within {int(policy.keep_within.total_seconds())}s")
    return ", ".join(rules)


def plan_prune(
    snapshots: t.Iterable[dict[str, t.Any]], region: str, tags: dict[str, str], policy: RetentionPolicy, now: datetime
) -> PrunePlan:
    """Which of the region's snapshots carrying tags stay (with the rules keeping them) and which go."""
    policy.check()
    if not tags or not all(tags.values()):
        raise ConfigurationError("rds_snapshot_prune needs the plan and the component whose snapshots it prunes")
    planned = PrunePlan(region=region, tags=dict(tags))
    candidates: dict[str, dict[str, t.Any]] = {}
    for snapshot in snapshots:
        if snapshot.get("SnapshotType") != "manual" or not carries(snapshot, tags):
            continue  # not ours: automated, shared, or a restore point taken by hand
        identifier = str(snapshot.get("DBSnapshotIdentifier"))
        if snapshot.get("Status") != "available" or snapshot_time(snapshot) is None:
            planned.left_alone.append({**_entry(snapshot, region), "reason": f"status {snapshot.get('Status')}"})
            continue
        candidates[identifier] = snapshot
    reasons = plan_retention(
        [Candidate(backup_id=identifier, finished_at=t.cast(datetime, snapshot_time(snapshot)))
         for identifier, snapshot in candidates.items()],
        policy, now,
    )
    not_kept = f"kept by no retention rule ({describe_policy(policy)})"
    ordered = sorted(candidates.items(), key=lambda item: (snapshot_time(item[1]), item[0]), reverse=True)
    for identifier, snapshot in ordered:
        if identifier in reasons:
            planned.kept.append({**_entry(snapshot, region), "reasons": reasons[identifier]})
        else:
            planned.deleted.append({**_entry(snapshot, region), "reason": not_kept})
    return planned


def run(
    rds: Rds, *, plan: str, component: str, policy: RetentionPolicy, check_mode: bool, diff: bool,
    clock: Clock = utc_now,
) -> dict[str, t.Any]:
    tags = component_tags(plan, component)
    planned = plan_prune(rds.snapshots(), rds.region, tags, policy, clock())
    result: dict[str, t.Any] = {
        "changed": bool(planned.deleted),
        "region": rds.region,
        "tags": tags,
        "kept": planned.kept,
        "deleted": planned.deleted,
        "left_alone": planned.left_alone,
    }
    if diff:
        before = sorted(item["db_snapshot_identifier"] for item in planned.kept + planned.deleted + planned.left_alone)
        gone = {item["db_snapshot_identifier"] for item in planned.deleted}
        result["diff"] = {
            "before": "".join(f"{name}\n" for name in before),
            "after": "".join(f"{name}\n" for name in before if name not in gone),
            "before_header": f"DB snapshots of {component} in {rds.region}",
            "after_header": f"DB snapshots of {component} in {rds.region}",
        }
    if check_mode:
        return result
    done: list[str] = []
    for item in planned.deleted:
        try:
            rds.call(
                f"delete DB snapshot {item['db_snapshot_identifier']} of component {component} (retention)",
                "delete_db_snapshot", missing="snapshot", DBSnapshotIdentifier=item["db_snapshot_identifier"],
            )
        except DrError as error:
            error.details.setdefault("deleted", [entry for entry in planned.deleted if entry["db_snapshot_identifier"] in done])
            error.details.setdefault("changed", bool(done))
            raise
        done.append(item["db_snapshot_identifier"])
    return result
