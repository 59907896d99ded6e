# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS failover and failback, independent of the DNS provider.

The module dns_failover reads the record through a provider (RFC 2136 server
or Route 53), computes a plan (what the record holds, what it should hold,
whether the TTL is lowered first), runs the safety gates (expected current
value, health of the new target, RPO of the new target), applies the plan as
one atomic change that only succeeds while the record still holds what was
read (a compare-and-swap), and then asks every authoritative server until
all of them answer the new record set; a Route 53 alias or failover record
set, which the servers cannot show, is read back through the API instead.

Everything here is plain Python: providers, health probes and DNS queries are
handed in, so the logic is unit-testable without servers.
Names and record sets are in records.py, the request and the plan in
plan.py, the gates in gates.py; this file verifies convergence and runs the
steps in order.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.resilience.dr.plugins.module_utils._dns.gates import (
    HealthProbe,
    evaluate_gates,
    refuse_failed_gates,
    skipped_gate_warnings,
)
from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import Plan, Request, make_plan, record_diff
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    QUERY_TIMEOUT,
    Endpoint,
    Observation,
    Provider,
    RecordSet,
    article,
    describe,
    display_name,
    parse_endpoint,
    qualify_record,
    summary,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    VerificationFailed,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch, wait_for

Query = t.Callable[[Endpoint, str, str, float], Observation]
Resolve = t.Callable[[str, int], Endpoint]


# --------------------------------------------------------------------------
# Verification


@dataclass
class ServerState:
    endpoint: Endpoint
    observation: Observation = field(default_factory=Observation)
    converged_after_s: float | None = None

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "server": self.endpoint.name,
            "address": self.endpoint.address,
            "port": self.endpoint.port,
            "value": [display_name(value) for value in self.observation.values],
            "ttl": self.observation.ttl,
            "rcode": self.observation.rcode,
            "error": self.observation.error,
            "converged": self.converged_after_s is not None,
            "converged_after_s": self.converged_after_s,
        }


def verify_convergence(
    endpoints: list[Endpoint],
    desired: RecordSet,
    query: Query,
    timeout: float,
    *,
    interval: float = 1.0,
) -> dict[str, t.Any]:
    """Ask every server until all answer desired; raise WaitTimeout naming those that do not."""
    if not endpoints:
        raise ConfigurationError(
            f"no authoritative server to verify {display_name(desired.name)} against; give verify_servers or verify: false"
        )
    states = [ServerState(endpoint) for endpoint in endpoints]
    stopwatch = Stopwatch()

    def probe() -> bool | None:
        for state in states:
            if state.converged_after_s is not None:
                continue
            remaining = max(timeout - stopwatch.elapsed(), 0.5)
            state.observation = query(state.endpoint, desired.name, desired.type, min(QUERY_TIMEOUT, remaining))
            if state.observation.matches(desired):
                state.converged_after_s = stopwatch.elapsed()
        return True if all(state.converged_after_s is not None for state in states) else None

    outcome = {"method": "dns", "timeout_s": timeout, "expected": desired.summary()}
    try:
        wait_for(probe, timeout=timeout, what="verification", interval=interval, max_interval=5.0)
    except WaitTimeout:
        lagging = [state for state in states if state.converged_after_s is None]
        outcome.update(converged=False, converged_after_s=None, servers=[state.as_dict() for state in states])
        answers = "; ".join(f"{state.endpoint.label()} answers {state.observation.describe()}" for state in lagging)
        raise WaitTimeout(
            f"{len(lagging)} of {len(states)} authoritative servers did not answer {desired.describe()} for "
            f"{display_name(desired.name)} {desired.type} within verify_timeout {timeout:g}s: {answers}",
            verification=outcome,
        ) from None
    outcome.update(
        converged=True,
        converged_after_s=max(state.converged_after_s or 0.0 for state in states),
        servers=[state.as_dict() for state in states],
    )
    return outcome


def answers_differ_from_record(record_set: RecordSet) -> bool:
    """True when name servers cannot show the record set: they answer an alias with its target's addresses, and a
    failover routing pair with whichever record the health checks pick."""
    return record_set.alias is not None or record_set.set_identifier is not None


def verify_read_back(provider: Provider, desired: RecordSet) -> dict[str, t.Any]:
    """The record set read back from the provider's API must be the one written."""
    found = provider.read(desired.name, desired.type, desired.set_identifier)
    outcome: dict[str, t.Any] = {
        "method": "api",
        "expected": desired.summary(),
        "found": None if found is None else found.summary(),
        "servers": [],
    }
    if not desired.same_as(found):
        outcome.update(converged=False, converged_after_s=None)
        raise VerificationFailed(
            f"{display_name(desired.name)} {desired.type} read back through the {provider.name} API holds "
            f"{describe(found)}, not {desired.describe()}",
            verification=outcome,
        )
    outcome.update(converged=True, converged_after_s=0.0)
    return outcome


