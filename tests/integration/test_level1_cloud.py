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
            {"name": "product-images", "kind": "s3", "rto": "1h", "rpo": "0s",
             "connection": {"bucket": bucket, "prefix": "images/", **aws}, "backup": {"method": "versioning"}},
            {"name": "billing-db", "kind": "rds", "rto": "2h", "rpo": "5m",
             "connection": {"db_instance_identifier": restored, **aws},
             "restore": {"source_db_instance_identifier": source}, "backup": {"method": "snapshot"}},
        ],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }}


def objects(client: t.Any, bucket: str) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}


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
