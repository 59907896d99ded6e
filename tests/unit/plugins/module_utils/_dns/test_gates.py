# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gates before a change (expected values, RPO, health) and the refusal that names them."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns.gates import evaluate_gates, refuse_failed_gates
from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import make_plan
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, GateRefused
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._dns.helpers import NAME, healthy, record, request, unhealthy


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
