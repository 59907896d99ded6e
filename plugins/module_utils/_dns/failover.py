# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS failover and failback, independent of the DNS provider.

The module dns_failover reads the record through a provider (RFC 2136 server
or Route 53), computes a plan (what the record holds, what it should hold,
whether the TTL is lowered first), runs the safety gates (expected current
value, health of the new target, RPO of the new target), applies the plan as
one atomic change that only succeeds while the record still holds what was
read (a compare-and-swap), and then asks every authoritative server until
all of them answer the new record set.

Everything here is plain Python: providers, health probes and DNS queries are
handed in, so the logic is unit-testable without servers.
"""

from __future__ import annotations

import ipaddress
import re
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    GateRefused,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch, wait_for

RECORD_TYPES = ("A", "AAAA", "CNAME")
GATES = ("health", "rpo")
# TTL of a record created by the module when no ttl is given.
DEFAULT_TTL = 300
# Seconds one DNS query may take before it counts as unanswered.
QUERY_TIMEOUT = 5.0

_ESCAPE = re.compile(r"\\(\d{3})")


# --------------------------------------------------------------------------
# Names and values


def normalize_name(name: str, what: str = "name") -> str:
    """A DNS name as compared here: lower case, absolute (trailing dot), escapes decoded."""
    text = _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), str(name).strip()).lower()
    if text in ("", "."):
        raise ConfigurationError(f"{what} {name!r} is not a DNS name")
    if not text.endswith("."):
        text += "."
    labels = text[:-1].split(".")
    if any(label == "" for label in labels):
        raise ConfigurationError(f"{what} {name!r} is not a DNS name (empty label)")
    if any(len(label) > 63 for label in labels) or len(text) > 254:
        raise ConfigurationError(f"{what} {name!r} is not a DNS name (a label or the name is too long)")
    return text


def display_name(name: str) -> str:
    """A name as users write it: without the trailing dot."""
    return name[:-1] if name.endswith(".") and name != "." else name


def qualify_record(record: str, zone: str) -> str:
    """The absolute name of record, which must lie inside zone."""
    zone_name = normalize_name(zone, "zone")
    name = normalize_name(record, "record")
    if name != zone_name and not name.endswith("." + zone_name):
        raise ConfigurationError(
            f"record {display_name(name)} is not inside the zone {display_name(zone_name)}; "
            f"give the full name of a record in that zone (for example app.{display_name(zone_name)})"
        )
    return name


def normalize_values(rtype: str, values: t.Iterable[str], what: str = "value") -> tuple[str, ...]:
    """The record set's values in canonical form and order (a DNS record set has no order)."""
    rtype = rtype.upper()
    if rtype not in RECORD_TYPES:
        raise ConfigurationError(f"record type {rtype} is not supported; use one of {', '.join(RECORD_TYPES)}")
    items = [str(value).strip() for value in values]
    if rtype == "CNAME":
        names = sorted({normalize_name(item, what) for item in items})
        if len(names) > 1:
            raise ConfigurationError(f"a CNAME record holds exactly one name, but {what} lists {len(names)}: {', '.join(items)}")
        return tuple(names)
    version = 4 if rtype == "A" else 6
    addresses = set()
    for item in items:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise ConfigurationError(f"{what} {item!r} is not an IPv{version} address, which {article(rtype)} {rtype} record needs") from None
        if address.version != version:
            raise ConfigurationError(f"{what} {item!r} is not an IPv{version} address, which {article(rtype)} {rtype} record needs")
        addresses.add(address)
    return tuple(str(address) for address in sorted(addresses))


