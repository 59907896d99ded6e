# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets: redacted from a resolved plan, given alone where used, and needed only by the runs using them."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import (
    REDACTED, UNDEFINED_MARKER, redact, secret_values, secrets, undefined_needed,
)
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN


def plan_with_secrets():
    copied = copy.deepcopy(PLAN)
    copied["repository"].update(secret_key="repo-secret", access_key="repo-access", encryption_identity="AGE-SECRET-KEY-1X")
    copied["components"][0]["connection"]["login_password"] = "primary-db-password"
    copied["sites"]["secondary"]["components"]["orders-db"]["connection"]["login_password"] = "secondary-db-password"
    copied["dns"]["tsig_key_secret"] = "tsig-secret"
    copied["notifications"][0]["url"] = "https://hooks.example.com/services/T0/B0/token"
    return copied


@pytest.mark.parametrize("site, password", [("primary", "primary-db-password"), ("secondary", "secondary-db-password")])
def test_redacted_plan_holds_no_secret_and_secrets_are_where_resolve_puts_them(site, password):
    plan = plan_with_secrets()
    resolved = resolve(plan, site)
    redacted = redact(resolved)
    text = json.dumps(redacted)
    for secret in ("repo-secret", "repo-access", "AGE-SECRET-KEY-1X", "primary-db-password", "secondary-db-password"):
        assert secret not in text
    assert redacted["components"]["orders-db"]["connection"]["login_password"] == REDACTED
    assert redacted["repository"]["secret_key"] == REDACTED
    # Everything else is the resolved plan as it was.
    assert redacted["components"]["orders-db"]["connection"]["login_host"] == resolved["components"]["orders-db"]["connection"]["login_host"]
    assert redacted["restore_steps"] == resolved["restore_steps"]

    found = secrets(plan, site)
    assert found["components"]["orders-db"] == {"connection": {"login_password": password}}
    assert found["repository"] == {"secret_key": "repo-secret", "access_key": "repo-access", "encryption_identity": "AGE-SECRET-KEY-1X"}
    assert "sessions" not in found["components"]  # nothing secret there


def test_secret_values_finds_every_secret_of_the_raw_plan():
    values = secret_values(plan_with_secrets())
    assert values == {"repo-secret", "repo-access", "AGE-SECRET-KEY-1X", "primary-db-password", "secondary-db-password",
                      "tsig-secret", "https://hooks.example.com/services/T0/B0/token"}


def test_secrets_of_a_broken_plan_raise_the_plan_problems():
    broken = plan_with_secrets()
    broken["components"][0]["depends_on"] = ["nothing"]
    with pytest.raises(PlanError, match="depends on nothing"):
        secrets(broken, "primary")


def plan_with_undefined():
    """The shopfront plan as mark_undefined hands it on when no vault variable is defined."""
    copied = copy.deepcopy(PLAN)
    copied["repository"]["secret_key"] = UNDEFINED_MARKER + "vault_repository_secret_key"
    copied["components"][0]["connection"]["login_password"] = UNDEFINED_MARKER + "vault_orders_db_password"
    copied["components"][1]["connection"]["login_password"] = UNDEFINED_MARKER + "vault_sessions_password"
    copied["sites"]["secondary"]["components"]["orders-db"]["connection"]["login_password"] = (
        UNDEFINED_MARKER + "vault_dr_orders_db_password")
    copied["dns"]["tsig_key_secret"] = UNDEFINED_MARKER + "vault_tsig_secret"
    copied["notifications"][0]["url"] = UNDEFINED_MARKER + "vault_slack_incident_webhook"
    return copied


def needed_variables(**run):
    problems = undefined_needed(plan_with_undefined(), **run)
    return sorted(name for name in ("vault_repository_secret_key", "vault_orders_db_password", "vault_sessions_password",
                                    "vault_dr_orders_db_password", "vault_tsig_secret", "vault_slack_incident_webhook")
                  if any(f"variable {name} " in problem for problem in problems))


def test_a_run_needs_the_secrets_of_the_parts_it_uses_and_of_its_site_alone():
    assert needed_variables() == ["vault_orders_db_password", "vault_repository_secret_key", "vault_sessions_password",
                                  "vault_slack_incident_webhook", "vault_tsig_secret"]
    assert needed_variables(site="secondary") == ["vault_dr_orders_db_password", "vault_repository_secret_key",
                                                  "vault_sessions_password", "vault_slack_incident_webhook",
                                                  "vault_tsig_secret"]
    # A check run of one component: that component's secret and the repository's, nothing else.
    assert needed_variables(components=["orders-db"], uses=["repository", "components"]) == [
        "vault_orders_db_password", "vault_repository_secret_key"]
    assert needed_variables(components=["uploads"], uses=["components"]) == []
    assert needed_variables(uses=["dns"]) == ["vault_tsig_secret"]


def test_an_undefined_secret_the_run_needs_is_named_with_its_component():
    problems = undefined_needed(plan_with_undefined(), components=["sessions"], uses=["components"])
    assert problems == [
        "component sessions needs the variable vault_sessions_password (components[sessions].connection.login_password), "
        "which is not defined; define it, for example in a vault file given with -e @secrets.yml --ask-vault-password"
    ]
    with pytest.raises(PlanError, match="vault_sessions_password"):
        raise PlanError(problems)


def test_an_undefined_value_outside_the_secrets_is_needed_by_every_run():
    copied = plan_with_undefined()
    copied["components"][2]["connection"]["path"] = UNDEFINED_MARKER + "uploads_path"
    problems = undefined_needed(copied, components=["orders-db"], uses=["components"])
    assert len(problems) == 2 and "components[uploads].connection.path is the variable uploads_path" in problems[1]


def test_an_undefined_secret_is_no_secret_value_to_mask():
    values = secret_values(plan_with_undefined())
    assert not any(value.startswith(UNDEFINED_MARKER) for value in values)


def test_the_security_and_restore_test_secrets_are_needed_by_their_own_runs_alone():
    copied = plan_with_undefined()
    copied["security"] = {"credentials": [{"name": "db user", "aws": {"secret_key": UNDEFINED_MARKER + "vault_aws_key"}}]}
    copied["restore_test"] = {"server": {"login_password": UNDEFINED_MARKER + "vault_scratch_password"}}
    level1 = undefined_needed(copied, components=["uploads"], uses=["repository", "components", "notifications"])
    assert not any("vault_aws_key" in problem or "vault_scratch_password" in problem for problem in level1)
    assert any("the plan's security needs the variable vault_aws_key" in problem
               for problem in undefined_needed(copied, uses=["security"]))
    assert any("vault_scratch_password" in problem for problem in undefined_needed(copied, uses=["restore_test"]))
