# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 1 for the cloud component kinds, on the lab's moto server: an S3
bucket prefix rolled back to a point in time, and an RDS instance restored to
its latest restorable time, both through playbooks/level1_component.yml."""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timezone

from . import rds_common
from .conftest import boto3_client
from .rds_common import unique
from .s3_common import objects, s3_component

# The RDS fixtures shared with the module tests.
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

PLAYBOOK = "playbooks/level1_component.yml"


def cloud_plan(tmp_path, aws: dict[str, str], bucket: str, source: str, restored: str) -> dict[str, t.Any]:
    return {"dr_plan": {
        "name": "cloudshop",
        "repository": {"location": str(tmp_path / "repository")},
        "components": [
            s3_component(aws, bucket),
            {"name": "billing-db", "kind": "rds", "rto": "2h", "rpo": "5m",
             "connection": {"db_instance_identifier": restored, **aws},
             "restore": {"source_db_instance_identifier": source}, "backup": {"method": "snapshot"}},
        ],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }}


def test_level1_rolls_an_s3_prefix_back_to_the_given_time(ansible, aws, s3_bucket, instance, tmp_path):
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    for number in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"images/{number}.png", Body=f"good {number}".encode())
    client.put_object(Bucket=s3_bucket, Key="other/keep.txt", Body=b"outside the prefix")
    good = objects(client, s3_bucket)
    time.sleep(2)  # S3 times have whole seconds
    moment = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(2)
    client.put_object(Bucket=s3_bucket, Key="images/0.png", Body=b"ransomware")
    client.delete_object(Bucket=s3_bucket, Key="images/1.png")
    plan = cloud_plan(tmp_path, aws, s3_bucket, instance, unique("billing-restored"))

    missing_time = ansible.playbook(PLAYBOOK, {**plan, "component": "product-images", "confirm": "yes"})
    assert not missing_time.ok and "-e target_time=" in missing_time.stdout

    run = ansible.playbook(PLAYBOOK, {**plan, "component": "product-images", "target_time": moment, "confirm": "yes"})
    assert run.ok, run.tail()
    assert objects(client, s3_bucket) == good


def test_level1_restores_an_rds_instance_to_the_latest_restorable_time(
        ansible, aws, rds, instance, cleanup, tmp_path, s3_bucket):
    restored = unique("billing-restored")
    cleanup.instances.append((aws["region"], restored))
    plan = cloud_plan(tmp_path, aws, s3_bucket, instance, restored)

    run = ansible.playbook(PLAYBOOK, {**plan, "component": "billing-db", "confirm": "yes"})
    assert run.ok, run.tail()
    described = rds.describe_db_instances(DBInstanceIdentifier=restored)["DBInstances"][0]
    assert described["DBInstanceStatus"] == "available"
    result = run.result("Restore the RDS instance - billing-db")
    assert result["endpoint"] and result["db_instance_identifier"] == restored

    again = ansible.playbook(PLAYBOOK, {**plan, "component": "billing-db", "confirm": "yes"})
    assert again.ok and not again.result("Restore the RDS instance - billing-db")["changed"]


SECONDARY_REGION = "us-west-2"


def two_region_plan(aws: dict[str, str], source: str, restored: str, secondary_key: str) -> dict[str, t.Any]:
    """billing-db lives in the lab's region on the primary site and in SECONDARY_REGION on the secondary."""
    return {"dr_plan": {
        "name": unique("cloudshop"),
        "components": [
            {"name": "billing-db", "kind": "rds", "rto": "2h", "rpo": "1d",
             "connection": {"db_instance_identifier": restored, **aws},
             "restore": {"source_db_instance_identifier": source}, "backup": {"method": "snapshot"}},
        ],
        "sites": {
            "primary": {"address": "127.0.0.1"},
            "secondary": {"address": "127.0.0.2", "components": {"billing-db": {
                "connection": {"region": SECONDARY_REGION}, "backup": {"kms_key_id": secondary_key}}}},
        },
    }}


