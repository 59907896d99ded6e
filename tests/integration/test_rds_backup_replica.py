# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_backup_replication and rds_restore source automated_backup_replica on the lab's moto server: only what
moto supports.

moto 5.2.5 implements neither start_db_instance_automated_backups_replication nor
SourceDBInstanceAutomatedBackupsArn on a point-in-time restore, and lists no replicated automated backups; the
replication started, the restore from a replica, its window and idempotence are tested with botocore's Stubber
(tests/unit/plugins/module_utils/_rds/test_backup_replication.py and test_replicated_backup.py). Here: the plans
and refusals that read real instances and real automated-backup listings.
"""

from __future__ import annotations

from . import rds_common
from .rds_common import instance_of, unique
from .conftest import boto3_client
from .test_level1_cloud import SECONDARY_REGION, two_region_plan

cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

DESTINATION_REGION = "us-west-2"
REPLICATE_TASK = "Replicate the automated backups of the instance into the region of each site restoring from them - billing-db"
KEY = "arn:aws:kms:us-west-2:111122223333:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_replication_check_mode_plans_the_start_and_an_encrypted_instance_needs_a_destination_key(ansible, aws, instance):
    args = {**aws, "db_instance_identifier": instance, "destination_region": DESTINATION_REGION,
            "destination_endpoint_url": aws["endpoint_url"], "kms_key_id": KEY, "backup_retention_period": 7}
    without_key = {key: value for key, value in args.items() if key != "kms_key_id"}
    missing = {**args, "db_instance_identifier": unique("no-such-db")}

    planned, refused, not_found = ansible.sequence([
        ("resilience.dr.rds_backup_replication", args, {"check": True, "diff": True}),
        ("resilience.dr.rds_backup_replication", without_key, {"check": True}),
        ("resilience.dr.rds_backup_replication", missing, {"check": True}),
    ])

    assert not planned["failed"] and planned["changed"] and planned["action"] == "start", planned
    assert planned["source_db_instance_arn"].endswith(f":db:{instance}") and planned["replication"] is None
    assert planned["diff"] == {"before": {"replicated_into": None}, "after": {"replicated_into": DESTINATION_REGION}}
    assert refused["failed"] and f"give kms_key_id, a key of {DESTINATION_REGION}" in refused["msg"], refused
    assert not_found["failed"] and f"not found in {aws['region']}" in not_found["msg"], not_found


def test_restore_from_a_replica_the_region_does_not_hold_is_refused_and_creates_nothing(ansible, aws, instance, cleanup):
    target = unique("orders-db-west")
    cleanup.instances.append((DESTINATION_REGION, target))
    west = {**aws, "region": DESTINATION_REGION}
    args = {**west, "source": "automated_backup_replica", "source_db_instance_identifier": instance,
            "use_latest_restorable_time": True, "db_instance_identifier": target}
    # In the instance's own region its automated backups are listed, but they are no replica.
    home = {**args, **aws, "db_instance_identifier": unique("orders-db-home")}

    planned, applied, same_region = ansible.sequence([
        ("resilience.dr.rds_restore", args, {"check": True}),
        ("resilience.dr.rds_restore", args),
        ("resilience.dr.rds_restore", home),
    ])

    for result in (planned, applied):
        assert result["failed"] and not result["changed"], result
        assert (f"no automated backups of DB instance {instance} are replicated into {DESTINATION_REGION}"
                in result["msg"]), result["msg"]
    assert instance_of(boto3_client(aws, "rds", DESTINATION_REGION), target) is None
    assert same_region["failed"] and "restore them with source point_in_time" in same_region["msg"], same_region


def test_backup_role_plans_the_replication_into_the_region_of_a_site_restoring_from_it(ansible, aws, instance, cleanup):
    """In check mode only: moto cannot start the replication, so a real run would fail at that call."""
    key = boto3_client(aws, "kms", SECONDARY_REGION).create_key(Description="billing-db replica")["KeyMetadata"]["Arn"]
    plan = two_region_plan(aws, instance, unique("billing-db"), key)
    secondary = plan["dr_plan"]["sites"]["secondary"]["components"]["billing-db"]
    secondary["restore"] = {"source": "automated_backup_replica"}
    secondary["backup"]["replication_retention_days"] = 3

    planned = ansible.playbook("playbooks/backup.yml", plan, check=True)

    assert planned.ok, planned.tail()
    replications = planned.result(REPLICATE_TASK)["results"]
    assert [(item["destination_region"], item["action"], item["changed"]) for item in replications] == [
        (SECONDARY_REGION, "start", True)]
    assert replications[0]["source_db_instance_arn"].endswith(f":db:{instance}")


def test_level1_on_the_site_restores_from_the_replica_and_stops_when_its_region_holds_none(ansible, aws, instance, cleanup):
    """rds_recovery passes the plan's source on: on moto, which lists no replicated backups, the restore is refused."""
    key = boto3_client(aws, "kms", SECONDARY_REGION).create_key(Description="billing-db replica")["KeyMetadata"]["Arn"]
    restored = unique("billing-db")
    cleanup.instances.append((SECONDARY_REGION, restored))
    plan = two_region_plan(aws, instance, restored, key)
    plan["dr_plan"]["sites"]["secondary"]["components"]["billing-db"]["restore"] = {"source": "automated_backup_replica"}
    level1 = {**plan, "component": "billing-db", "site": "secondary", "confirm": "yes"}

    checked = ansible.playbook("playbooks/level1_component.yml", level1, check=True)

    assert not checked.ok
    refused = checked.result("Restore the RDS instance - billing-db")
    assert refused["failed"] and (f"no automated backups of DB instance {instance} are replicated into "
                                  f"{SECONDARY_REGION}") in refused["msg"], refused
    assert instance_of(boto3_client(aws, "rds", SECONDARY_REGION), restored) is None