def verification_endpoints(provider: Provider, request: Request, resolve: Resolve) -> list[Endpoint]:
    if request.verify_servers:
        return [resolve(*parse_endpoint(item, request.port, "verify_servers entry")) for item in request.verify_servers]
    return provider.authoritative_servers()


# --------------------------------------------------------------------------
# The failover


@dataclass
class Tools:
    """The side effects the failover uses, replaceable in tests."""

    health_probe: HealthProbe
    query: Query
    resolve: Resolve
    warn: t.Callable[[str], None]
    sleep: t.Callable[[float], None] = time.sleep


def read_record(provider: Provider, name: str, rtype: str, set_identifier: str | None = None) -> RecordSet | None:
    """The record set, refusing names where a CNAME and other data would collide."""
    current = provider.read(name, rtype, set_identifier)
    conflicting = ("CNAME",) if rtype != "CNAME" else ("A", "AAAA")
    for other in conflicting:
        found = provider.read(name, other)
        if found is not None:
            raise ConfigurationError(
                f"{display_name(name)} holds {article(other)} {other} record ({found.describe()}), which cannot coexist "
                f"with {article(rtype)} {rtype} record; nothing was changed. Change the record with type: {other}, or remove the "
                f"{other} record first"
            )
    return current


def failover(provider: Provider, request: Request, tools: Tools, *, check_mode: bool, diff: bool) -> dict[str, t.Any]:
    """Plan, gate, apply and verify one record change; returns the module result."""
    zone = provider.zone_name()
    name = qualify_record(request.record, zone)
    plan = make_plan(read_record(provider, name, request.type, request.set_identifier), request, name)
    gates = evaluate_gates(plan, request, tools.health_probe)
    result: dict[str, t.Any] = {
        "changed": plan.changed,
        "provider": provider.name,
        "zone": display_name(zone),
        "record": display_name(name),
        "type": request.type,
        "previous": summary(plan.current),
        "new": summary(plan.desired),
        "lower_ttl": None,
        "gates": {gate.name: gate.as_dict() for gate in gates},
        "verification": None,
    }
    if plan.lowered is not None:
        result["lower_ttl"] = {"from_ttl": plan.lower_wait_s, "to_ttl": plan.lowered.ttl, "waited_s": None}
    if diff:
        result["diff"] = record_diff(plan)
    for warning in skipped_gate_warnings(plan, gates, check_mode):
        tools.warn(warning)
    refuse_failed_gates(plan, gates)
    if request.verify and request.verify_servers and answers_differ_from_record(plan.desired):
        raise ConfigurationError(
            f"verify_servers cannot show {display_name(name)} {request.type}: name servers answer an alias with its "
            f"target's addresses and a failover pair with the record its health checks pick, so the record set is read "
            f"back through the Route 53 API instead. Drop verify_servers. Nothing was changed"
        )
    if check_mode:
        return result

    through_api = answers_differ_from_record(plan.desired)
    endpoints: list[Endpoint] = []
    if request.verify and not through_api:
        endpoints = verification_endpoints(provider, request, tools.resolve)

    def verify(desired: RecordSet) -> dict[str, t.Any]:
        if through_api:
            return verify_read_back(provider, desired)
        return verify_convergence(endpoints, desired, tools.query, request.verify_timeout)

    if not plan.changed:
        if request.verify:
            result["verification"] = verify(plan.desired)
        return result

    expected = plan.current
    if plan.lowered is not None:
        result["change"] = provider.apply(expected, plan.lowered)
        expected = plan.lowered
        stopwatch = Stopwatch()
        try:
            if request.verify:
                verify(plan.lowered)
        except DrError as error:
            raise _after_change(error, plan, "the TTL was lowered (values unchanged) but ") from None
        tools.sleep(plan.lower_wait_s)
        result["lower_ttl"]["waited_s"] = stopwatch.elapsed()

    try:
        result["change"] = provider.apply(expected, plan.desired)
    except DrError as error:
        if plan.lowered is not None:
            raise _after_change(error, plan, "the TTL was lowered (values unchanged) but the switch failed: ") from None
        if error.details.get("changed"):
            # The provider accepted the change but could not confirm it.
            raise _after_change(error, plan, "") from None
        raise

    if request.verify:
        try:
            result["verification"] = verify(plan.desired)
        except DrError as error:
            raise _after_change(error, plan, "the record WAS changed but ") from None
    return result


def _after_change(error: DrError, plan: Plan, prefix: str) -> DrError:
    """The error of a step after the record changed: says so and carries previous for the failback."""
    details = dict(error.details)
    details.update(changed=True, previous=summary(plan.current), new=summary(plan.desired))
    message = (
        f"{display_name(plan.desired.name)} {plan.desired.type}: {prefix}{error.message}. It held "
        f"{describe(plan.current)} before (returned as previous, for a failback)"
    )
    return type(error)(message, **details)
