# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record names, canonical values and server endpoints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import make_plan
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import RecordSet, normalize_values, parse_endpoint, qualify_record
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._dns.helpers import NAME, request


def test_record_must_lie_inside_the_zone():
    assert qualify_record("App.Example.Test", "example.test.") == NAME
    assert qualify_record("example.test.", "example.test") == "example.test."
    with pytest.raises(ConfigurationError, match=r"record app.other.test is not inside the zone example.test; give the full name"):
        qualify_record("app.other.test", "example.test")
    with pytest.raises(ConfigurationError, match=r"not inside the zone"):
        qualify_record("notexample.test", "example.test")


def test_values_are_canonical_sorted_and_checked_against_the_type():
    assert normalize_values("A", ["10.0.0.10", "10.0.0.9", "10.0.0.9"]) == ("10.0.0.9", "10.0.0.10")
    assert normalize_values("AAAA", ["2001:DB8:0:0::1"]) == ("2001:db8::1",)
    assert normalize_values("CNAME", ["Secondary.Example.com"]) == ("secondary.example.com.",)
    with pytest.raises(ConfigurationError, match=r"value '2001:db8::1' is not an IPv4 address, which an A record needs"):
        normalize_values("A", ["2001:db8::1"])
    with pytest.raises(ConfigurationError, match=r"value 'primary' is not an IPv6 address"):
        normalize_values("AAAA", ["primary"])
    with pytest.raises(ConfigurationError, match=r"a CNAME record holds exactly one name, but value lists 2"):
        normalize_values("CNAME", ["a.example.com", "b.example.com"])


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=6), st.randoms())
def test_value_order_never_makes_a_change(addresses, random):
    shuffled = list(addresses)
    random.shuffle(shuffled)
    assert normalize_values("A", addresses) == normalize_values("A", shuffled)
    current = RecordSet(NAME, "A", 60, normalize_values("A", addresses))
    assert not make_plan(current, request(value=shuffled, ttl=60), NAME).changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ns1.example.com", ("ns1.example.com", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
    ],
)
def test_servers_are_host_or_host_port(text, expected):
    assert parse_endpoint(text, 53) == expected


@pytest.mark.parametrize("text", ["ns1:domain", "ns1:0", ":53", "[2001:db8::1]x"])
def test_bad_server_is_refused_with_the_form_to_write(text):
    with pytest.raises(ConfigurationError, match=r"verify_servers entry"):
        parse_endpoint(text, 53, "verify_servers entry")