@dataclass(frozen=True)
class RecordSet:
    """All records of one name and type, with their (common) TTL."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    def same_as(self, other: RecordSet | None) -> bool:
        return other is not None and (self.name, self.type, self.ttl, self.values) == (
            other.name,
            other.type,
            other.ttl,
            other.values,
        )

    def with_ttl(self, ttl: int) -> RecordSet:
        return RecordSet(self.name, self.type, ttl, self.values)

    def summary(self) -> dict[str, t.Any]:
        return {"value": [display_name(value) for value in self.values], "ttl": self.ttl}

    def zone_lines(self) -> str:
        return "".join(f"{self.name} {self.ttl} IN {self.type} {value}\n" for value in self.values)

    def describe(self) -> str:
        return f"{', '.join(display_name(value) for value in self.values)} (TTL {self.ttl})"


def summary(record_set: RecordSet | None) -> dict[str, t.Any]:
    """What a result shows of a record set; an absent record has no values and no TTL."""
    return record_set.summary() if record_set is not None else {"value": [], "ttl": None}


def describe(record_set: RecordSet | None) -> str:
    return record_set.describe() if record_set is not None else "nothing (no such record)"


# --------------------------------------------------------------------------
# The request


@dataclass
class HealthCheck:
    tcp: tuple[str, int] | None = None
    http: str | None = None
    status: int = 200
    timeout: float = 5.0
    validate_certs: bool = True

    def target(self) -> str:
        if self.tcp is not None:
            return f"tcp {format_endpoint(*self.tcp)}"
        return f"http {self.http}"


@dataclass
class Request:
    """What the user asked for, validated; built from the module's parameters."""

    record: str
    type: str
    values: tuple[str, ...]
    ttl: int | None = None
    expect_current: tuple[str, ...] | None = None
    force: bool = False
    lower_ttl_first: bool = False
    lower_ttl_max_wait: int = 900
    health_check: HealthCheck | None = None
    skip_gates: tuple[str, ...] = ()
    max_rpo_seconds: float | None = None
    rpo_seconds: float | None = None
    verify: bool = True
    verify_servers: tuple[str, ...] = ()
    verify_timeout: float = 120.0
    port: int = 53

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> Request:
        rtype = str(params.get("type") or "A").upper()
        values = params.get("value") or []
        if not values:
            raise ConfigurationError("value is empty; give the address(es) or name the record should hold")
        expect = params.get("expect_current")
        ttl = params.get("ttl")
        if ttl is not None and not 0 <= int(ttl) <= 2147483647:
            raise ConfigurationError(f"ttl {ttl} is out of range (0 to 2147483647 seconds)")
        for option in ("max_rpo_seconds", "rpo_seconds"):
            if params.get(option) is not None and float(params[option]) < 0:
                raise ConfigurationError(f"{option} {params[option]} is negative")
        if float(params.get("verify_timeout") or 0) < 0:
            raise ConfigurationError("verify_timeout is negative")
        skip = tuple(params.get("skip_gates") or ())
        unknown = [gate for gate in skip if gate not in GATES]
        if unknown:
            raise ConfigurationError(f"skip_gates names unknown gates {', '.join(unknown)}; the gates are {', '.join(GATES)}")
        health_check = parse_health_check(params.get("health_check"))
        wanted = normalize_values(rtype, values)
        if health_check is None and "health" not in skip:
            raise ConfigurationError(
                f"no health_check is given for the new target of {params['record']} {rtype} "
                f"({', '.join(display_name(value) for value in wanted)}): traffic would move to a site nobody has "
                "checked answers. Add health_check (tcp: host:port, or http: a URL with status), or skip the gate "
                "deliberately with skip_gates: [health]. Nothing was changed"
            )
        return cls(
            record=str(params["record"]),
            type=rtype,
            values=wanted,
            ttl=None if ttl is None else int(ttl),
            expect_current=None if expect is None else normalize_values(rtype, expect, "expect_current value"),
            force=bool(params.get("force")),
            lower_ttl_first=bool(params.get("lower_ttl_first")),
            lower_ttl_max_wait=int(params["lower_ttl_max_wait"]) if params.get("lower_ttl_max_wait") is not None else 900,
            health_check=health_check,
            skip_gates=skip,
            max_rpo_seconds=_optional_float(params.get("max_rpo_seconds")),
            rpo_seconds=_optional_float(params.get("rpo_seconds")),
            verify=bool(params.get("verify", True)),
            verify_servers=tuple(params.get("verify_servers") or ()),
            verify_timeout=float(params.get("verify_timeout") if params.get("verify_timeout") is not None else 120),
            port=int(params.get("port") or 53),
        )


