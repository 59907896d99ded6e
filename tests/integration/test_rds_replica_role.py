# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 3's RDS path through a read replica: on a site whose plan says restore.source: replica, the rds_recovery
role promotes the cross-region read replica of the primary's instance (moto server of the lab).

moto keeps ReadReplicaSourceDBInstanceIdentifier on an instance after its promotion (RDS clears it), but refuses
to stop a read replica as RDS does: being able to stop the instance is the independent proof that it is a
standalone instance now.
"""

from __future__ import annotations

import typing as t

import pytest

from . import rds_common
from .conftest import boto3_client
from .rds_common import instance_of, unique

cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

REPLICA_REGION = "us-west-2"
TASK = "Restore the RDS instance - orders-db"


def plan_with_replica(aws: dict[str, str], source: str, replica: str) -> dict[str, t.Any]:
    return {
        "name": "cloudshop",
        "components": [{
            "name": "orders-db", "kind": "rds", "rpo": "5m", "rto": "1h",
            "connection": {"db_instance_identifier": unique("orders-db-restored"), **aws},
            "restore": {"source_db_instance_identifier": source, "db_instance_class": "db.r6g.large"},
            "backup": {"method": "snapshot"},
        }],
        "sites": {
            "primary": {"address": "127.0.0.1"},
            "secondary": {"address": "127.0.0.2", "components": {"orders-db": {
                "connection": {"db_instance_identifier": replica, "region": REPLICA_REGION},
                "restore": {"source": "replica"},
            }}},
        },
    }


def role_tasks(**variables: t.Any) -> list[dict[str, t.Any]]:
    return [
        {"name": "Resolve the plan for the secondary", "ansible.builtin.include_role": {"name": "resilience.dr.plan"},
         "vars": {"plan_site": "secondary", "plan_uses": ["components"]}},
        {"name": "Recover orders-db", "ansible.builtin.include_role": {"name": "resilience.dr.rds_recovery"},
         "vars": {"rds_recovery_component": "orders-db", **variables}},
    ]


def can_be_stopped(client: t.Any, identifier: str) -> bool:
    try:
        client.stop_db_instance(DBInstanceIdentifier=identifier)
    except client.exceptions.ClientError as error:
        assert "Invalid DB type" in str(error), error
        return False
    client.start_db_instance(DBInstanceIdentifier=identifier)
    return True


@pytest.fixture
def replica(aws, rds, instance, cleanup) -> str:
    """A read replica of the primary's instance in another region."""
    identifier = unique("orders-db-replica")
    west = boto3_client(aws, "rds", REPLICA_REGION)
    source_arn = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceArn"]
    west.create_db_instance_read_replica(DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=source_arn)
    cleanup.instances.append((REPLICA_REGION, identifier))
    return identifier


def test_the_role_promotes_the_cross_region_replica_once(ansible, aws, instance, replica):
    west = boto3_client(aws, "rds", REPLICA_REGION)
    plan = {"dr_plan": plan_with_replica(aws, instance, replica)}
    assert not can_be_stopped(west, replica)

    check = ansible.tasks(role_tasks(), plan, check=True)
    assert check.ok, check.tail()
    planned = check.result(TASK)
    assert planned["changed"] and planned["action"] == "promote", planned
    assert not can_be_stopped(west, replica), "check mode promoted the replica"

    run = ansible.tasks(role_tasks(), plan)
    assert run.ok, run.tail()
    promoted = run.result(TASK)
    assert promoted["changed"] and promoted["action"] == "promote" and promoted["db_instance_identifier"] == replica
    assert promoted["endpoint"] and REPLICA_REGION in promoted["endpoint"]
    assert instance_of(west, replica)["DBInstanceStatus"] == "available"
    assert can_be_stopped(west, replica)

    again = ansible.tasks(role_tasks(), plan)
    assert again.ok and not again.result(TASK)["changed"] and again.result(TASK)["action"] == "none"
    check_again = ansible.tasks(role_tasks(), plan, check=True)
    assert check_again.ok and not check_again.result(TASK)["changed"]


def test_a_point_in_time_is_refused_for_a_replica(ansible, aws, instance, replica):
    west = boto3_client(aws, "rds", REPLICA_REGION)
    plan = {"dr_plan": plan_with_replica(aws, instance, replica)}
    run = ansible.tasks(role_tasks(rds_recovery_restore_time="2026-11-23T04:00:00Z"), plan)
    assert not run.ok
    assert "promotes its read replica" in run.stdout and "run without target_time" in run.stdout
    assert not can_be_stopped(west, replica)
