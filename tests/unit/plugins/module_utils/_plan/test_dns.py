# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS records of the plan: plain values or a Route 53 alias per site, the failover record set, and mistakes named."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan

ALB_PRIMARY = {"dns_name": "dualstack.app-us-1.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K",
               "evaluate_target_health": True}
ALB_SECONDARY = {"dns_name": "dualstack.app-eu-2.eu-west-1.elb.amazonaws.com", "hosted_zone_id": "Z32O12XQLNTSW2"}


def with_record(**record):
    changed = plan()
    changed["dns"]["records"] = [{"record": "app.example.com", "type": "A", **record}]
    return changed


def test_an_alias_record_of_a_failover_pair_resolves_to_each_sites_target():
    aliased = with_record(alias={"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}, set_identifier="app-primary")
    assert validate(aliased) == []
    [record] = resolve(aliased, "secondary")["dns_records"]
    assert record["site_aliases"] == {"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}
    assert record["site_values"] == {"primary": [], "secondary": []}
    assert record["set_identifier"] == "app-primary"


def test_a_plain_record_resolves_to_the_values_or_the_sites_address():
    plain = with_record(values={"secondary": ["203.0.113.20"]})
    [record] = resolve(plain, "primary")["dns_records"]
    assert record["site_values"] == {"primary": ["192.0.2.10"], "secondary": ["203.0.113.20"]}
    assert record["site_aliases"] == {"primary": None, "secondary": None}


def test_an_alias_on_one_site_only_needs_allow_alias_conversion():
    mixed = with_record(alias={"secondary": ALB_SECONDARY})
    assert validate(mixed) == [
        "dns record app.example.com is an alias on secondary but a plain record on primary: moving between them turns "
        "one kind of record into the other; say allow_alias_conversion: true if that is meant"]
    allowed = with_record(alias={"secondary": ALB_SECONDARY}, allow_alias_conversion=True, ttl=60)
    assert validate(allowed) == []
    [record] = resolve(allowed, "primary")["dns_records"]
    assert record["site_values"] == {"primary": ["192.0.2.10"], "secondary": []}


@pytest.mark.parametrize("record,problem", [
    ({"alias": {"secondary": {"dns_name": "lb.example.net"}}, "allow_alias_conversion": True},
     "dns record app.example.com alias.secondary has no hosted_zone_id; an alias needs both."),
    ({"alias": {"secondary": dict(ALB_SECONDARY, hosted_zone_id="my-alb")}, "allow_alias_conversion": True},
     "dns record app.example.com alias.secondary.hosted_zone_id 'my-alb' is not a Route 53 hosted zone id"),
    ({"alias": {"secondary": dict(ALB_SECONDARY, evaluate_target_health="yes")}, "allow_alias_conversion": True},
     "dns record app.example.com alias.secondary.evaluate_target_health is 'yes'; write true or false"),
    ({"alias": {"secondary": dict(ALB_SECONDARY, zone="Z1")}, "allow_alias_conversion": True},
     "dns record app.example.com alias.secondary has unknown key(s) zone"),
    ({"alias": {"tertiary": ALB_SECONDARY, "primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}},
     "dns record app.example.com has alias.tertiary, but tertiary is not a site of the plan (primary, secondary)"),
    ({"alias": {"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}, "values": {"secondary": ["203.0.113.20"]}},
     "dns record app.example.com has both values.secondary and alias.secondary; give the site one of them"),
    ({"alias": {"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}, "ttl": 60},
     "dns record app.example.com has ttl 60, but it is an alias on every site"),
    ({"alias": ["lb.example.net"]}, "dns record app.example.com alias must be a mapping of sites (primary, secondary)"),
    ({"set_identifier": ""}, "dns record app.example.com has set_identifier ''; give the SetIdentifier"),
    ({"failover": "PRIMARY"}, "dns record app.example.com has unknown key(s) failover; the keys are alias, "),
    ({"type": "MX"}, "dns record app.example.com has type 'MX'; use one of A, AAAA, CNAME"),
])
def test_a_wrong_alias_or_failover_setting_is_named(record, problem):
    problems = validate(with_record(**record))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_alias_and_set_identifier_need_route53():
    aliased = with_record(alias={"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}, set_identifier="app-primary")
    aliased["dns"]["provider"] = "rfc2136"
    assert validate(aliased) == [
        "dns record app.example.com has alias and set_identifier, which only Route 53 has (dr_plan.dns.provider is "
        "'rfc2136'); use provider: route53 or plain values"]


def test_a_site_without_value_alias_or_address_is_named():
    changed = with_record(alias={"secondary": ALB_SECONDARY}, allow_alias_conversion=True)
    del changed["sites"]["primary"]["address"]
    assert validate(changed) == [
        "dns record app.example.com has no value for site primary (values.primary, alias.primary, or the site's address)"]
