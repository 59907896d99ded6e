# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecs_redeploy on the lab's moto server: an ECS service moved to a new revision of its task definition whose
containers hold the restored database endpoint and the secondary region's secret ARN.

What moto can and cannot show: it registers revisions, keeps every key of a task definition and points the
service at the revision it is updated to, which is what these tests check (through ECS's own API). It never
starts tasks and never replaces a service's deployment, so a service does not become steady there: the runs
here use wait: false, and one run shows that wait: true stops after wait_timeout with what the service reports.
The steady-state judgment (one deployment, of the new revision, every task running; a failed rollout) is tested
against real ECS answers in tests/unit/plugins/module_utils/_ecs/test_service.py.
"""

from __future__ import annotations

import typing as t
import uuid

import pytest

from .conftest import boto3_client

MODULE = "resilience.dr.ecs_redeploy"
OLD_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-db-AbCdEf"
NEW_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-db-dr-GhIjKl"


@pytest.fixture
def ecs(aws):
    return boto3_client(aws, "ecs")


@pytest.fixture
def service(ecs) -> t.Iterator[dict[str, str]]:
    """A cluster with a service on revision 1 of its task definition (old endpoint), removed afterwards."""
    cluster = f"shop-{uuid.uuid4().hex[:8]}"
    family = f"api-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    first = ecs.register_task_definition(
        family=family, networkMode="bridge", pidMode="task", tags=[{"key": "team", "value": "shop"}],
        containerDefinitions=[
            {"name": "api", "image": "shop/api:41", "memory": 256,
             "environment": [{"name": "DATABASE_HOST", "value": "orders-db.old.us-east-1.rds.amazonaws.com"},
                             {"name": "LOG_LEVEL", "value": "info"}],
             "secrets": [{"name": "DATABASE_CREDENTIALS", "valueFrom": OLD_SECRET}]},
            {"name": "proxy", "image": "shop/proxy:3", "memory": 64},
        ],
    )["taskDefinition"]
    ecs.create_service(cluster=cluster, serviceName="api", taskDefinition=first["taskDefinitionArn"], desiredCount=2)
    yield {"cluster": cluster, "family": family, "first": first["taskDefinitionArn"]}
    ecs.update_service(cluster=cluster, service="api", desiredCount=0)
    ecs.delete_service(cluster=cluster, service="api")
    for arn in ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_cluster(cluster=cluster)


def running_definition(ecs, cluster: str) -> dict[str, t.Any]:
    """The task definition the service points at, as ECS describes it."""
    arn = ecs.describe_services(cluster=cluster, services=["api"])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])


def environment_of(definition: dict[str, t.Any], container: str = "api") -> dict[str, str]:
    found = next(item for item in definition["taskDefinition"]["containerDefinitions"] if item["name"] == container)
    values = {pair["name"]: pair["value"] for pair in found.get("environment") or []}
    values.update({pair["name"]: pair["valueFrom"] for pair in found.get("secrets") or []})
    return values


def test_service_is_redeployed_with_the_restored_endpoint(ansible, aws, ecs, service):
    endpoint = "orders-db.restored.us-east-1.rds.amazonaws.com"
    args = {**aws, "cluster": service["cluster"], "service": "api", "wait": False,
            "environment": {"DATABASE_HOST": endpoint}, "secrets": {"DATABASE_CREDENTIALS": NEW_SECRET}}
    check, applied, again, check_again = ansible.sequence([
        (MODULE, args, {"check": True, "diff": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
    ])
    assert not check["failed"] and check["changed"] and check["task_definition_arn"] is None, check
    assert check["diff"]["after"]["variables"] == {"api": {"DATABASE_HOST": endpoint, "DATABASE_CREDENTIALS": NEW_SECRET}}

    assert not applied["failed"] and applied["changed"] and applied["action"] == "register_and_update", applied
    assert applied["previous_task_definition_arn"] == service["first"]
    assert applied["task_definition_arn"].endswith(f"task-definition/{service['family']}:2")
    # What ECS now holds: the service points at the new revision, whose container holds the new endpoint and
    # secret ARN, and keeps everything else of revision 1.
    now = running_definition(ecs, service["cluster"])
    assert now["taskDefinition"]["taskDefinitionArn"] == applied["task_definition_arn"]
    assert environment_of(now) == {"DATABASE_HOST": endpoint, "LOG_LEVEL": "info", "DATABASE_CREDENTIALS": NEW_SECRET}
    assert now["taskDefinition"]["pidMode"] == "task" and now["tags"] == [{"key": "team", "value": "shop"}]
    assert [item["name"] for item in now["taskDefinition"]["containerDefinitions"]] == ["api", "proxy"]
    assert environment_of(ecs.describe_task_definition(taskDefinition=service["first"]))["DATABASE_HOST"] != endpoint

    assert not again["failed"] and not again["changed"] and again["action"] == "none", again
    assert not check_again["failed"] and not check_again["changed"], check_again
    revisions = ecs.list_task_definitions(familyPrefix=service["family"])["taskDefinitionArns"]
    assert len(revisions) == 2


def test_a_misspelt_variable_is_refused_before_anything_changes(ansible, aws, ecs, service):
    result = ansible.module(MODULE, {**aws, "cluster": service["cluster"], "service": "api", "wait": False,
                                     "environment": {"DATABSE_HOST": "x"}})
    assert result["failed"] and "has the environment variable DATABSE_HOST" in result["msg"]
    assert "api: DATABASE_HOST, LOG_LEVEL" in result["msg"]
    assert running_definition(ecs, service["cluster"])["taskDefinition"]["taskDefinitionArn"] == service["first"]


def test_an_unknown_service_names_cluster_and_region(ansible, aws, service):
    result = ansible.module(MODULE, {**aws, "cluster": service["cluster"], "service": "billing", "wait": False,
                                     "environment": {"DATABASE_HOST": "x"}})
    assert result["failed"] and f"billing is not an active service of cluster {service['cluster']}" in result["msg"]


def test_the_wait_is_bounded_and_says_what_the_service_reports(ansible, aws, ecs, service):
    # moto never runs the service's tasks (see the module docstring): the wait ends after wait_timeout, with the
    # service updated and its deployments named.
    result = ansible.module(MODULE, {**aws, "cluster": service["cluster"], "service": "api", "wait_timeout": 3,
                                     "environment": {"DATABASE_HOST": "orders-db.other.rds.amazonaws.com"}})
    assert result["failed"] and "was not steady on" in result["msg"] and "within wait_timeout 3s" in result["msg"]
    assert result["progress"] and result["task_definition_arn"].endswith(":2")
    assert running_definition(ecs, service["cluster"])["taskDefinition"]["revision"] == 2
