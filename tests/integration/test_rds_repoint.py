# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After an RDS restore, the application learns the new endpoint (the component's repoint): level 1 of an rds
component on the lab's plan writes it into the lab application's environment file and restarts the api, which
requires the component, with it; writes it into a Secrets Manager secret as a new version; and redeploys an ECS
service on a revision holding it (moto server of the lab).

moto never starts ECS tasks, so the plan's ECS service says wait: false; test_ecs_redeploy.py says what the wait
does there. The api restarted is the lab's real application process: its environment is read from /proc.
"""

from __future__ import annotations

import copy
import json
import typing as t
import uuid
from pathlib import Path

import pytest
import yaml

from . import rds_common
from .conftest import LAB_DIR, boto3_client
from .rds_common import unique

cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

PLAYBOOK = "playbooks/level1_component.yml"
VARIABLE = "REPORTING_DB_HOST"
PASSWORD = "reporting-password-1"


@pytest.fixture
def ecs_service(aws) -> t.Iterator[dict[str, str]]:
    ecs = boto3_client(aws, "ecs")
    cluster, family = f"shop-{uuid.uuid4().hex[:8]}", f"reports-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    first = ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "reports", "image": "shop/reports:7", "memory": 128,
         "environment": [{"name": VARIABLE, "value": "reporting.old.rds.amazonaws.com"}]}])["taskDefinition"]
    ecs.create_service(cluster=cluster, serviceName="reports", taskDefinition=first["taskDefinitionArn"], desiredCount=1)
    yield {"cluster": cluster, "family": family}
    ecs.update_service(cluster=cluster, service="reports", desiredCount=0)
    ecs.delete_service(cluster=cluster, service="reports")
    for arn in ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_cluster(cluster=cluster)


@pytest.fixture
def secret(aws) -> t.Iterator[str]:
    client = boto3_client(aws, "secretsmanager")
    name = f"shopfront/reporting-{uuid.uuid4().hex[:8]}"
    client.create_secret(Name=name, SecretString=json.dumps(
        {"engine": "postgres", "host": "reporting.old.rds.amazonaws.com", "port": 5432, "username": "reports",
         "password": PASSWORD}))
    yield name
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def environment_file(lab) -> t.Iterator[Path]:
    """The lab application's environment file, put back afterwards."""
    path = Path(lab["sites"]["primary"]["app"]["environment_file"])
    original = path.read_text()
    yield path
    path.write_text(original)


def process_environment(lab: dict[str, t.Any], service: str) -> dict[str, str]:
    pidfile = LAB_DIR / "run" / f"primary-{service}.pid"
    pid = pidfile.read_text().split()[0]
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_level1_points_the_files_secret_and_ecs_service_at_the_restored_instance(
        ansible, aws, lab, instance, cleanup, ecs_service, secret, environment_file):
    restored = unique("reporting-restored")
    cleanup.instances.append((aws["region"], restored))
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    lab_plan = copy.deepcopy(plan["dr_plan"])
    lab_plan["components"].append({
        "name": "reporting-db", "kind": "rds", "rto": "2h", "rpo": "1d",
        "connection": {"db_instance_identifier": restored, **aws},
        "restore": {"source_db_instance_identifier": instance}, "backup": {"method": "snapshot"},
        "repoint": {
            "values": {VARIABLE: "{endpoint}"},
            "environment_files": [{"path": str(environment_file)}],
            "secrets": [{"secret_id": secret, "keys": {"host": "{endpoint}", "port": "{port}"}}],
            "ecs_services": [{"cluster": ecs_service["cluster"], "service": "reports", "wait": False}],
        },
    })
    api = next(service for service in lab_plan["services"] if service["name"] == "api")
    api["requires"].append("reporting-db")
    extravars = {"dr_plan": lab_plan, "component": "reporting-db", "confirm": "yes"}
    secrets_client, ecs = boto3_client(aws, "secretsmanager"), boto3_client(aws, "ecs")
    api_before, worker_before = process_environment(lab, "api"), process_environment(lab, "worker")
    file_before = environment_file.read_text()

    check = ansible.playbook(PLAYBOOK, extravars, check=True)
    assert check.ok, check.tail()
    assert "does not exist yet" in check.stdout
    assert environment_file.read_text() == file_before
    assert len(secrets_client.list_secret_version_ids(SecretId=secret)["Versions"]) == 1

    run = ansible.playbook(PLAYBOOK, extravars)
    assert run.ok, run.tail()
    endpoint = rds_common.instance_of(boto3_client(aws, "rds"), restored)["Endpoint"]["Address"]
    assert endpoint and endpoint != "reporting.old.rds.amazonaws.com"
    # The environment file, and the api restarted with it (the worker does not require the component).
    assert f"\n{VARIABLE}={endpoint}\n" in "\n" + environment_file.read_text()
    assert process_environment(lab, "api")[VARIABLE] == endpoint
    assert process_environment(lab, "api") != api_before
    assert process_environment(lab, "worker") == worker_before
    # The secret: a new version with the new host, the password kept.
    value = json.loads(secrets_client.get_secret_value(SecretId=secret)["SecretString"])
    assert value["host"] == endpoint and value["port"] == 5432 and value["password"] == PASSWORD
    assert len(secrets_client.list_secret_version_ids(SecretId=secret)["Versions"]) == 2
    # The ECS service points at a new revision whose container holds the endpoint.
    arn = ecs.describe_services(cluster=ecs_service["cluster"], services=["reports"])["services"][0]["taskDefinition"]
    container = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]
    assert arn.endswith(f"{ecs_service['family']}:2") and container["environment"] == [{"name": VARIABLE, "value": endpoint}]
    secrets_output = json.dumps(run.events)
    assert PASSWORD not in secrets_output

    again = ansible.playbook(PLAYBOOK, extravars)
    assert again.ok, again.tail()
    for task in ("Write the restored endpoint into the environment files - reporting-db",
                 "Write the restored endpoint into the Secrets Manager secrets - reporting-db",
                 "Redeploy the ECS services on the restored endpoint - reporting-db"):
        assert not again.result(task)["changed"], task
    assert not again.results("Restart the running services that use the component, in the plan's order - reporting-db")
    assert len(secrets_client.list_secret_version_ids(SecretId=secret)["Versions"]) == 2


