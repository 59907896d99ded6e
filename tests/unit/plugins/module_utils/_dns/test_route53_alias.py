# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Route 53 alias records and failover routing pairs: the request, the plan, the change batch, the read-back.

The Route 53 client here is a small in-memory stand-in that keeps record sets
and applies a change batch the way Route 53 does (a DELETE must match the
stored record set exactly, all or nothing); the integration tests drive the
same code against moto.
"""

from __future__ import annotations

import copy
import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns.failover import Tools, failover
from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import Request, make_plan, record_diff
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    AliasTarget,
    Endpoint,
    RecordSet,
    parse_alias,
)
from ansible_collections.resilience.dr.plugins.module_utils._dns.route53 import ClientError, Route53Provider
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, GateRefused, VerificationFailed

NAME = "app.example.test."
ALB_EU = {"dns_name": "dualstack.app-eu.eu-west-1.elb.amazonaws.com", "hosted_zone_id": "Z32O12XQLNTSW2"}
ALB_US = {"dns_name": "dualstack.app-us.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"}


def alias_of(option: dict[str, t.Any]) -> AliasTarget:
    parsed = parse_alias(option)
    assert parsed is not None
    return parsed


def request(**params: t.Any) -> Request:
    base = {"provider": "route53", "record": "app.example.test", "type": "A", "verify": True,
            "health_check": {"tcp": "10.0.0.2:443"}}
    base.update(params)
    return Request.from_params(base)


def alias_record(option: dict[str, t.Any], **routing: t.Any) -> RecordSet:
    return RecordSet(NAME, "A", None, (), alias=alias_of(option), **routing)


# --------------------------------------------------------------------------
# The alias option


def test_alias_option_is_normalized_so_one_target_has_one_spelling():
    parsed = parse_alias({"dns_name": "DualStack.App-EU.eu-west-1.elb.amazonaws.com", "hosted_zone_id": "/hostedzone/Z32O12XQLNTSW2"})
    assert parsed == AliasTarget("dualstack.app-eu.eu-west-1.elb.amazonaws.com.", "Z32O12XQLNTSW2", False)
    assert parse_alias(None) is None and parse_alias({}) is None


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"dns_name": "lb.example.test"}, r"alias has no hosted_zone_id; an alias needs both"),
        ({"hosted_zone_id": "Z32O12XQLNTSW2"}, r"alias has no dns_name; an alias needs both"),
        ({"dns_name": "lb.example.test", "hosted_zone_id": "z-lower"}, r"alias.hosted_zone_id 'z-lower' is not a Route 53 hosted zone id"),
        ({"dns_name": "lb..example.test", "hosted_zone_id": "Z32O12XQLNTSW2"}, r"alias.dns_name 'lb..example.test' is not a DNS name"),
    ],
)
def test_malformed_alias_is_refused_saying_what_to_write(option, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_alias(option)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"value": ["10.0.0.2"], "alias": ALB_EU}, r"give either value or alias, not both"),
        ({"alias": ALB_EU, "ttl": 60}, r"ttl 60 cannot be set on an alias record.*Drop ttl"),
        ({"alias": ALB_EU, "provider": "rfc2136"}, r"alias is a Route 53 feature; provider rfc2136 takes value"),
        ({"set_identifier": "primary", "value": ["10.0.0.2"], "provider": "rfc2136"}, r"set_identifier .* needs provider: route53"),
        ({}, r"value is empty and no alias is given"),
    ],
)
def test_request_refuses_contradicting_options(params, message):
    with pytest.raises(ConfigurationError, match=message):
        request(**params)


def test_failback_shape_from_previous_is_accepted():
    """previous of an alias is {value: [], ttl: null, alias: {...}}: fed back as it is, it asks for the alias."""
    previous = alias_record(ALB_US).summary()
    assert previous == {"value": [], "ttl": None, "alias": {**ALB_US, "evaluate_target_health": False}}
    asked = request(value=previous["value"], ttl=previous["ttl"], alias=previous["alias"])
    assert asked.alias == alias_of(ALB_US) and asked.values == () and asked.ttl is None


# --------------------------------------------------------------------------
# The plan


def test_alias_to_another_target_is_a_change_and_the_same_target_is_none():
    plan = make_plan(alias_record(ALB_US), request(alias=ALB_EU), NAME)
    assert plan.changed and plan.desired == alias_record(ALB_EU)
    assert not make_plan(alias_record(ALB_US), request(alias=dict(ALB_US, dns_name=ALB_US["dns_name"].upper() + ".")), NAME).changed
    # Only the target's health evaluation differs: still a change.
    assert make_plan(alias_record(ALB_US), request(alias=dict(ALB_US, evaluate_target_health=True)), NAME).changed


def test_converting_between_plain_and_alias_needs_allow_alias_conversion():
    plain = RecordSet(NAME, "A", 300, ("192.0.2.10",))
    with pytest.raises(ConfigurationError, match=r"is a plain record \(192.0.2.10 \(TTL 300\)\); alias would replace it .* "
                                                 r"refused unless allow_alias_conversion: true"):
        make_plan(plain, request(alias=ALB_EU), NAME)
    with pytest.raises(ConfigurationError, match=r"is alias to dualstack.app-us.* value would replace it with a plain record"):
        make_plan(alias_record(ALB_US), request(value=["192.0.2.20"]), NAME)
    converted = make_plan(plain, request(alias=ALB_EU, allow_alias_conversion=True), NAME)
    assert converted.changed and converted.desired.alias == alias_of(ALB_EU) and converted.desired.ttl is None
    back = make_plan(alias_record(ALB_EU), request(value=["192.0.2.10"], allow_alias_conversion=True), NAME)
    # An alias has no TTL to keep: the plain record gets the default unless ttl is given.
    assert back.desired == RecordSet(NAME, "A", 300, ("192.0.2.10",))


def test_lower_ttl_first_has_nothing_to_lower_on_an_alias():
    plan = make_plan(alias_record(ALB_US), request(value=["192.0.2.20"], ttl=60, lower_ttl_first=True, allow_alias_conversion=True), NAME)
    assert plan.lowered is None and plan.desired.ttl == 60


def test_a_failover_record_keeps_its_role_when_its_target_changes():
    primary = RecordSet(NAME, "A", 60, ("192.0.2.10",), set_identifier="primary", failover="PRIMARY")
    plan = make_plan(primary, request(value=["192.0.2.20"], set_identifier="primary"), NAME)
    assert plan.desired == RecordSet(NAME, "A", 60, ("192.0.2.20",), set_identifier="primary", failover="PRIMARY")
    with pytest.raises(ConfigurationError, match=r"has no record set with set_identifier primary; .* does not create them"):
        make_plan(None, request(value=["192.0.2.20"], set_identifier="primary"), NAME)


def test_diff_shows_the_alias_and_the_failover_role():
    plan = make_plan(alias_record(ALB_US, set_identifier="primary", failover="PRIMARY"),
                     request(alias=dict(ALB_EU, evaluate_target_health=True), set_identifier="primary"), NAME)
    shown = record_diff(plan)
    assert shown["before_header"] == "app.example.test A (set_identifier primary)"
    assert shown["before"] == (f"{NAME} ALIAS IN A {ALB_US['dns_name']}. ; hosted_zone_id Z35SXDOTRQ7X7K, "
                               f"evaluate_target_health false, failover PRIMARY, set_identifier primary\n")
    assert shown["after"] == (f"{NAME} ALIAS IN A {ALB_EU['dns_name']}. ; hosted_zone_id Z32O12XQLNTSW2, "
                              f"evaluate_target_health true, failover PRIMARY, set_identifier primary\n")


# --------------------------------------------------------------------------
# The Route 53 provider against an in-memory hosted zone


class MemoryRoute53:
    """Record sets of one hosted zone, changed by batches that apply entirely or not at all."""

    def __init__(self, record_sets: list[dict[str, t.Any]]) -> None:
        self.record_sets = copy.deepcopy(record_sets)
        self.batches: list[dict[str, t.Any]] = []

    def get_hosted_zone(self, aws_retry: bool, Id: str) -> dict[str, t.Any]:  # noqa: N803 - boto3's names
        return {"HostedZone": {"Id": "/hostedzone/Z1", "Name": "example.test.", "Config": {"PrivateZone": False}},
                "DelegationSet": {"NameServers": ["ns-1.awsdns-01.org"]}}

    def list_resource_record_sets(self, aws_retry: bool, **kwargs: t.Any) -> dict[str, t.Any]:
        return {"ResourceRecordSets": copy.deepcopy(self.record_sets)}

    def change_resource_record_sets(self, aws_retry: bool, HostedZoneId: str, ChangeBatch: dict) -> dict:  # noqa: N803
        kept = copy.deepcopy(self.record_sets)
        for change in ChangeBatch["Changes"]:
            if change["Action"] == "DELETE":
                if change["ResourceRecordSet"] not in kept:
                    raise ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "values do not match"}}, "ChangeResourceRecordSets")
                kept.remove(change["ResourceRecordSet"])
            else:
                kept.append(change["ResourceRecordSet"])
        self.record_sets = kept
        self.batches.append(ChangeBatch)
        return {"ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC"}}


def provider_for(client: MemoryRoute53) -> Route53Provider:
    provider = Route53Provider(client, lambda host, port: Endpoint(host, host, port), hosted_zone_id="Z1", poll_interval=0.01)
    provider.zone_name()
    return provider


def stored_alias(option: dict[str, t.Any], **routing: t.Any) -> dict[str, t.Any]:
    target = {"HostedZoneId": option["hosted_zone_id"], "DNSName": option["dns_name"] + ".", "EvaluateTargetHealth": False}
    return {"Name": NAME, "Type": "A", "AliasTarget": target, **routing}


def tools(warnings: list[str] | None = None) -> Tools:
    def no_dns_query(*args: t.Any) -> t.NoReturn:
        raise AssertionError("an alias or failover record must be verified through the API, not DNS")

    return Tools(health_probe=lambda check: (True, "accepted"), query=no_dns_query,
                 resolve=lambda host, port: Endpoint(host, host, port), warn=(warnings if warnings is not None else []).append)


def test_alias_failover_is_one_batch_and_is_read_back_through_the_api():
    client = MemoryRoute53([stored_alias(ALB_US)])
    provider = provider_for(client)
    result = failover(provider, request(alias=ALB_EU, expect_current=[ALB_US["dns_name"]]), tools(), check_mode=False, diff=False)
    assert result["changed"] and result["previous"]["alias"]["dns_name"] == ALB_US["dns_name"]
    assert result["new"] == {"value": [], "ttl": None, "alias": {**ALB_EU, "evaluate_target_health": False}}
    assert result["gates"]["expect_current"]["status"] == "passed"
    (batch,) = client.batches
    assert batch["Changes"] == [
        {"Action": "DELETE", "ResourceRecordSet": stored_alias(ALB_US)},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": NAME, "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z32O12XQLNTSW2", "DNSName": ALB_EU["dns_name"] + ".", "EvaluateTargetHealth": False}}},
    ]
    assert result["verification"]["method"] == "api" and result["verification"]["converged"]
    again = failover(provider_for(client), request(alias=ALB_EU), tools(), check_mode=False, diff=False)
    assert not again["changed"] and len(client.batches) == 1 and again["verification"]["converged"]


def test_a_read_back_that_differs_fails_saying_the_record_was_changed():
    class Lagging(MemoryRoute53):
        def change_resource_record_sets(self, aws_retry: bool, HostedZoneId: str, ChangeBatch: dict) -> dict:  # noqa: N803
            self.batches.append(ChangeBatch)  # accepted, but never applied: what the API must catch
            return {"ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC"}}

    client = Lagging([stored_alias(ALB_US)])
    with pytest.raises(VerificationFailed, match=r"the record WAS changed but .* read back through the route53 API holds alias to dualstack.app-us") as failed:
        failover(provider_for(client), request(alias=ALB_EU), tools(), check_mode=False, diff=False)
    assert failed.value.details["changed"] is True
    assert failed.value.details["previous"]["alias"]["dns_name"] == ALB_US["dns_name"]


def test_verify_servers_cannot_show_an_alias_and_is_refused_before_the_change():
    client = MemoryRoute53([stored_alias(ALB_US)])
    with pytest.raises(ConfigurationError, match=r"verify_servers cannot show app.example.test A.*Nothing was changed"):
        failover(provider_for(client), request(alias=ALB_EU, verify_servers=["192.0.2.53"]), tools(), check_mode=False, diff=False)
    assert client.batches == []


PRIMARY = {"Name": NAME, "Type": "A", "SetIdentifier": "primary", "Failover": "PRIMARY", "TTL": 60,
           "ResourceRecords": [{"Value": "192.0.2.10"}], "HealthCheckId": "hc-1"}
SECONDARY = {"Name": NAME, "Type": "A", "SetIdentifier": "secondary", "Failover": "SECONDARY", "TTL": 60,
             "ResourceRecords": [{"Value": "192.0.2.20"}]}


def test_failover_pair_needs_set_identifier_naming_both_record_sets():
    provider = provider_for(MemoryRoute53([PRIMARY, SECONDARY]))
    with pytest.raises(ConfigurationError, match=r"uses a routing policy, with the record sets primary \(PRIMARY\), "
                                                 r"secondary \(SECONDARY\); give set_identifier"):
        provider.read(NAME, "A")
    weighted = dict(SECONDARY, SetIdentifier="blue", Weight=10)
    del weighted["Failover"]
    with pytest.raises(ConfigurationError, match=r"set_identifier blue belongs to a weighted.*amazon.aws.route53"):
        provider_for(MemoryRoute53([weighted])).read(NAME, "A", "blue")


def test_primary_record_pointed_at_the_secondary_keeps_role_and_health_check_and_fails_back():
    client = MemoryRoute53([PRIMARY, SECONDARY])
    result = failover(provider_for(client), request(value=["192.0.2.20"], set_identifier="primary"), tools(), check_mode=False, diff=False)
    assert result["changed"] and result["previous"] == {"value": ["192.0.2.10"], "ttl": 60, "alias": None}
    assert sorted(client.record_sets, key=lambda item: item["SetIdentifier"]) == [
        dict(PRIMARY, ResourceRecords=[{"Value": "192.0.2.20"}]), SECONDARY,
    ]
    previous = result["previous"]
    failover(provider_for(client), request(value=previous["value"], ttl=previous["ttl"], alias=previous["alias"], set_identifier="primary"),
             tools(), check_mode=False, diff=False)
    assert sorted(client.record_sets, key=lambda item: item["SetIdentifier"]) == [PRIMARY, SECONDARY]


def test_a_race_on_the_primary_record_is_refused():
    client = MemoryRoute53([PRIMARY])
    provider = provider_for(client)
    current = provider.read(NAME, "A", "primary")
    client.record_sets = [dict(PRIMARY, TTL=30)]
    with pytest.raises(GateRefused, match=r"The record most likely changed after it was read"):
        provider.apply(current, RecordSet(NAME, "A", 60, ("192.0.2.20",), set_identifier="primary", failover="PRIMARY"))
    assert client.record_sets == [dict(PRIMARY, TTL=30)]
