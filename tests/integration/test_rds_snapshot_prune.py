# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_snapshot_prune through ansible-playbook against the lab's moto server, and the backup role
applying an rds component's retention in both regions. moto stamps each snapshot with the time it is
made, so the snapshots are taken one after the other; the rules themselves, with times of every age,
are unit-tested (tests/unit/plugins/module_utils/_rds/test_retention.py)."""

from __future__ import annotations

import time
import typing as t

from . import rds_common
from .conftest import boto3_client
from .rds_common import snapshot_of, unique
from .test_level1_cloud import SECONDARY_REGION, two_region_plan

# Fixtures shared by the RDS tests.
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

MODULE = "resilience.dr.rds_snapshot_prune"


def tags_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def test_keep_last_two_deletes_the_older_tagged_snapshots_and_nothing_else(ansible, aws, rds, instance, cleanup):
    plan = unique("shopfront")
    ours = {"resilience-dr-plan": plan, "resilience-dr-component": "orders-db"}
    taken = [unique(f"orders-db-{number}") for number in range(4)]
    untagged, other_plan = unique("before-release"), unique("orders-db-staging")
    for name in taken:
        rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=name, Tags=tags_list(ours))
        time.sleep(0.05)
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=untagged,
                           Tags=[{"Key": "reason", "Value": "pre-deploy"}])
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=other_plan,
                           Tags=tags_list({**ours, "resilience-dr-plan": "staging"}))
    cleanup.snapshots += [(aws["region"], name) for name in (*taken, untagged, other_plan)]
    args = {**aws, "plan": plan, "component": "orders-db", "keep_last": 2}

    [planned] = ansible.sequence([(MODULE, args, {"check": True, "diff": True})])
    assert not planned["failed"] and planned["changed"], planned
    assert [item["db_snapshot_identifier"] for item in planned["deleted"]] == [taken[1], taken[0]]
    assert [item["db_snapshot_identifier"] for item in planned["kept"]] == [taken[3], taken[2]]
    assert planned["kept"][0]["reasons"] == ["newest backup", "last 1"]
    assert planned["deleted"][0]["reason"] == "kept by no retention rule (keep_last 2)"
    assert planned["diff"]["after"] == "".join(f"{name}\n" for name in sorted(taken[2:]))
    assert all(snapshot_of(rds, name) is not None for name in taken), "check mode deleted a snapshot"

    applied, again, planned_again = ansible.sequence([
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
    ])
    assert not applied["failed"] and applied["changed"], applied
    assert [snapshot_of(rds, name) is not None for name in taken] == [False, False, True, True]
    assert snapshot_of(rds, untagged) is not None and snapshot_of(rds, other_plan) is not None

    for result in (again, planned_again):
        assert not result["failed"] and not result["changed"] and result["deleted"] == [], result
        assert [item["db_snapshot_identifier"] for item in result["kept"]] == [taken[3], taken[2]]


def test_an_empty_policy_is_refused(ansible, aws):
    [result] = ansible.sequence([(MODULE, {**aws, "plan": "shopfront", "component": "orders-db"})])
    assert result["failed"] and "no retention rule is set" in result["msg"], result


def test_the_backup_role_keeps_the_newest_snapshot_in_both_regions(ansible, aws, rds, instance, cleanup):
    secondary = boto3_client(aws, "rds", SECONDARY_REGION)
    key = boto3_client(aws, "kms", SECONDARY_REGION).create_key(Description="billing-db copies")["KeyMetadata"]["Arn"]
    plan = two_region_plan(aws, instance, unique("billing-db"), key)
    plan["dr_plan"]["components"][0]["backup"]["retention"] = {"keep_last": 1}
    tags = {"resilience-dr-plan": plan["dr_plan"]["name"], "resilience-dr-component": "billing-db"}
    restore_point = unique("billing-db-before-release")
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=restore_point)
    cleanup.snapshots.append((aws["region"], restore_point))
    prune_task = "Apply the retention of the component to its RDS snapshots in every region - billing-db"

    def ours(client: t.Any) -> list[str]:
        found = [item["DBSnapshotIdentifier"] for item in client.describe_db_snapshots()["DBSnapshots"]
                 if rds_common.tags_of(client, item["DBSnapshotArn"]) == tags]
        cleanup.snapshots.extend((client.meta.region_name, name) for name in found)
        return sorted(found)

    names = []
    for _backup in range(2):
        run = ansible.playbook("playbooks/backup.yml", plan)
        assert run.ok, run.tail()
        names.append(run.result("Take a manual RDS snapshot - billing-db")["db_snapshot_identifier"])
        time.sleep(1.1)  # snapshot names have whole seconds
    pruned = run.result(prune_task)["results"]
    assert [(item["region"], [entry["db_snapshot_identifier"] for entry in item["deleted"]]) for item in pruned] == [
        (aws["region"], [names[0]]), (SECONDARY_REGION, [names[0]])]
    assert ours(rds) == [names[1]] and ours(secondary) == [names[1]]
    assert snapshot_of(rds, restore_point) is not None, "a snapshot without the plan's tags was deleted"

    checked = ansible.playbook("playbooks/backup.yml", plan, check=True)
    assert checked.ok, checked.tail()
    would = checked.result(prune_task)["results"]
    assert all(not item["changed"] and item["deleted"] == [] for item in would), would
    assert ours(rds) == [names[1]] and ours(secondary) == [names[1]]
