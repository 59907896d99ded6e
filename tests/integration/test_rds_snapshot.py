# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_snapshot through ansible-playbook against the lab's moto server.

Every outcome is checked with the RDS (and KMS) API directly, independent of
the module. Each test works on its own instances and snapshots (unique names)
and removes them afterwards. moto makes snapshots available at once, so the
waits here end on the first poll; the waiting itself is exercised against a
stopped instance in test_rds_restore.py.
"""

from __future__ import annotations

from .conftest import boto3_client
from . import rds_common
from .rds_common import snapshot_of, tags_of, unique

# Fixtures shared by the RDS tests.
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

MODULE = "resilience.dr.rds_snapshot"
DESTINATION_REGION = "us-west-2"


def test_snapshot_created_tagged_idempotent_and_deleted(ansible, aws, rds, instance, cleanup):
    name = unique("before-release")
    cleanup.snapshots.append((aws["region"], name))
    args = {**aws, "db_instance_identifier": instance, "db_snapshot_identifier": name,
            "tags": {"reason": "pre-deploy", "release": "4.2"}}
    tagged = {**args, "tags": {"reason": "pre-deploy", "release": "4.3"}}
    absent = {**aws, "db_snapshot_identifier": name, "state": "absent"}

    planned, applied, again, planned_again, retag, deleted_check = ansible.sequence([
        (MODULE, args, {"check": True, "diff": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
        (MODULE, tagged, {"diff": True}),
        (MODULE, absent, {"check": True}),
    ])
    assert not planned["failed"] and planned["changed"], planned
    assert planned["actions"] == [f"create {name} in {aws['region']}: manual snapshot of DB instance {instance}"]
    assert planned["snapshot"] is None and planned["diff"]["before"] == {}
    assert planned["diff"]["after"]["snapshot"]["tags"] == {"reason": "pre-deploy", "release": "4.2"}

    assert not applied["failed"] and applied["changed"], applied
    stored = snapshot_of(rds, name)
    assert stored is not None and stored["DBInstanceIdentifier"] == instance and stored["SnapshotType"] == "manual"
    assert applied["snapshot"]["status"] == "available" and applied["snapshot"]["db_snapshot_arn"] == stored["DBSnapshotArn"]
    assert applied["snapshot"]["encrypted"] is True
    assert applied["progress"] and applied["progress"][-1]["status"] == "available"

    for result in (again, planned_again):
        assert not result["failed"] and not result["changed"] and result["actions"] == [], result

    assert not retag["failed"] and retag["changed"], retag
    assert retag["actions"] == [f"tag {name} in {aws['region']}: set tags release=4.3"]
    assert tags_of(rds, stored["DBSnapshotArn"]) == {"reason": "pre-deploy", "release": "4.3"}

    assert not deleted_check["failed"] and deleted_check["changed"], deleted_check
    assert snapshot_of(rds, name) is not None, "check mode deleted the snapshot"

    deleted, deleted_again = ansible.sequence([(MODULE, absent), (MODULE, absent)])
    assert not deleted["failed"] and deleted["changed"], deleted
    assert snapshot_of(rds, name) is None
    assert not deleted_again["failed"] and not deleted_again["changed"], deleted_again


def test_cross_region_copy_is_reencrypted_with_the_destination_key(ansible, aws, rds, instance, cleanup):
    name = unique("nightly")
    cleanup.snapshots += [(aws["region"], name), (DESTINATION_REGION, name)]
    destination = boto3_client(aws, "rds", DESTINATION_REGION)
    kms = boto3_client(aws, "kms", DESTINATION_REGION)
    key = kms.create_key(Description="orders-db snapshots in the secondary region")["KeyMetadata"]
    other_key = kms.create_key(Description="another key")["KeyMetadata"]
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=name, Tags=[{"Key": "schedule", "Value": "nightly"}])
    args = {**aws, "db_snapshot_identifier": name, "copy_to_region": DESTINATION_REGION, "kms_key_id": key["Arn"]}

    planned, copied, again, planned_again, other = ansible.sequence([
        (MODULE, args, {"check": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
        (MODULE, {**args, "kms_key_id": other_key["KeyId"]}),
    ])
    assert not planned["failed"] and planned["changed"], planned
    assert planned["actions"] == [
        f"copy {name} in {DESTINATION_REGION}: copy of {name} from {aws['region']}, re-encrypted with KMS key {key['Arn']}"
    ]
    assert not copied["failed"] and copied["changed"], copied
    copy = snapshot_of(destination, name)
    assert copy is not None and copy["Encrypted"] and copy["KmsKeyId"] == key["Arn"]
    assert copy["DBInstanceIdentifier"] == instance
    assert tags_of(destination, copy["DBSnapshotArn"]) == {"schedule": "nightly"}, "the copy takes the source's tags"
    assert copied["copy"]["region"] == DESTINATION_REGION and copied["copy"]["kms_key_id"] == key["Arn"]
    assert copied["snapshot"]["region"] == aws["region"]

    for result in (again, planned_again):
        assert not result["failed"] and not result["changed"] and result["actions"] == [], result

    assert other["failed"], other
    assert f"DB snapshot {name} in {DESTINATION_REGION} exists but is encrypted with KMS key {key['Arn']}" in other["msg"]
    assert snapshot_of(destination, name)["KmsKeyId"] == key["Arn"]


def test_missing_snapshot_or_instance_name_clash_and_missing_key_are_refused(ansible, aws, rds, instance, cleanup):
    taken = unique("taken")
    cleanup.snapshots.append((aws["region"], taken))
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=taken)
    missing_instance = unique("no-such-db")
    missing_snapshot = unique("no-such-snapshot")
    other_instance = unique("other-db")
    unencrypted_copy = unique("nightly")
    cleanup.snapshots += [(aws["region"], unencrypted_copy), (DESTINATION_REGION, unencrypted_copy)]
    no_snapshot, no_instance, clash, no_key = ansible.sequence([
        (MODULE, {**aws, "db_snapshot_identifier": missing_snapshot, "copy_to_region": DESTINATION_REGION}),
        (MODULE, {**aws, "db_snapshot_identifier": unique("pre-deploy"), "db_instance_identifier": missing_instance}),
        (MODULE, {**aws, "db_snapshot_identifier": taken, "db_instance_identifier": other_instance}),
        (MODULE, {**aws, "db_instance_identifier": instance, "db_snapshot_identifier": unencrypted_copy,
                  "copy_to_region": DESTINATION_REGION}),
    ])
    assert no_snapshot["failed"], no_snapshot
    assert f"DB snapshot {missing_snapshot} not found in {aws['region']}" in no_snapshot["msg"]
    assert no_instance["failed"], no_instance
    assert f"DB instance {missing_instance} not found in {aws['region']}" in no_instance["msg"]
    assert clash["failed"], clash
    assert f"is a snapshot of DB instance {instance}, not {other_instance}" in clash["msg"]
    # An encrypted snapshot copied without a key of the destination region: refused before anything changes.
    assert no_key["failed"] and not no_key["changed"], no_key
    assert f"DB snapshot {unencrypted_copy} is encrypted: a copy to {DESTINATION_REGION} must be re-encrypted" in no_key["msg"]
    assert "give kms_key_id" in no_key["msg"]
    assert snapshot_of(rds, unencrypted_copy) is None, "the snapshot was taken although the run was refused"


def test_module_defaults_of_the_aws_group_apply(ansible, aws, rds, instance, cleanup):
    name = unique("grouped")
    cleanup.snapshots.append((aws["region"], name))
    run = ansible.tasks([{
        "name": "Snapshot with the group's defaults",
        "module_defaults": {"group/resilience.dr.aws": aws},
        MODULE: {"db_instance_identifier": instance, "db_snapshot_identifier": name},
    }])
    result = run.result("Snapshot with the group's defaults")
    assert not result["failed"] and result["changed"], result
    assert snapshot_of(rds, name) is not None
