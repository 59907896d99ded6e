# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover with a provider of records in memory: check mode, apply, again, lowering the TTL,
the warnings of skipped gates, and the verification against each authoritative server."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns.failover import Tools, failover, verify_convergence
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import Endpoint, Observation, RecordSet
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, GateRefused, WaitTimeout
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._dns.helpers import NAME, healthy, record, request, unhealthy


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