def _optional_float(value: t.Any) -> float | None:
    return None if value is None else float(value)


def parse_endpoint(text: str, default_port: int, what: str = "server") -> tuple[str, int]:
    """host, host:port, [v6]:port or a bare IPv6 address."""
    item = str(text).strip()
    if not item:
        raise ConfigurationError(f"{what} is empty; write host or host:port")
    if item.startswith("["):
        host, _bracket, rest = item[1:].partition("]")
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise ConfigurationError(f"{what} {text!r} is not host:port; write [2001:db8::1]:53")
        port_text = rest[1:]
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        return item, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigurationError(f"{what} {text!r} has no valid port after the colon; write host:port") from None
    if not host or not 0 < port < 65536:
        raise ConfigurationError(f"{what} {text!r} is not host:port with a port from 1 to 65535")
    return host, port


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_health_check(value: t.Mapping[str, t.Any] | None) -> HealthCheck | None:
    if not value:
        return None
    tcp, http = value.get("tcp"), value.get("http")
    if bool(tcp) == bool(http):
        raise ConfigurationError("health_check needs exactly one of tcp (host:port) or http (a URL)")
    check = HealthCheck(
        status=int(value.get("status") or 200),
        timeout=float(value.get("timeout") or 5),
        validate_certs=bool(value.get("validate_certs", True)),
    )
    if tcp:
        host, port = parse_endpoint(tcp, 0, "health_check.tcp")
        if port == 0:
            raise ConfigurationError(f"health_check.tcp {tcp!r} has no port; write host:port, for example 10.0.2.15:443")
        check.tcp = (host, port)
    else:
        if not re.match(r"^https?://", str(http)):
            raise ConfigurationError(f"health_check.http {http!r} is not an http:// or https:// URL")
        check.http = str(http)
    return check


# --------------------------------------------------------------------------
# The plan


@dataclass
class Plan:
    current: RecordSet | None
    desired: RecordSet
    # The record set written first when lower_ttl_first applies, and how long to wait after it.
    lowered: RecordSet | None = None
    lower_wait_s: int = 0

    @property
    def changed(self) -> bool:
        return not self.desired.same_as(self.current)

    @property
    def values_change(self) -> bool:
        return self.current is None or self.current.values != self.desired.values


def make_plan(current: RecordSet | None, request: Request, name: str) -> Plan:
    """What the record holds now and what it will hold; refuses a TTL wait beyond the bound."""
    if request.ttl is not None:
        ttl = request.ttl
    else:
        ttl = current.ttl if current is not None else DEFAULT_TTL
    plan = Plan(current=current, desired=RecordSet(name, request.type, ttl, request.values))
    if request.lower_ttl_first and plan.changed and plan.values_change and current is not None and current.ttl > ttl:
        if current.ttl > request.lower_ttl_max_wait:
            raise ConfigurationError(
                f"lower_ttl_first would wait out the current TTL of {display_name(name)} {request.type} "
                f"({current.ttl}s), longer than lower_ttl_max_wait ({request.lower_ttl_max_wait}s); nothing was "
                f"changed. Lower the TTL ahead of time, raise lower_ttl_max_wait, or switch without lower_ttl_first"
            )
        plan.lowered = current.with_ttl(ttl)
        plan.lower_wait_s = current.ttl
    return plan


