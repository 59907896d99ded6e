# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An rds component's repoint (where the application learns the restored endpoint) and restore.source replica."""

from __future__ import annotations

import copy
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN

REPOINT = {
    "values": {"DATABASE_HOST": "{endpoint}", "DATABASE_URL": "postgresql://ledger@{endpoint}:{port}/ledger"},
    "environment_files": [{"path": "/etc/shopfront/ledger.env", "host": "app1"}],
    "secrets": [{"secret_id": "shopfront/ledger", "keys": {"host": "{endpoint}", "port": "{port}"}}],
    "ecs_services": [{"cluster": "shopfront", "service": "api", "containers": ["api"], "wait_timeout": 900,
                      "variables": ["DATABASE_HOST"],
                      "secrets": {"LEDGER_CREDENTIALS": "arn:aws:secretsmanager:eu-central-1:111122223333:secret:l"}}],
}


def plan_with_ledger(ledger_repoint: t.Any = None, **secondary: t.Any) -> dict[str, t.Any]:
    copied = copy.deepcopy(PLAN)
    ledger = {"name": "ledger", "kind": "rds", "connection": {"db_instance_identifier": "ledger", "region": "eu-west-1"},
              "restore": {"source_db_instance_identifier": "ledger-prod"}, "backup": {"method": "snapshot"}}
    if ledger_repoint is not None:
        ledger["repoint"] = ledger_repoint
    copied["components"].append(ledger)
    copied["sites"]["secondary"]["components"]["ledger"] = {"connection": {"region": "eu-central-1"}, **secondary}
    return copied


def test_a_repoint_with_files_secrets_and_ecs_services_is_valid_and_resolved_per_site():
    changed = plan_with_ledger(REPOINT, repoint={"ecs_services": [{"cluster": "shopfront-dr", "service": "api"}]})
    assert validate(changed) == []
    assert resolve(changed, "primary")["components"]["ledger"]["repoint"] == REPOINT
    secondary = resolve(changed, "secondary")["components"]["ledger"]["repoint"]
    assert secondary["ecs_services"] == [{"cluster": "shopfront-dr", "service": "api"}]
    assert secondary["values"] == REPOINT["values"]


def test_a_broken_repoint_is_refused_naming_each_problem():
    broken = {
        "values": {"DATABASE_HOST": "{hostname}", "DATABASE_PORT": ["5432"]},
        "environment_files": [{"path": "etc/ledger.env", "mode": "0600"}],
        "secrets": [{"secret_id": "shopfront/ledger"}],
        "ecs_services": [{"cluster": "shopfront", "wait_timeout": "soon", "wait": "yes", "variables": ["DB_HOST"]}],
        "restart": "always",
        "services": ["api"],
    }
    problems = validate(plan_with_ledger(broken))
    assert problems == [
        "component ledger repoint has unknown key(s) services; the keys are ecs_services, environment_files, restart, "
        "secrets, values",
        "component ledger repoint.values.DATABASE_HOST has the placeholder(s) {hostname}; the restored instance gives "
        "{endpoint} and {port}",
        "component ledger repoint.values.DATABASE_PORT must be a string (a value, or one with {endpoint} and {port})",
        "component ledger repoint.restart is 'always'; write true or false",
        "component ledger repoint.environment_files[1] has unknown key(s) mode; the keys are host, path",
        "component ledger repoint.environment_files[1].path 'etc/ledger.env' must be an absolute path",
        "component ledger repoint.secrets[1] needs keys",
        "component ledger repoint.ecs_services[1] needs service",
        "component ledger repoint.ecs_services[1].wait_timeout is 'soon'; give the seconds to wait, a positive number",
        "component ledger repoint.ecs_services[1].variables must list names of component ledger repoint.values "
        "(DATABASE_HOST, DATABASE_PORT)",
        "component ledger repoint.ecs_services[1].wait is 'yes'; write true or false",
    ]


def test_a_repoint_needs_something_to_repoint_and_the_values_to_write():
    assert validate(plan_with_ledger({"values": {"DATABASE_HOST": "{endpoint}"}})) == [
        "component ledger repoint names nothing to repoint: give environment_files, secrets or ecs_services"]
    assert validate(plan_with_ledger({"environment_files": [{"path": "/etc/ledger.env"}]})) == [
        "component ledger repoint has no values: name the variables that hold the endpoint "
        "(values: {DATABASE_HOST: \"{endpoint}\"})"]


def test_a_problem_of_one_site_only_names_that_site():
    problems = validate(plan_with_ledger(REPOINT, repoint={"ecs_services": [{"cluster": "shopfront-dr"}]}))
    assert problems == ["site secondary component ledger repoint.ecs_services[1] needs service"]


def test_only_an_rds_component_has_a_repoint():
    changed = copy.deepcopy(PLAN)
    changed["components"][0]["repoint"] = REPOINT
    name = changed["components"][0]["name"]
    assert validate(changed) == [
        f"component {name} has repoint, which only an rds component has (its restore gives a new endpoint)"]


def test_a_site_may_promote_its_read_replica():
    changed = plan_with_ledger(restore={"source": "replica"},
                               connection={"region": "eu-central-1", "db_instance_identifier": "ledger-replica"})
    assert validate(changed) == []
    secondary = resolve(changed, "secondary")["components"]["ledger"]
    assert secondary["restore"]["source"] == "replica"
    assert secondary["connection"]["db_instance_identifier"] == "ledger-replica"
    assert resolve(changed, "primary")["components"]["ledger"]["restore"]["source"] == "point_in_time"
