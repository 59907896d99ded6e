# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dns_failover's plan, gates, diff, verification and orchestration, and the
Route 53 provider's change batches, without servers."""

from __future__ import annotations

import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.resilience.dr.plugins.module_utils._dns.failover import Tools, failover, verify_convergence
from ansible_collections.resilience.dr.plugins.module_utils._dns.gates import evaluate_gates, refuse_failed_gates
from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import HealthCheck, Request, make_plan, record_diff
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    Endpoint,
    Observation,
    RecordSet,
    normalize_values,
    parse_endpoint,
    qualify_record,
)
from ansible_collections.resilience.dr.plugins.module_utils._dns.route53 import Route53Provider
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    GateRefused,
    SourceUnavailable,
    WaitTimeout,
)

NAME = "app.example.test."


def request(**params: t.Any) -> Request:
    base = {"record": "app.example.test", "type": "A", "value": ["10.0.0.2"], "verify": False,
            "health_check": {"tcp": "10.0.0.2:443"}}
    base.update(params)
    return Request.from_params(base)


def record(values: t.Sequence[str], ttl: int = 300, rtype: str = "A", name: str = NAME) -> RecordSet:
    return RecordSet(name, rtype, ttl, normalize_values(rtype, values))


# --------------------------------------------------------------------------
# Names and values


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


def test_health_check_needs_a_port_or_a_url():
    with pytest.raises(ConfigurationError, match=r"health_check.tcp '10.0.0.2' has no port; write host:port"):
        request(health_check={"tcp": "10.0.0.2"})
    with pytest.raises(ConfigurationError, match=r"health_check.http 'secondary/healthz' is not an http"):
        request(health_check={"http": "secondary/healthz"})
    with pytest.raises(ConfigurationError, match=r"exactly one of tcp"):
        request(health_check={"tcp": "10.0.0.2:443", "http": "http://10.0.0.2/"})
    assert request(health_check={"tcp": "10.0.0.2:443"}).health_check == HealthCheck(tcp=("10.0.0.2", 443))


def test_request_refuses_negative_rpo_and_unknown_gates():
    with pytest.raises(ConfigurationError, match=r"rpo_seconds -1 is negative"):
        request(rpo_seconds=-1)
    with pytest.raises(ConfigurationError, match=r"skip_gates names unknown gates expect_current"):
        request(skip_gates=["expect_current"])


# --------------------------------------------------------------------------
# The plan and the diff


def test_plan_keeps_the_ttl_when_none_is_given_and_uses_300_for_a_new_record():
    plan = make_plan(record(["10.0.0.1"], ttl=3600), request(), NAME)
    assert plan.changed and plan.desired == record(["10.0.0.2"], ttl=3600)
    assert make_plan(None, request(), NAME).desired.ttl == 300
    assert not make_plan(record(["10.0.0.2"], ttl=3600), request(), NAME).changed
    # A TTL change alone is a change.
    assert make_plan(record(["10.0.0.2"], ttl=3600), request(ttl=60), NAME).changed


