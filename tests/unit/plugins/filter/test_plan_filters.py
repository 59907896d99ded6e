# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan filters through Ansible's own templating: a vault variable that is not defined becomes a marker
naming it (mark_undefined) or is left out of the secrets (plan_secrets), and everything else is read as usual."""

from __future__ import annotations

import copy
import json
import typing as t
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.resilience.dr.plugins.filter.mark_undefined import mark_undefined
from ansible_collections.resilience.dr.plugins.filter.plan_secrets import plan_secrets
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import UNDEFINED_MARKER, undefined_needed

PLAN = json.loads((Path(__file__).parents[1] / "module_utils" / "fixtures" / "plan_shopfront.json").read_text())


def render(expression: str, variables: dict[str, t.Any]) -> t.Any:
    """The expression templated as a task argument is: the plan's values are templated when read."""
    templar = Templar(loader=DataLoader(), variables=variables)
    # Registered by hand: a unit test has no collection loader to find the filters by their full names.
    templar.environment.filters.update(mark_undefined=mark_undefined, plan_secrets=plan_secrets)
    return templar.template(trust_as_template(expression))


def vaulted_plan() -> dict[str, t.Any]:
    """The shopfront plan with its secrets taken from vault variables, as an operator writes it."""
    plan = copy.deepcopy(PLAN)
    plan["components"][0]["connection"]["login_password"] = trust_as_template("{{ vault_orders_db_password }}")
    plan["components"][1]["connection"]["login_password"] = trust_as_template("{{ vault_sessions_password }}")
    plan["notifications"][0]["url"] = trust_as_template("{{ vault_slack_incident_webhook }}")
    return plan


def test_mark_undefined_names_each_undefined_variable_and_keeps_the_rest():
    marked = render("{{ dr_plan | mark_undefined }}", {"dr_plan": vaulted_plan(), "vault_orders_db_password": "pw1"})
    assert marked["components"][0]["connection"]["login_password"] == "pw1"
    assert marked["components"][1]["connection"]["login_password"] == UNDEFINED_MARKER + "vault_sessions_password"
    assert marked["notifications"][0]["url"] == UNDEFINED_MARKER + "vault_slack_incident_webhook"
    assert marked["components"][2] == PLAN["components"][2]


def test_a_one_component_run_needs_that_components_secret_alone():
    marked = render("{{ dr_plan | mark_undefined }}", {"dr_plan": vaulted_plan(), "vault_orders_db_password": "pw1"})
    assert undefined_needed(marked, components=["orders-db"], uses=["repository", "components"]) == []
    problems = undefined_needed(marked, components=["sessions"], uses=["repository", "components"])
    assert len(problems) == 1 and "component sessions" in problems[0] and "vault_sessions_password" in problems[0]


def test_plan_secrets_leaves_out_the_secrets_that_are_not_defined():
    found = render("{{ dr_plan | plan_secrets('primary') }}", {"dr_plan": vaulted_plan(), "vault_orders_db_password": "pw1"})
    assert found["components"]["orders-db"]["connection"]["login_password"] == "pw1"
    assert "sessions" not in found["components"]
    assert UNDEFINED_MARKER not in json.dumps(found)


def test_mark_undefined_refuses_what_is_not_a_plan():
    with pytest.raises(AnsibleFilterError, match="needs the DR plan"):
        mark_undefined(["not", "a", "plan"])