def record_diff(plan: Plan) -> dict[str, str]:
    """--diff output: the record set before and after, in zone file form."""
    label = f"{display_name(plan.desired.name)} {plan.desired.type}"
    return {
        "before_header": label,
        "after_header": label,
        "before": plan.current.zone_lines() if plan.current is not None else "",
        "after": plan.desired.zone_lines(),
    }


# --------------------------------------------------------------------------
# Gates


@dataclass
class GateResult:
    name: str
    # passed | failed | skipped (named in skip_gates) | overridden (force) | not_configured | not_needed
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


HealthProbe = t.Callable[[HealthCheck], tuple[bool, str]]


def expect_current_gate(plan: Plan, request: Request) -> GateResult:
    expected = request.expect_current
    if expected is None:
        return GateResult("expect_current", "not_configured", "expect_current not given")
    holds = plan.current.values if plan.current is not None else ()
    if holds == expected:
        return GateResult("expect_current", "passed", f"the record holds {describe(plan.current)} as expected")
    expected_text = ", ".join(display_name(value) for value in expected) or "nothing (no such record)"
    detail = f"the record holds {describe(plan.current)}, not the expected {expected_text}"
    if request.force:
        return GateResult("expect_current", "overridden", f"{detail}; force: true overrides this")
    return GateResult("expect_current", "failed", detail)


def rpo_gate(request: Request) -> GateResult:
    bound, rpo = request.max_rpo_seconds, request.rpo_seconds
    if bound is None:
        detail = "max_rpo_seconds not given"
        if rpo is not None:
            detail += f" (rpo_seconds {rpo:g} has no bound to be checked against)"
        if "rpo" in request.skip_gates:
            return GateResult("rpo", "skipped", f"skipped by skip_gates (nothing to check: {detail})")
        return GateResult("rpo", "not_configured", detail)
    if rpo is None:
        passed, detail = False, f"rpo_seconds is not given, so the age of the target's data is unknown (bound {bound:g}s)"
    elif rpo > bound:
        passed, detail = False, f"the target's data is {rpo:g}s old (rpo_seconds), more than max_rpo_seconds {bound:g}s"
    else:
        passed, detail = True, f"the target's data is {rpo:g}s old, within max_rpo_seconds {bound:g}s"
    return _decide("rpo", passed, detail, request)


def health_gate(request: Request, probe: HealthProbe) -> GateResult:
    check = request.health_check
    if check is None:
        # Request.from_params allows this only with skip_gates: [health].
        if "health" in request.skip_gates:
            return GateResult("health", "skipped", "skipped by skip_gates (no health_check given: nothing checked "
                                                   "that the new target answers)")
        return GateResult("health", "failed", "health_check not given: nothing checks that the new target answers")
    passed, detail = probe(check)
    return _decide("health", passed, f"{check.target()}: {detail}", request)


def _decide(name: str, passed: bool, detail: str, request: Request) -> GateResult:
    if name in request.skip_gates:
        outcome = "passed" if passed else "failed"
        return GateResult(name, "skipped", f"skipped by skip_gates (the check {outcome}: {detail})")
    return GateResult(name, "passed" if passed else "failed", detail)


def evaluate_gates(plan: Plan, request: Request, probe: HealthProbe) -> list[GateResult]:
    """Every gate's outcome; gates only matter when the record would change."""
    if not plan.changed:
        return [
            GateResult(name, "not_needed", "the record already holds the wanted record set")
            for name in ("expect_current", "health", "rpo")
        ]
    return [expect_current_gate(plan, request), health_gate(request, probe), rpo_gate(request)]


def skipped_gate_warnings(plan: Plan, gates: list[GateResult], check_mode: bool) -> list[str]:
    """One warning per gate skipped by skip_gates, for the operator and the incident report."""
    what = "would change" if check_mode else "changes"
    return [
        f"{display_name(plan.desired.name)} {plan.desired.type}: gate {gate.name} {gate.detail}; the failover "
        f"{what} the record without it"
        for gate in gates if gate.status == "skipped"
    ]