def test_plan_lowers_the_ttl_first_only_when_values_change_and_the_ttl_shrinks():
    plan = make_plan(record(["10.0.0.1"], ttl=600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME)
    assert plan.lowered == record(["10.0.0.1"], ttl=60) and plan.lower_wait_s == 600
    assert make_plan(record(["10.0.0.1"], ttl=60), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None
    assert make_plan(record(["10.0.0.2"], ttl=600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None
    assert make_plan(None, request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None


def test_plan_refuses_a_ttl_wait_beyond_the_bound_before_anything_changes():
    with pytest.raises(ConfigurationError, match=r"current TTL of app.example.test A \(3600s\), longer than lower_ttl_max_wait \(900s\); nothing was"):
        make_plan(record(["10.0.0.1"], ttl=3600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME)


def test_diff_shows_both_record_sets_in_zone_file_form():
    diff = record_diff(make_plan(record(["10.0.0.1", "10.0.0.3"]), request(ttl=60), NAME))
    assert diff["before"] == "app.example.test. 300 IN A 10.0.0.1\napp.example.test. 300 IN A 10.0.0.3\n"
    assert diff["after"] == "app.example.test. 60 IN A 10.0.0.2\n"
    assert diff["before_header"] == "app.example.test A"
    assert record_diff(make_plan(None, request(), NAME))["before"] == ""


# --------------------------------------------------------------------------
# Gates


def healthy(check: HealthCheck) -> tuple[bool, str]:
    return True, "accepted"


def unhealthy(check: HealthCheck) -> tuple[bool, str]:
    return False, "connection refused"


def statuses(gates) -> dict[str, str]:
    return {gate.name: gate.status for gate in gates}


def test_expect_current_passes_fails_or_is_overridden_by_force():
    current = record(["10.0.0.1"])
    plan = make_plan(current, request(expect_current=["10.0.0.1"]), NAME)
    assert statuses(evaluate_gates(plan, request(expect_current=["10.0.0.1"]), healthy))["expect_current"] == "passed"
    mismatch = request(expect_current=["10.0.0.9"])
    gates = evaluate_gates(make_plan(current, mismatch, NAME), mismatch, healthy)
    assert statuses(gates)["expect_current"] == "failed"
    forced = request(expect_current=["10.0.0.9"], force=True)
    assert statuses(evaluate_gates(make_plan(current, forced, NAME), forced, healthy))["expect_current"] == "overridden"
    # An empty list means "the record must not exist".
    absent = request(expect_current=[])
    assert statuses(evaluate_gates(make_plan(None, absent, NAME), absent, healthy))["expect_current"] == "passed"
    assert statuses(evaluate_gates(make_plan(current, absent, NAME), absent, healthy))["expect_current"] == "failed"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, "not_configured"),
        ({"rpo_seconds": 30}, "not_configured"),
        ({"max_rpo_seconds": 60, "rpo_seconds": 30}, "passed"),
        ({"max_rpo_seconds": 60, "rpo_seconds": 60}, "passed"),
        ({"max_rpo_seconds": 60, "rpo_seconds": 61}, "failed"),
        ({"max_rpo_seconds": 60}, "failed"),
        ({"max_rpo_seconds": 60, "rpo_seconds": 600, "skip_gates": ["rpo"]}, "skipped"),
        ({"skip_gates": ["rpo"]}, "skipped"),
    ],
)
def test_rpo_gate(params, status):
    wanted = request(**params)
    gates = evaluate_gates(make_plan(record(["10.0.0.1"]), wanted, NAME), wanted, healthy)
    assert statuses(gates)["rpo"] == status


def test_health_gate_runs_the_probe_and_a_skipped_gate_still_reports_its_outcome():
    wanted = request(health_check={"tcp": "10.0.0.2:443"})
    plan = make_plan(record(["10.0.0.1"]), wanted, NAME)
    assert statuses(evaluate_gates(plan, wanted, healthy))["health"] == "passed"
    failed = {gate.name: gate for gate in evaluate_gates(plan, wanted, unhealthy)}["health"]
    assert failed.status == "failed" and failed.detail == "tcp 10.0.0.2:443: connection refused"
    skipping = request(health_check={"tcp": "10.0.0.2:443"}, skip_gates=["health"])
    skipped = {gate.name: gate for gate in evaluate_gates(plan, skipping, unhealthy)}["health"]
    assert skipped.status == "skipped" and "the check failed: tcp 10.0.0.2:443: connection refused" in skipped.detail


def test_a_failover_without_health_check_is_refused_unless_the_health_gate_is_skipped():
    with pytest.raises(ConfigurationError) as refused:
        request(health_check=None)
    message = refused.value.message
    assert message.startswith("no health_check is given for the new target of app.example.test A (10.0.0.2)")
    assert "Add health_check (tcp: host:port, or http: a URL with status)" in message
    assert "skip_gates: [health]" in message and "Nothing was changed" in message
    with pytest.raises(ConfigurationError, match="no health_check"):
        request(health_check=None, skip_gates=["rpo"])
    skipping = request(health_check=None, skip_gates=["health"])
    gates = evaluate_gates(make_plan(record(["10.0.0.1"]), skipping, NAME), skipping, unhealthy)
    health = {gate.name: gate for gate in gates}["health"]
    assert health.status == "skipped" and health.detail == ("skipped by skip_gates (no health_check given: nothing "
                                                            "checked that the new target answers)")


def test_a_failover_without_health_check_changes_nothing_even_in_check_mode():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    for check_mode in (True, False):
        with pytest.raises(ConfigurationError, match="no health_check"):
            failover(provider, request(health_check=None), tools(provider), check_mode=check_mode, diff=False)
    assert provider.applied == [] and provider.records[(NAME, "A")] == record(["10.0.0.1"])


@pytest.mark.parametrize("check_mode", [True, False])
def test_every_skipped_gate_is_a_warning_naming_it(check_mode):
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    warnings: list = []
    wanted = request(health_check=None, skip_gates=["health", "rpo"], max_rpo_seconds=60, rpo_seconds=600)
    result = failover(provider, wanted, tools(provider, unhealthy, warnings=warnings), check_mode=check_mode, diff=False)
    assert result["changed"] and len(provider.applied) == (0 if check_mode else 1)
    assert [warning.split(":")[1].split()[1] for warning in warnings] == ["health", "rpo"]
    assert warnings[0].startswith("app.example.test A: gate health skipped by skip_gates")
    assert "the check failed: the target's data is 600s old" in warnings[1]
    assert ("would change the record without it" if check_mode else "changes the record without it") in warnings[0]


def test_a_skipped_gate_warns_even_when_another_gate_refuses():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    warnings: list = []
    wanted = request(skip_gates=["health"], max_rpo_seconds=60, rpo_seconds=600)
    with pytest.raises(GateRefused, match="gate rpo failed"):
        failover(provider, wanted, tools(provider, unhealthy, warnings=warnings), check_mode=False, diff=False)
    assert len(warnings) == 1 and "gate health skipped by skip_gates (the check failed" in warnings[0]
    assert provider.applied == []


def test_no_warning_when_nothing_is_skipped_or_nothing_changes():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.2"])})
    warnings: list = []
    failover(provider, request(skip_gates=["health", "rpo"]), tools(provider, warnings=warnings), check_mode=False, diff=False)
    failover(provider, request(value=["10.0.0.3"]), tools(provider, warnings=warnings), check_mode=False, diff=False)
    assert warnings == []


def test_gates_are_not_needed_when_the_record_already_holds_the_values():
    def never(check):
        raise AssertionError("no health check when nothing changes")

    wanted = request(health_check={"tcp": "10.0.0.2:443"}, expect_current=["10.0.0.1"], max_rpo_seconds=1, rpo_seconds=99)
    gates = evaluate_gates(make_plan(record(["10.0.0.2"]), wanted, NAME), wanted, never)
    assert set(statuses(gates).values()) == {"not_needed"}


def test_refusal_names_every_failed_gate_and_how_to_proceed():
    wanted = request(expect_current=["10.0.0.9"], health_check={"tcp": "10.0.0.2:443"}, max_rpo_seconds=60, rpo_seconds=600)
    plan = make_plan(record(["10.0.0.1"]), wanted, NAME)
    with pytest.raises(GateRefused) as refused:
        refuse_failed_gates(plan, evaluate_gates(plan, wanted, unhealthy))
    message = refused.value.message
    assert message.startswith("refusing to change app.example.test A from 10.0.0.1 (TTL 300) to 10.0.0.2 (TTL 300): ")
    assert "gate expect_current failed: the record holds 10.0.0.1 (TTL 300), not the expected 10.0.0.9" in message
    assert "gate health failed" in message and "gate rpo failed" in message
    assert "Nothing was changed" in message and "force: true" in message and "skip_gates: [health, rpo]" in message
    assert refused.value.details["previous"] == {"value": ["10.0.0.1"], "ttl": 300, "alias": None}


# --------------------------------------------------------------------------
# Verification


class ScriptedQuery:
    """Answers per server, one per round; the last answer repeats."""

    def __init__(self, script: dict[str, list[Observation]]) -> None:
        self.script = script
        self.asked: list[str] = []

    def __call__(self, endpoint: Endpoint, name: str, rtype: str, timeout: float) -> Observation:
        self.asked.append(endpoint.name)
        answers = self.script[endpoint.name]
        return answers.pop(0) if len(answers) > 1 else answers[0]


SERVERS = [Endpoint("ns1.example.test", "192.0.2.1", 53), Endpoint("ns2.example.test", "192.0.2.2", 53)]


def test_verification_waits_until_every_server_answers_the_new_record_set():
    new = record(["10.0.0.2"], ttl=60)
    query = ScriptedQuery({
        "ns1.example.test": [Observation(("10.0.0.2",), 60, "NOERROR")],
        "ns2.example.test": [Observation(("10.0.0.1",), 300, "NOERROR"), Observation(("10.0.0.2",), 300, "NOERROR"),
                             Observation(("10.0.0.2",), 60, "NOERROR")],
    })
    outcome = verify_convergence(SERVERS, new, query, timeout=10, interval=0.01)
    assert outcome["converged"] and outcome["converged_after_s"] >= 0
    assert [server["converged"] for server in outcome["servers"]] == [True, True]
    # A converged server is not asked again; the lagging one until it answers values and TTL.
    assert query.asked == ["ns1.example.test", "ns2.example.test", "ns2.example.test", "ns2.example.test"]


def test_verification_timeout_names_each_lagging_server_and_its_answer():
    new = record(["10.0.0.2"])
    query = ScriptedQuery({
        "ns1.example.test": [Observation(("10.0.0.2",), 300, "NOERROR")],
        "ns2.example.test": [Observation(error="the DNS server 192.0.2.2:53 did not answer")],
    })
    with pytest.raises(WaitTimeout) as timeout:
        verify_convergence(SERVERS, new, query, timeout=0.05, interval=0.01)
    assert "1 of 2 authoritative servers did not answer 10.0.0.2 (TTL 300) for app.example.test A within verify_timeout" in timeout.value.message
    assert "ns2.example.test (192.0.2.2:53) answers the DNS server 192.0.2.2:53 did not answer" in timeout.value.message
    servers = timeout.value.details["verification"]["servers"]
    assert [server["converged"] for server in servers] == [True, False]


def test_verification_without_servers_says_what_to_give():
    with pytest.raises(ConfigurationError, match=r"give verify_servers or verify: false"):
        verify_convergence([], record(["10.0.0.2"]), ScriptedQuery({}), timeout=1)


# --------------------------------------------------------------------------
# The failover with a provider of records in memory


class MemoryProvider:
    name = "memory"

    def __init__(self, records: dict[tuple[str, str], RecordSet] | None = None, fail_on: int | None = None) -> None:
        self.records = dict(records or {})
        self.applied: list[tuple[RecordSet | None, RecordSet]] = []
        self.fail_on = fail_on

    def zone_name(self) -> str:
        return "example.test."

    def read(self, name: str, rtype: str, set_identifier: str | None = None) -> RecordSet | None:
        return self.records.get((name, rtype))

    def apply(self, current, desired):
        self.applied.append((current, desired))
        if self.fail_on == len(self.applied):
            raise GateRefused("the record no longer holds what was read")
        assert self.records.get((desired.name, desired.type)) == current, "compare-and-swap against what was read"
        self.records[(desired.name, desired.type)] = desired
        return {"step": len(self.applied)}

    def authoritative_servers(self):
        return [SERVERS[0]]


def answering(provider: MemoryProvider) -> t.Callable:
    def query(endpoint, name, rtype, timeout):
        found = provider.records.get((name, rtype))
        return Observation(found.values, found.ttl, "NOERROR") if found else Observation(rcode="NXDOMAIN")

    return query


def tools(provider: MemoryProvider, probe=healthy, sleeps: list | None = None, warnings: list | None = None) -> Tools:
    return Tools(
        health_probe=probe,
        query=answering(provider),
        resolve=lambda host, port: Endpoint(host, host, port),
        warn=(warnings if warnings is not None else []).append,
        sleep=(sleeps.append if sleeps is not None else lambda seconds: None),
    )


def test_check_mode_reports_the_change_and_changes_nothing():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    result = failover(provider, request(), tools(provider), check_mode=True, diff=True)
    assert result["changed"] and provider.applied == []
    assert result["previous"] == {"value": ["10.0.0.1"], "ttl": 300, "alias": None}
    assert result["new"] == {"value": ["10.0.0.2"], "ttl": 300, "alias": None}
    assert result["verification"] is None and "diff" in result


def test_apply_then_same_again_changes_nothing():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    first = failover(provider, request(verify=True), tools(provider), check_mode=False, diff=False)
    assert first["changed"] and first["verification"]["converged"] and len(provider.applied) == 1
    again = failover(provider, request(verify=True), tools(provider), check_mode=False, diff=False)
    assert not again["changed"] and len(provider.applied) == 1
    assert again["previous"] == again["new"] == {"value": ["10.0.0.2"], "ttl": 300, "alias": None}


def test_refused_gate_changes_nothing():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    with pytest.raises(GateRefused, match=r"gate health failed"):
        failover(provider, request(health_check={"tcp": "10.0.0.2:443"}), tools(provider, unhealthy), check_mode=False, diff=False)
    with pytest.raises(GateRefused, match=r"gate health failed"):
        failover(provider, request(health_check={"tcp": "10.0.0.2:443"}), tools(provider, unhealthy), check_mode=True, diff=False)
    assert provider.applied == []


def test_lower_ttl_first_writes_the_short_ttl_waits_the_old_one_then_switches():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"], ttl=600)})
    sleeps: list = []
    result = failover(provider, request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900, verify=True),
                      tools(provider, sleeps=sleeps), check_mode=False, diff=False)
    assert provider.applied == [
        (record(["10.0.0.1"], ttl=600), record(["10.0.0.1"], ttl=60)),
        (record(["10.0.0.1"], ttl=60), record(["10.0.0.2"], ttl=60)),
    ]
    assert sleeps == [600]
    assert result["lower_ttl"]["from_ttl"] == 600 and result["lower_ttl"]["to_ttl"] == 60
    assert result["previous"] == {"value": ["10.0.0.1"], "ttl": 600, "alias": None}


def test_a_failed_switch_after_lowering_says_so_and_returns_previous():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"], ttl=600)}, fail_on=2)
    with pytest.raises(GateRefused) as failed:
        failover(provider, request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), tools(provider), check_mode=False, diff=False)
    assert "the TTL was lowered (values unchanged) but the switch failed: the record no longer holds" in failed.value.message
    assert "It held 10.0.0.1 (TTL 600) before (returned as previous" in failed.value.message
    assert failed.value.details["changed"] is True
    assert failed.value.details["previous"] == {"value": ["10.0.0.1"], "ttl": 600, "alias": None}


def test_a_change_that_does_not_converge_is_reported_as_made():
    provider = MemoryProvider({(NAME, "A"): record(["10.0.0.1"])})
    stale = Tools(health_probe=healthy, query=lambda *args: Observation(("10.0.0.1",), 300, "NOERROR"),
                  resolve=lambda host, port: Endpoint(host, host, port), warn=lambda message: None)
    with pytest.raises(WaitTimeout) as failed:
        failover(provider, request(verify=True, verify_timeout=0), stale, check_mode=False, diff=False)
    assert "the record WAS changed but 1 of 1 authoritative servers did not answer" in failed.value.message
    assert failed.value.details["changed"] is True and "verification" in failed.value.details


def test_a_cname_at_the_name_is_refused_before_anything_changes():
    provider = MemoryProvider({(NAME, "CNAME"): record(["primary.example.test"], rtype="CNAME")})
    refusal = r"app.example.test holds a CNAME record \(primary.example.test \(TTL 300\)\), which cannot coexist with an A record"
    with pytest.raises(ConfigurationError, match=refusal):
        failover(provider, request(), tools(provider), check_mode=False, diff=False)
    assert provider.applied == []


# --------------------------------------------------------------------------
# Route 53 provider


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
