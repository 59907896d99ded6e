# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Route 53 provider's zone lookup, change batches and waits, with a scripted client."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns.records import Endpoint
from ansible_collections.resilience.dr.plugins.module_utils._dns.route53 import Route53Provider
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, GateRefused, SourceUnavailable, WaitTimeout
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._dns.helpers import NAME, record


class FakeRoute53:
    def __init__(self, zones: list[dict], record_sets: list[dict], statuses: list[str] | None = None) -> None:
        self.zones = zones
        self.record_sets = record_sets
        self.statuses = statuses or ["INSYNC"]
        self.batches: list[dict] = []
        self.fail_change: Exception | None = None

    def list_hosted_zones_by_name(self, aws_retry, DNSName, MaxItems):  # noqa: N803 - boto3's names
        return {"HostedZones": [zone for zone in self.zones if zone["Name"] == DNSName]}

    def get_hosted_zone(self, aws_retry, Id):  # noqa: N803
        for zone in self.zones:
            if zone["Id"].endswith(Id):
                return {"HostedZone": zone, "DelegationSet": {"NameServers": ["ns-1.awsdns-01.org"]}}
        raise _route53_error("NoSuchHostedZone", f"No hosted zone found with ID: {Id}")

    def list_resource_record_sets(self, aws_retry, HostedZoneId, StartRecordName, StartRecordType, MaxItems):  # noqa: N803
        return {"ResourceRecordSets": self.record_sets}

    def change_resource_record_sets(self, aws_retry, HostedZoneId, ChangeBatch):  # noqa: N803
        if self.fail_change is not None:
            raise self.fail_change
        self.batches.append(ChangeBatch)
        return {"ChangeInfo": {"Id": "/change/C1", "Status": self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]}}

    def get_change(self, aws_retry, Id):  # noqa: N803
        return {"ChangeInfo": {"Id": Id, "Status": self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]}}


def _route53_error(code: str, message: str) -> Exception:
    from ansible_collections.resilience.dr.plugins.module_utils._dns import route53

    error = route53.ClientError({"Error": {"Code": code, "Message": message}}, "Route53")
    return error


ZONE = {"Id": "/hostedzone/Z1", "Name": "example.test.", "Config": {"PrivateZone": False}}


STORED = {"Name": "app.example.test.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "10.0.0.3"}, {"Value": "10.0.0.1"}]}


def route53_provider(client: FakeRoute53, **kwargs: t.Any) -> Route53Provider:
    return Route53Provider(client, lambda host, port: Endpoint(host, host, port), poll_interval=0.01, **kwargs)


def test_route53_switch_is_one_batch_deleting_the_record_exactly_as_stored():
    client = FakeRoute53([ZONE], [STORED])
    provider = route53_provider(client, zone="example.test")
    assert provider.zone_name() == "example.test." and provider.zone_id == "Z1"
    current = provider.read(NAME, "A")
    assert current == record(["10.0.0.1", "10.0.0.3"])
    outcome = provider.apply(current, record(["10.0.0.2"], ttl=60))
    assert outcome == {"change_id": "C1", "status": "INSYNC"}
    (batch,) = client.batches
    assert batch["Changes"] == [
        {"Action": "DELETE", "ResourceRecordSet": STORED},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": NAME, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.0.0.2"}]}},
    ]


def test_route53_new_record_is_a_create_alone_and_waits_for_insync():
    client = FakeRoute53([ZONE], [], statuses=["PENDING", "PENDING", "INSYNC"])
    provider = route53_provider(client, hosted_zone_id="/hostedzone/Z1")
    provider.zone_name()
    assert provider.read(NAME, "A") is None
    assert provider.apply(None, record(["10.0.0.2"]))["status"] == "INSYNC"
    assert [change["Action"] for change in client.batches[0]["Changes"]] == ["CREATE"]
    assert client.statuses == ["INSYNC"]


def test_route53_insync_timeout_says_the_change_was_accepted():
    client = FakeRoute53([ZONE], [], statuses=["PENDING"])
    provider = route53_provider(client, zone="example.test", wait_timeout=0.05)
    provider.zone_name()
    with pytest.raises(WaitTimeout, match=r"Route 53 accepted change C1 .* and will apply it, but did not report it INSYNC") as timeout:
        provider.apply(None, record(["10.0.0.2"]))
    assert timeout.value.details["changed"] is True


def test_route53_refused_batch_is_reported_as_a_race_with_nothing_changed():
    client = FakeRoute53([ZONE], [STORED])
    client.fail_change = _route53_error("InvalidChangeBatch", "Tried to delete resource record set but the values provided do not match")
    provider = route53_provider(client, zone="example.test")
    provider.zone_name()
    with pytest.raises(GateRefused, match=r"do not match. The record most likely changed after it was read; nothing was changed"):
        provider.apply(provider.read(NAME, "A"), record(["10.0.0.2"]))


def test_route53_zone_lookup_errors_name_the_zone():
    with pytest.raises(ConfigurationError, match=r"zone not found: Route 53 has no hosted zone named other.test"):
        route53_provider(FakeRoute53([ZONE], []), zone="other.test").zone_name()
    with pytest.raises(ConfigurationError, match=r"zone not found: Route 53 has no hosted zone ZNOPE"):
        route53_provider(FakeRoute53([ZONE], []), hosted_zone_id="ZNOPE").zone_name()
    private = dict(ZONE, Id="/hostedzone/Z2", Config={"PrivateZone": True})
    with pytest.raises(ConfigurationError, match=r"2 hosted zones named example.test \(Z1, Z2\).*give hosted_zone_id"):
        route53_provider(FakeRoute53([ZONE, private], []), zone="example.test").zone_name()
    with pytest.raises(ConfigurationError, match=r"hosted zone Z1 is example.test, not zone other.test"):
        route53_provider(FakeRoute53([ZONE], []), zone="other.test", hosted_zone_id="Z1").zone_name()


def test_route53_private_zone_needs_verify_servers():
    private = dict(ZONE, Config={"PrivateZone": True})
    client = FakeRoute53([private], [])
    provider = route53_provider(client, zone="example.test")
    provider.zone_name()
    with pytest.raises(ConfigurationError, match=r"private zone .* Give verify_servers"):
        provider.authoritative_servers()


def test_route53_unreachable_endpoint_is_source_unavailable():
    from ansible_collections.resilience.dr.plugins.module_utils._dns import route53

    class Unreachable(FakeRoute53):
        def list_hosted_zones_by_name(self, **kwargs):
            raise route53.BotoCoreError()

    with pytest.raises(SourceUnavailable, match=r"Route 53 could not be reached to list hosted zones named example.test"):
        route53_provider(Unreachable([ZONE], []), zone="example.test").zone_name()