def test_backup_copies_rds_snapshots_to_the_secondary_region_and_level1_restores_the_newest_there_after_region_loss(
        ansible, aws, rds, instance, cleanup):
    primary, secondary = rds, boto3_client(aws, "rds", SECONDARY_REGION)
    key = boto3_client(aws, "kms", SECONDARY_REGION).create_key(Description="billing-db copies")["KeyMetadata"]["Arn"]
    restored = unique("billing-db")
    cleanup.instances.append((SECONDARY_REGION, restored))
    plan = two_region_plan(aws, instance, restored, key)
    tags = {"resilience-dr-plan": plan["dr_plan"]["name"], "resilience-dr-component": "billing-db"}
    copy_task = "Copy the RDS snapshot to the region of each other site - billing-db"
    copies_task = "Add the copies to the backup's result - billing-db"

    def ours(client: t.Any) -> list[dict[str, t.Any]]:
        found = [item for item in client.describe_db_snapshots()["DBSnapshots"]
                 if rds_common.tags_of(client, item["DBSnapshotArn"]) == tags]
        cleanup.snapshots += [(client.meta.region_name, item["DBSnapshotIdentifier"]) for item in found]
        return found

    planned = ansible.playbook("playbooks/backup.yml", plan, check=True)
    assert planned.ok, planned.tail()
    assert any(action.startswith("copy ") and f"in {SECONDARY_REGION}" in action
               for action in planned.result(copy_task)["results"][0]["actions"])
    assert ours(primary) == [] and ours(secondary) == [], "check mode took or copied a snapshot"

    taken = []
    for _backup in range(2):  # two backups: level 1 must pick the newer copy
        run = ansible.playbook("playbooks/backup.yml", plan)
        assert run.ok, run.tail()
        taken.append(run.result(copies_task)["ansible_facts"]["backup_rds"])
        time.sleep(1.1)  # snapshot names have whole seconds
    copies = {item["DBSnapshotIdentifier"]: item for item in ours(secondary)}
    assert sorted(copies) == sorted(backup["db_snapshot_identifier"] for backup in taken)
    for backup in taken:
        [recorded] = backup["copies"]
        stored = copies[recorded["db_snapshot_identifier"]]
        assert recorded["site"] == "secondary" and recorded["region"] == SECONDARY_REGION and recorded["changed"]
        assert stored["KmsKeyId"] == key and stored["Status"] == "available"
        # When the copy was made there and when its data was taken: the copy lag and the age of the newest copy.
        assert datetime.fromisoformat(recorded["snapshot_create_time"]) == stored["SnapshotCreateTime"]
        assert recorded["original_snapshot_create_time"] == backup["snapshot"]["snapshot_create_time"]
    newest = taken[-1]["db_snapshot_identifier"]

    # The primary region is lost: its instance and every snapshot there are gone.
    for item in ours(primary):
        primary.delete_db_snapshot(DBSnapshotIdentifier=item["DBSnapshotIdentifier"])
    primary.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)

    level1 = {**plan, "component": "billing-db", "site": "secondary", "confirm": "yes"}
    restore_task = "Restore the RDS instance - billing-db"
    checked = ansible.playbook(PLAYBOOK, level1, check=True)
    assert checked.ok, checked.tail()
    would = checked.result(restore_task)
    assert would["changed"] and would["snapshot"]["db_snapshot_identifier"] == newest
    assert would["snapshot"]["region"] == SECONDARY_REGION and would["snapshot"]["age_s"] >= 0
    said = checked.result("Say which snapshot the restore used and how old its data is - billing-db")["msg"]
    assert f"would be restored on secondary from DB snapshot {newest} in {SECONDARY_REGION}" in said
    assert rds_common.instance_of(secondary, restored) is None, "check mode restored"

    run = ansible.playbook(PLAYBOOK, level1)
    assert run.ok, run.tail()
    result = run.result(restore_task)
    assert result["changed"] and result["snapshot"]["db_snapshot_identifier"] == newest and result["endpoint"]
    assert result["consistency_point"]["time"] == taken[-1]["snapshot"]["snapshot_create_time"]
    described = rds_common.instance_of(secondary, restored)
    assert described["DBInstanceStatus"] == "available"
    assert rds_common.tags_of(secondary, described["DBInstanceArn"])["resilience.dr:restored-from"] == f"snapshot:{newest}"

    again = ansible.playbook(PLAYBOOK, level1)
    assert again.ok and not again.result(restore_task)["changed"], again.tail()