def test_the_running_services_that_require_the_component_restart_in_order_when_a_file_changed(
        ansible, aws, lab, instance, environment_file):
    # The repoint alone, on an instance that exists, with the lab's api and worker running (level 1, 2 and 3 stop
    # the services that require an rds component before its restore: there the level starts them again).
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"]
    plan["components"].append({
        "name": "reporting-db", "kind": "rds", "connection": {"db_instance_identifier": instance, **aws},
        "restore": {"source_db_instance_identifier": instance}, "backup": {"method": "snapshot"},
        "repoint": {"values": {VARIABLE: "{endpoint}:{port}"}, "environment_files": [{"path": str(environment_file)}]},
    })
    for service in plan["services"]:
        service["requires"].append("reporting-db")
    tasks = [
        {"name": "Resolve the plan", "ansible.builtin.include_role": {"name": "resilience.dr.plan"}},
        {"name": "Repoint", "ansible.builtin.include_role": {"name": "resilience.dr.rds_recovery", "tasks_from": "repoint"},
         "vars": {"rds_recovery_component": "reporting-db"}},
    ]
    endpoint = rds_common.instance_of(boto3_client(aws, "rds"), instance)["Endpoint"]
    wanted = f"{endpoint['Address']}:{endpoint['Port']}"
    before = {service: process_environment(lab, service) for service in ("api", "worker")}

    check = ansible.tasks(tasks, {"dr_plan": plan}, check=True)
    assert check.ok, check.tail()
    assert VARIABLE not in environment_file.read_text()
    assert {service: process_environment(lab, service) for service in ("api", "worker")} == before

    run = ansible.tasks(tasks, {"dr_plan": plan})
    assert run.ok, run.tail()
    assert process_environment(lab, "api")[VARIABLE] == wanted == process_environment(lab, "worker")[VARIABLE]
    started = [result["_task"] for result in run.results() if result["_task"] in ("Start the service api", "Start the service worker")]
    assert started == ["Start the service api", "Start the service worker"]  # the plan's order: worker after api

    again = ansible.tasks(tasks, {"dr_plan": plan})
    assert again.ok and not again.results("Start the service api") and again.changed_count() == 0, again.tail()


def test_level2_redeploys_the_ecs_service_and_updates_the_secret_after_the_restore_step(
        ansible, aws, instance, cleanup, ecs_service, secret):
    # A plan of one rds component: its restore step (playbooks/tasks/restore_step.yml, as in level 3) repoints.
    restored = unique("reporting-restored")
    cleanup.instances.append((aws["region"], restored))
    plan = {"dr_plan": {
        "name": unique("reporting"),
        "components": [{
            "name": "reporting-db", "kind": "rds", "rto": "2h", "rpo": "1d",
            "connection": {"db_instance_identifier": restored, **aws},
            "restore": {"source_db_instance_identifier": instance}, "backup": {"method": "snapshot"},
            "repoint": {"values": {VARIABLE: "{endpoint}"},
                        "secrets": [{"secret_id": secret, "keys": {"host": "{endpoint}"}}],
                        "ecs_services": [{"cluster": ecs_service["cluster"], "service": "reports", "wait": False}]},
        }],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }, "confirm": "yes"}
    run = ansible.playbook("playbooks/level2_application.yml", plan)
    assert run.ok, run.tail()
    endpoint = rds_common.instance_of(boto3_client(aws, "rds"), restored)["Endpoint"]["Address"]
    ecs = boto3_client(aws, "ecs")
    arn = ecs.describe_services(cluster=ecs_service["cluster"], services=["reports"])["services"][0]["taskDefinition"]
    container = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]
    assert container["environment"] == [{"name": VARIABLE, "value": endpoint}]
    value = json.loads(boto3_client(aws, "secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    assert value["host"] == endpoint and value["password"] == PASSWORD
