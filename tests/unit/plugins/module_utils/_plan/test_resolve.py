# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A plan resolved for one site: its overrides, orders, dependants and restore test settings."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import REDACTED, redact, secrets
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan


def test_resolving_for_a_site_applies_its_overrides():
    resolved = resolve(PLAN, "secondary")
    database = resolved["components"]["orders-db"]
    assert database["connection"] == {"login_host": "db1.dr", "login_port": 5432, "db": "shopfront"}
    assert database["rpo_seconds"] == 900 and database["rto_seconds"] == 3600 and database["host"] == "localhost"
    assert resolved["services"]["api"]["start_command"] == ["systemctl", "start", "api-dr"]
    assert resolved["repository"] == {"repository": "s3://acme-dr-west/prod", "region": "eu-west-2", "encryption_recipients": ["age1example"]}
    assert resolve(PLAN, "primary")["components"]["orders-db"]["connection"]["login_host"] == "db1"


def test_restore_and_start_order():
    resolved = resolve(PLAN)
    assert resolved["restore_batches"] == [["orders-db", "sessions", "assets"], ["uploads"]]
    assert resolved["service_batches"] == [["api"], ["worker"]]
    assert resolved["dependants"]["orders-db"] == {"components": ["uploads"], "services": ["api", "worker"]}
    assert resolved["dns_records"][0]["site_values"] == {"primary": ["192.0.2.10"], "secondary": ["198.51.100.10"]}


def test_unknown_site_is_named():
    with pytest.raises(PlanError, match="site tertiary is not in dr_plan.sites"):
        resolve(PLAN, "tertiary")


def test_restore_steps_run_a_batch_together_where_targets_differ():
    resolved = resolve(PLAN)
    assert resolved["restore_steps"] == [["orders-db", "sessions", "assets"], ["uploads"]]


def test_restore_test_settings_merge_over_the_plan_and_keep_the_server_password_secret():
    settings = plan(restore_test={"base_dir": "/var/tmp", "server": {"login_host": "scratch-db", "login_password": "s3cret"}})
    settings["components"][0]["restore_test"] = {"base_dir": "/srv/restore-test"}
    resolved = redact(resolve(settings))  # as plan_validate and the plan role hand it out
    first = settings["components"][0]["name"]
    assert resolved["components"][first]["restore_test"]["base_dir"] == "/srv/restore-test"
    assert resolved["components"][first]["restore_test"]["server"]["login_host"] == "scratch-db"
    assert resolved["components"][first]["restore_test"]["server"]["login_password"] == REDACTED
    assert secrets(settings)["components"][first]["restore_test"]["server"]["login_password"] == "s3cret"