def refuse_failed_gates(plan: Plan, gates: list[GateResult]) -> None:
    failed = [gate for gate in gates if gate.status == "failed"]
    if not failed:
        return
    reasons = "; ".join(f"gate {gate.name} failed: {gate.detail}" for gate in failed)
    hints = []
    if any(gate.name == "expect_current" for gate in failed):
        hints.append("re-read the record and decide again (force: true overrides expect_current)")
    skippable = [gate.name for gate in failed if gate.name in GATES]
    if skippable:
        hints.append(f"fix the target, or skip deliberately with skip_gates: [{', '.join(skippable)}]")
    raise GateRefused(
        f"refusing to change {display_name(plan.desired.name)} {plan.desired.type} from {describe(plan.current)} "
        f"to {describe(plan.desired)}: {reasons}. Nothing was changed; {' or '.join(hints)}",
        gates={gate.name: gate.as_dict() for gate in gates},
        previous=summary(plan.current),
    )


# --------------------------------------------------------------------------
# Providers and verification


@dataclass(frozen=True)
class Endpoint:
    """One authoritative server: the name it is known by, the address and port asked."""

    name: str
    address: str
    port: int

    def label(self) -> str:
        where = format_endpoint(self.address, self.port)
        return where if self.name in (self.address, "") else f"{self.name} ({where})"


@dataclass
class Observation:
    """What one server answered for the record: its record set, or why it gave none."""

    values: tuple[str, ...] = ()
    ttl: int | None = None
    rcode: str | None = None
    error: str | None = None

    def matches(self, record_set: RecordSet) -> bool:
        return self.error is None and self.values == record_set.values and self.ttl == record_set.ttl

    def describe(self) -> str:
        if self.error is not None:
            return self.error
        if not self.values:
            return f"no such record ({self.rcode})"
        return f"{', '.join(display_name(value) for value in self.values)} (TTL {self.ttl})"


class Provider(t.Protocol):
    """What the failover needs from a DNS provider."""

    name: str

    def zone_name(self) -> str:
        """The zone's absolute name; raises when the zone does not exist there."""

    def read(self, name: str, rtype: str) -> RecordSet | None:
        """The record set as the provider holds it now."""

    def apply(self, current: RecordSet | None, desired: RecordSet) -> dict[str, t.Any]:
        """Replace current by desired in one atomic change that fails if the record no longer holds current."""

    def authoritative_servers(self) -> list[Endpoint]:
        """Every server that answers authoritatively for the zone."""


Query = t.Callable[[Endpoint, str, str, float], Observation]
Resolve = t.Callable[[str, int], Endpoint]


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

    outcome = {"timeout_s": timeout, "expected": desired.summary()}
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


def article(rtype: str) -> str:
    return "an" if rtype[:1] in "AEFHILMNORSX" else "a"


def read_record(provider: Provider, name: str, rtype: str) -> RecordSet | None:
    """The record set, refusing names where a CNAME and other data would collide."""
    current = provider.read(name, rtype)
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
    plan = make_plan(read_record(provider, name, request.type), request, name)
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
    if check_mode:
        return result

    endpoints: list[Endpoint] = []
    if request.verify:
        endpoints = verification_endpoints(provider, request, tools.resolve)

    if not plan.changed:
        if request.verify:
            result["verification"] = verify_convergence(endpoints, plan.desired, tools.query, request.verify_timeout)
        return result

    expected = plan.current
    if plan.lowered is not None:
        result["change"] = provider.apply(expected, plan.lowered)
        expected = plan.lowered
        stopwatch = Stopwatch()
        try:
            if request.verify:
                verify_convergence(endpoints, plan.lowered, tools.query, request.verify_timeout)
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
            result["verification"] = verify_convergence(endpoints, plan.desired, tools.query, request.verify_timeout)
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
