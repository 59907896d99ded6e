# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A site's infrastructure (sites.<site>.infrastructure): its defaults, every mistake named, and outputs fed into the plan."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.infrastructure import with_outputs
from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import redact
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan

OUTPUTS = {
    "orders_db_host": {"sensitive": False, "type": "string", "value": "orders.dr.internal"},
    "orders_db_port": {"sensitive": False, "type": "number", "value": 6432},
    "alb": {"sensitive": False, "type": "string", "value": "203.0.113.7"},
    "admin_token": {"sensitive": True, "type": "string", "value": "t0ken"},
}


def with_infrastructure(**infrastructure):
    changed = plan()
    changed["sites"]["secondary"]["infrastructure"] = infrastructure
    return changed


def test_a_site_without_infrastructure_resolves_to_none_and_one_with_it_gets_the_site_as_workspace():
    assert resolve(plan(), "secondary")["infrastructure"] is None
    resolved = resolve(with_infrastructure(project_path="/srv/tf", outputs={"alb": "address"}), "secondary")
    assert resolved["infrastructure"] == {
        "project_path": "/srv/tf", "workspace": "secondary", "binary_path": None, "variables": {},
        "variables_files": [], "outputs": {"alb": "address"},
    }
    assert resolve(with_infrastructure(project_path="/srv/tf"), "primary")["infrastructure"] is None


def test_every_mistake_in_the_infrastructure_is_named():
    problems = validate(with_infrastructure(
        workspace="dr/west", colour="blue", variables={"password": "x", "1bad": 2}, variables_files="dr.tfvars",
        outputs={
            "a": "components.nope.connection.login_host",
            "b": "components.orders-db.connection.login_password",
            "c": "components.orders-db.kind",
            "d": "dns.zone",
            "e": "services.api.",
            "bad name": "address",
        },
    ))
    where = "dr_plan.sites.secondary.infrastructure"
    expected = [
        f"{where} has unknown key(s) colour;",
        f"{where} has no project_path",
        f"{where}.workspace 'dr/west' is not a workspace name",
        f"{where}.variables_files must be a list",
        f"{where}.variables has '1bad'",
        f"{where}.variables.password looks like a secret",
        f"{where}.outputs.a: 'components.nope.connection.login_host' names no component of the plan",
        f"{where}.outputs.b: 'components.orders-db.connection.login_password' is a secret (login_password)",
        f"{where}.outputs.c: 'components.orders-db.kind' would change the kind of orders-db",
        f"{where}.outputs.d: 'dns.zone' is not a place the infrastructure can set",
        f"{where}.outputs.e: 'services.api.' has an empty key",
        f"{where}.outputs has 'bad name'",
    ]
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert len(problems) == len(expected), problems


def test_outputs_feed_the_component_service_and_site_address_the_later_steps_read():
    planned = with_infrastructure(project_path="/srv/tf", outputs={
        "orders_db_host": "components.orders-db.connection.login_host",
        "orders_db_port": "components.orders-db.connection.login_port",
        "alb": "address",
    })
    before = resolve(planned, "secondary")
    assert before["components"]["orders-db"]["connection"]["login_host"] == "db1.dr"

    fed_plan, fed, problems = with_outputs(planned, "secondary", OUTPUTS)
    assert problems == []
    assert fed == {"fed": {"orders_db_host": "components.orders-db.connection.login_host",
                           "orders_db_port": "components.orders-db.connection.login_port", "alb": "address"},
                   "unknown": []}
    after = resolve(fed_plan, "secondary")
    assert after["components"]["orders-db"]["connection"] == {"login_host": "orders.dr.internal", "login_port": 6432,
                                                              "db": "shopfront"}
    # The DNS record's value for the site is the address the infrastructure gave.
    assert after["address"] == "203.0.113.7"
    assert after["dns_records"][0]["site_values"]["secondary"] == ["203.0.113.7"]
    # The primary site and the given plan are untouched.
    assert resolve(fed_plan, "primary")["components"]["orders-db"]["connection"]["login_host"] == "db1"
    assert planned["sites"]["secondary"]["components"]["orders-db"]["connection"]["login_host"] == "db1.dr"


def test_an_output_feeds_a_component_the_site_does_not_override_yet():
    planned = with_infrastructure(project_path="/srv/tf", outputs={"orders_db_host": "components.sessions.connection.login_host"})
    fed_plan, _fed, problems = with_outputs(planned, "secondary", OUTPUTS)
    assert problems == []
    assert resolve(fed_plan, "secondary")["components"]["sessions"]["connection"] == {
        "login_port": 6379, "login_host": "orders.dr.internal"}


def test_a_missing_output_fails_after_an_apply_and_is_unknown_in_check_mode():
    planned = with_infrastructure(project_path="/srv/tf", outputs={"orders_db_host": "components.orders-db.connection.login_host"})
    _plan, _fed, problems = with_outputs(planned, "secondary", {"alb": OUTPUTS["alb"]})
    assert problems == [
        "dr_plan.sites.secondary.infrastructure.outputs.orders_db_host: the Terraform project /srv/tf (workspace secondary) "
        "has no output orders_db_host (its outputs: alb); add it to the project or remove it from the plan"
    ]
    fed_plan, fed, problems = with_outputs(planned, "secondary", {}, applied=False)
    assert problems == [] and fed == {"fed": {}, "unknown": ["orders_db_host"]}
    assert resolve(fed_plan, "secondary")["components"]["orders-db"]["connection"]["login_host"] == "db1.dr"


def test_a_sensitive_output_is_refused_and_its_value_never_reaches_the_plan():
    planned = with_infrastructure(project_path="/srv/tf", outputs={"admin_token": "components.orders-db.connection.db"})
    fed_plan, fed, problems = with_outputs(planned, "secondary", OUTPUTS)
    assert len(problems) == 1 and "output admin_token of /srv/tf (workspace secondary) is sensitive" in problems[0]
    assert "t0ken" not in repr(problems) and "t0ken" not in repr(fed_plan) and fed["fed"] == {}
    # Given without its value, as the infrastructure step hands sensitive outputs on, it is refused the same way.
    _plan, _fed, problems = with_outputs(planned, "secondary", {"admin_token": {"sensitive": True}})
    assert "is sensitive" in problems[0]


def test_the_resolved_infrastructure_holds_no_secret_after_redaction():
    resolved = redact(resolve(with_infrastructure(project_path="/srv/tf", variables={"region": "eu-west-2"}), "secondary"))
    assert resolved["infrastructure"]["variables"] == {"region": "eu-west-2"}


@pytest.mark.parametrize("infrastructure", ["/srv/tf", ["/srv/tf"]])
def test_infrastructure_that_is_not_a_mapping_is_refused(infrastructure):
    changed = plan()
    changed["sites"]["secondary"]["infrastructure"] = infrastructure
    with pytest.raises(PlanError, match="infrastructure must be a mapping with project_path"):
        resolve(changed, "secondary")
