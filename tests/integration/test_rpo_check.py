# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rpo_check and the metrics file on the lab's shopfront plan, with repositories of its own per site:
the backup playbook writes the metrics, rpo_check passes after it, fails naming a component whose
rpo is 1 s and a component that has no backup, and changes nothing in check mode."""

from __future__ import annotations

import copy
import math
import time
import typing as t

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from . import rds_common
from .conftest import LAB_DIR, boto3_client
from .rds_common import unique
from .test_level1_cloud import SECONDARY_REGION, two_region_plan
from .test_roles import Hooks

# The RDS fixtures (an instance on the lab's moto server, removed afterwards with its snapshots).
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds


def metrics(path) -> dict[tuple[str, tuple], float]:
    """The file read with Prometheus' own text format parser: (name, label values by label name) -> value."""
    families = text_string_to_metric_families(path.read_text())
    return {(sample.name, tuple(value for _key, value in sorted(sample.labels.items()))): sample.value
            for family in families for sample in family.samples}


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> dict[str, t.Any]:
    """The lab's plan with empty repositories of its own, so ages and counts are this test's alone."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    repositories = tmp_path_factory.mktemp("repositories")
    plan["dr_plan"]["repository"]["location"] = str(repositories / "primary")
    plan["dr_plan"]["sites"]["secondary"]["repository"]["location"] = str(repositories / "secondary")
    return plan


@pytest.fixture(scope="module")
def backed_up(plan, tmp_path_factory) -> t.Any:
    """The backup playbook run once, writing its metrics; returns the metrics file."""
    from .conftest import Ansible
    path = tmp_path_factory.mktemp("textfile") / "resilience_dr.prom"
    run = Ansible(tmp_path_factory.mktemp("backup")).playbook("playbooks/backup.yml", {**plan, "dr_metrics_file": str(path)})
    assert run.ok, run.tail()
    return path


def test_backup_playbook_writes_ages_targets_and_sizes(backed_up):
    written = metrics(backed_up)
    for component in ("orders-db", "sessions", "uploads"):
        for site in ("primary", "secondary"):
            assert 0 <= written[("resilience_dr_backup_age_seconds", (component, site))] < 600
        assert written[("resilience_dr_backup_size_bytes", (component,))] > 0
    assert written[("resilience_dr_rpo_target_seconds", ("orders-db",))] == 900
    assert written[("resilience_dr_rpo_target_seconds", ("sessions",))] == 3600


def test_rpo_check_passes_after_a_backup_and_changes_nothing(ansible, plan, backed_up, tmp_path):
    path = tmp_path / "resilience_dr.prom"
    preview = ansible.playbook("playbooks/rpo_check.yml", {**plan, "dr_metrics_file": str(path)}, check=True)
    assert preview.ok, preview.tail()
    assert not path.exists()

    run = ansible.playbook("playbooks/rpo_check.yml", {**plan, "dr_metrics_file": str(path)})
    assert run.ok, run.tail()
    assert run.changed_count() == 1  # the metrics file, nothing else
    written = metrics(path)
    ages = {labels: value for (name, labels), value in written.items() if name == "resilience_dr_backup_age_seconds"}
    assert set(ages) == {(component, site) for component in ("orders-db", "sessions", "uploads")
                         for site in ("primary", "secondary")}
    assert all(0 <= age < 600 for age in ages.values())


def test_rpo_check_fails_and_notifies_naming_the_component_over_its_rpo_on_each_site(ansible, plan, backed_up, tmp_path):
    strict = copy.deepcopy(plan)
    next(c for c in strict["dr_plan"]["components"] if c["name"] == "sessions")["rpo"] = "1s"
    hooks = Hooks()
    strict["dr_plan"]["notifications"] = [{"type": "webhook", "url": hooks.url("/dr")}]
    time.sleep(2)
    path = tmp_path / "resilience_dr.prom"
    try:
        run = ansible.playbook("playbooks/rpo_check.yml", {**strict, "dr_metrics_file": str(path)})
    finally:
        hooks.close()
    assert not run.ok
    posted = dict(hooks.posts)["/dr"]
    assert posted["event"] == "alert" and "sessions at site secondary: backup " in posted["message"]
    assert [row["component"] for row in posted["details"]["over"]] == ["sessions", "sessions"]
    failure = run.result("Fail naming each component and site over its RPO")["msg"]
    assert "2 backup(s) older than the RPO" in failure
    assert "sessions at site primary: backup " in failure and "sessions at site secondary: backup " in failure
    assert "over the RPO of 1 s" in failure and "orders-db" not in failure and "uploads" not in failure
    written = metrics(path)
    assert written[("resilience_dr_rpo_target_seconds", ("sessions",))] == 1
    assert written[("resilience_dr_backup_age_seconds", ("sessions", "primary"))] >= 2


def test_rpo_check_counts_a_component_without_backup_as_over(ansible, plan, backed_up, tmp_path):
    extended = copy.deepcopy(plan)
    (tmp_path / "reports").mkdir()
    extended["dr_plan"]["components"].append({
        "name": "reports", "kind": "files", "rpo": "1d", "backup": {"method": "tar"},
        "connection": {"path": str(tmp_path / "reports")},
    })
    path = tmp_path / "resilience_dr.prom"
    run = ansible.playbook("playbooks/rpo_check.yml", {**extended, "dr_metrics_file": str(path)})
    assert not run.ok
    failure = run.result("Fail naming each component and site over its RPO")["msg"]
    assert "reports at site primary: no verified backup in " in failure
    assert "reports at site secondary: no verified backup in " in failure
    assert "orders-db" not in failure
    assert math.isinf(metrics(path)[("resilience_dr_backup_age_seconds", ("reports", "primary"))])


def test_rpo_check_notifies_and_fails_naming_a_repository_it_cannot_read(ansible, plan, tmp_path):
    unreadable = copy.deepcopy(plan)
    unreadable["dr_plan"]["sites"]["secondary"]["repository"] = {
        "location": "s3://nowhere/prod", "endpoint_url": "http://127.0.0.1:9", "region": "us-east-1",
        "access_key": "AKIAEXAMPLE", "secret_key": "rpo-check-secret-value",
    }
    hooks = Hooks()
    unreadable["dr_plan"]["notifications"] = [{"type": "webhook", "url": hooks.url("/dr")}]
    try:
        run = ansible.playbook("playbooks/rpo_check.yml", unreadable)
    finally:
        hooks.close()
    assert not run.ok
    failure = run.result("Fail naming the repository that could not be read")["msg"]
    assert "The backups could not be checked: cannot reach the S3 endpoint for s3://nowhere/prod" in failure
    posted = dict(hooks.posts)["/dr"]
    assert posted["event"] == "alert" and "s3://nowhere/prod" in posted["message"]
    assert "rpo-check-secret-value" not in run.stdout


def test_rpo_check_measures_rds_recovery_points_in_each_sites_region(ansible, aws, rds, instance, cleanup, tmp_path):
    """billing-db in the lab's region on the primary site, copies in SECONDARY_REGION for the secondary: before a
    backup the secondary region holds nothing; after one both sites pass; with an rpo of 1 s the copy is over."""
    key = boto3_client(aws, "kms", SECONDARY_REGION).create_key(Description="billing-db copies")["KeyMetadata"]["Arn"]
    plan = two_region_plan(aws, instance, unique("billing-db"), key)
    plan["dr_plan"]["repository"] = {"location": str(tmp_path / "repository")}
    tags = {"resilience-dr-plan": plan["dr_plan"]["name"], "resilience-dr-component": "billing-db"}
    path = tmp_path / "resilience_dr.prom"
    fail_task = "Fail naming each component and site over its RPO"

    before = ansible.playbook("playbooks/rpo_check.yml", {**plan, "dr_metrics_file": str(path)})
    assert not before.ok
    failure = before.result(fail_task)["msg"]
    assert "1 backup(s) older than the RPO" in failure
    assert f"billing-db at site secondary: no available DB snapshot in {SECONDARY_REGION} carries the tags" in failure
    assert math.isinf(metrics(path)[("resilience_dr_backup_age_seconds", ("billing-db", "secondary"))])
    # The primary's instance keeps automated backups: its latest restorable time is a recovery point there.
    assert 0 <= metrics(path)[("resilience_dr_backup_age_seconds", ("billing-db", "primary"))] < 600

    backup = ansible.playbook("playbooks/backup.yml", plan)
    for client in (rds, boto3_client(aws, "rds", SECONDARY_REGION)):
        cleanup.snapshots += [(client.meta.region_name, item["DBSnapshotIdentifier"])
                              for item in client.describe_db_snapshots()["DBSnapshots"]
                              if rds_common.tags_of(client, item["DBSnapshotArn"]) == tags]
    assert backup.ok, backup.tail()
    made = backup.result("Add the copies to the backup's result - billing-db")["ansible_facts"]["backup_rds"]["copies"][0]

    passed = ansible.playbook("playbooks/rpo_check.yml", {**plan, "dr_metrics_file": str(path)})
    assert passed.ok, passed.tail()
    ages = {labels: value for (name, labels), value in metrics(path).items() if name == "resilience_dr_backup_age_seconds"}
    assert set(ages) == {("billing-db", "primary"), ("billing-db", "secondary")}
    assert all(0 <= age < 600 for age in ages.values())
    shown = passed.result("Show the newest verified backup of each component on every site")["results"]
    notes = [row["msg"] for row in shown if "billing-db at secondary" in row["msg"]]
    assert notes and f"snapshot {made['db_snapshot_identifier']} in {SECONDARY_REGION} is " in notes[0]

    strict = copy.deepcopy(plan)
    strict["dr_plan"]["components"][0]["rpo"] = "1s"
    time.sleep(2)
    over = ansible.playbook("playbooks/rpo_check.yml", strict)
    assert not over.ok
    failure = over.result(fail_task)["msg"]
    assert f"billing-db at site secondary: snapshot {made['db_snapshot_identifier']} in {SECONDARY_REGION} is " in failure
    assert "over the RPO of 1 s" in failure
