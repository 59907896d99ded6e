# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the user asked dns_failover for, and the plan: the record set now, the one wanted, a TTL lowered first."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    AliasTarget,
    RecordSet,
    display_name,
    format_endpoint,
    normalize_name,
    normalize_values,
    parse_alias,
    parse_endpoint,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

# The gates skip_gates may name (expect_current is overridden by force instead).
GATES = ("health", "rpo")
# TTL of a record created by the module when no ttl is given.
DEFAULT_TTL = 300


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
    alias: AliasTarget | None = None
    allow_alias_conversion: bool = False
    set_identifier: str | None = None
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
        alias = parse_alias(params.get("alias"))
        ttl = params.get("ttl")
        if alias is None and not values:
            raise ConfigurationError(
                "value is empty and no alias is given; give the address(es) or name the record should hold, or alias "
                "(dns_name and hosted_zone_id) for a Route 53 alias"
            )
        if alias is not None:
            _check_alias_request(params, alias, values, ttl)
        set_identifier = params.get("set_identifier")
        if set_identifier is not None and params.get("provider") != "route53":
            raise ConfigurationError("set_identifier names a record set of a Route 53 routing policy; it needs provider: route53")
        expect = params.get("expect_current")
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
        wanted = normalize_values(rtype, values) if alias is None else ()
        verify_timeout = params.get("verify_timeout")
        if health_check is None and "health" not in skip:
            target = alias.describe() if alias is not None else ", ".join(display_name(value) for value in wanted)
            raise ConfigurationError(
                f"no health_check is given for the new target of {params['record']} {rtype} "
                f"({target}): traffic would move to a site nobody has "
                "checked answers. Add health_check (tcp: host:port, or http: a URL with status), or skip the gate "
                "deliberately with skip_gates: [health]. Nothing was changed"
            )
        return cls(
            record=str(params["record"]),
            type=rtype,
            values=wanted,
            ttl=None if ttl is None else int(ttl),
            alias=alias,
            allow_alias_conversion=bool(params.get("allow_alias_conversion")),
            set_identifier=None if set_identifier is None else str(set_identifier),
            expect_current=None if expect is None else normalize_expected(rtype, expect),
            force=bool(params.get("force")),
            lower_ttl_first=bool(params.get("lower_ttl_first")),
            lower_ttl_max_wait=int(params["lower_ttl_max_wait"]) if params.get("lower_ttl_max_wait") is not None else 900,
            health_check=health_check,
            skip_gates=skip,
            max_rpo_seconds=_optional_float(params.get("max_rpo_seconds")),
            rpo_seconds=_optional_float(params.get("rpo_seconds")),
            verify=bool(params.get("verify", True)),
            verify_servers=tuple(params.get("verify_servers") or ()),
            verify_timeout=120.0 if verify_timeout is None else float(verify_timeout),
            port=int(params.get("port") or 53),
        )


def _check_alias_request(params: t.Mapping[str, t.Any], alias: AliasTarget, values: t.Sequence[str], ttl: t.Any) -> None:
    """An alias replaces value and ttl, and exists only in Route 53."""
    if params.get("provider") != "route53":
        raise ConfigurationError(
            f"alias is a Route 53 feature; provider {params.get('provider')} takes value (and ttl) instead. Nothing was changed"
        )
    if values:
        raise ConfigurationError(
            f"give either value or alias, not both: value {', '.join(str(value) for value in values)} and alias "
            f"{alias.describe()} were given. Nothing was changed"
        )
    if ttl is not None:
        raise ConfigurationError(
            f"ttl {ttl} cannot be set on an alias record: Route 53 answers with the TTL of the alias target "
            f"({display_name(alias.dns_name)}). Drop ttl (or pass it as null). Nothing was changed"
        )


def normalize_expected(rtype: str, items: t.Iterable[str]) -> tuple[str, ...]:
    """expect_current in canonical form: addresses as normalize_values writes them, names (an alias target) absolute."""
    normalized: set[str] = set()
    for item in items:
        try:
            normalized.update(normalize_values(rtype, [item], "expect_current value"))
        except ConfigurationError:
            if rtype == "CNAME":
                raise
            # Not an address: the name of the alias target the record should point at now.
            normalized.add(normalize_name(item, "expect_current value"))
    return tuple(sorted(normalized))


def _optional_float(value: t.Any) -> float | None:
    return None if value is None else float(value)


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
        return self.current is None or self.current.targets() != self.desired.targets() or self.current.alias != self.desired.alias


def make_plan(current: RecordSet | None, request: Request, name: str) -> Plan:
    """What the record holds now and what it will hold; refuses a TTL wait beyond the bound and silent conversions."""
    if request.set_identifier is not None and current is None:
        raise ConfigurationError(
            f"{display_name(name)} {request.type} has no record set with set_identifier {request.set_identifier}; "
            f"dns_failover changes the records of a failover routing pair but does not create them. Nothing was changed"
        )
    set_identifier = current.set_identifier if current is not None else None
    failover_role = current.failover if current is not None else None
    if request.alias is not None:
        desired = RecordSet(
            name, request.type, None, (), alias=request.alias, set_identifier=set_identifier, failover=failover_role
        )
    else:
        if request.ttl is not None:
            ttl = request.ttl
        else:
            ttl = current.ttl if current is not None and current.ttl is not None else DEFAULT_TTL
        desired = RecordSet(name, request.type, ttl, request.values, set_identifier=set_identifier, failover=failover_role)
    _refuse_silent_conversion(current, desired, request)
    plan = Plan(current=current, desired=desired)
    if (
        request.lower_ttl_first and plan.changed and plan.values_change and current is not None
        and current.ttl is not None and desired.ttl is not None and current.ttl > desired.ttl
    ):
        if current.ttl > request.lower_ttl_max_wait:
            raise ConfigurationError(
                f"lower_ttl_first would wait out the current TTL of {display_name(name)} {request.type} "
                f"({current.ttl}s), longer than lower_ttl_max_wait ({request.lower_ttl_max_wait}s); nothing was "
                f"changed. Lower the TTL ahead of time, raise lower_ttl_max_wait, or switch without lower_ttl_first"
            )
        plan.lowered = current.with_ttl(desired.ttl)
        plan.lower_wait_s = current.ttl
    return plan


def _refuse_silent_conversion(current: RecordSet | None, desired: RecordSet, request: Request) -> None:
    """Turning a plain record into an alias (or back) changes how Route 53 answers: only when asked for."""
    if current is None or (current.alias is None) == (desired.alias is None) or request.allow_alias_conversion:
        return
    if current.alias is not None:
        what = f"is {current.alias.describe()}; value would replace it with a plain record ({desired.describe()})"
    else:
        what = f"is a plain record ({current.describe()}); alias would replace it with an {desired.describe()}"
    raise ConfigurationError(
        f"{display_name(desired.name)} {desired.type} {what}. Converting between a plain record and an alias is "
        f"refused unless allow_alias_conversion: true is given. Nothing was changed"
    )


def record_diff(plan: Plan) -> dict[str, str]:
    """--diff output: the record set before and after, in zone file form."""
    label = f"{display_name(plan.desired.name)} {plan.desired.type}"
    if plan.desired.set_identifier is not None:
        label += f" (set_identifier {plan.desired.set_identifier})"
    return {
        "before_header": label,
        "after_header": label,
        "before": plan.current.zone_lines() if plan.current is not None else "",
        "after": plan.desired.zone_lines(),
    }
