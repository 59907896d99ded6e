# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS names, record sets and servers as the failover and every provider see them.

A provider (rfc2136.py, route53.py) reads and writes RecordSet values and
names its servers as Endpoint values; query.py turns a server's answer into
an Observation. Names are compared absolute and in lower case, values in
canonical form and order, so a record set has one spelling.
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass, replace

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

RECORD_TYPES = ("A", "AAAA", "CNAME")
# A Route 53 hosted zone id as AWS prints it (ALB, NLB, CloudFront and the user's own zones alike).
_HOSTED_ZONE_ID = re.compile(r"^[A-Z0-9]{5,32}$")
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


def article(rtype: str) -> str:
    return "an" if rtype[:1] in "AEFHILMNORSX" else "a"


@dataclass(frozen=True)
class AliasTarget:
    """A Route 53 alias: the record answers with the target's records (an ALB, NLB, CloudFront or a record of the zone)."""

    dns_name: str
    hosted_zone_id: str
    evaluate_target_health: bool = False

    def summary(self) -> dict[str, t.Any]:
        return {
            "dns_name": display_name(self.dns_name),
            "hosted_zone_id": self.hosted_zone_id,
            "evaluate_target_health": self.evaluate_target_health,
        }

    def describe(self) -> str:
        health = ", evaluating target health" if self.evaluate_target_health else ""
        return f"alias to {display_name(self.dns_name)} (hosted zone {self.hosted_zone_id}{health})"


def parse_alias(value: t.Mapping[str, t.Any] | None, what: str = "alias") -> AliasTarget | None:
    """The alias option (dns_name, hosted_zone_id, evaluate_target_health) checked; None when not given."""
    if not value:
        return None
    dns_name, zone_id = value.get("dns_name"), value.get("hosted_zone_id")
    example = (
        f"write {what}: {{dns_name: dualstack.my-alb-123.eu-west-1.elb.amazonaws.com, hosted_zone_id: Z32O12XQLNTSW2}} "
        f"(the target's own hosted zone id, as its console or describe call shows it)"
    )
    if not dns_name or not zone_id:
        missing = " and ".join(name for name, given in (("dns_name", dns_name), ("hosted_zone_id", zone_id)) if not given)
        raise ConfigurationError(f"{what} has no {missing}; an alias needs both. {example}. Nothing was changed")
    zone_text = str(zone_id).strip().rsplit("/", 1)[-1]
    if not _HOSTED_ZONE_ID.match(zone_text):
        raise ConfigurationError(
            f"{what}.hosted_zone_id {zone_id!r} is not a Route 53 hosted zone id (5 to 32 capital letters and digits, "
            f"such as Z32O12XQLNTSW2); {example}. Nothing was changed"
        )
    return AliasTarget(
        normalize_name(str(dns_name), f"{what}.dns_name"),
        zone_text,
        bool(value.get("evaluate_target_health")),
    )


@dataclass(frozen=True)
class RecordSet:
    """All records of one name and type, with their (common) TTL; or a Route 53 alias, which has no TTL.

    set_identifier and failover name one record set of a Route 53 failover routing pair.
    """

    name: str
    type: str
    ttl: int | None
    values: tuple[str, ...]
    alias: AliasTarget | None = None
    set_identifier: str | None = None
    failover: str | None = None

    def same_as(self, other: RecordSet | None) -> bool:
        return other is not None and self == other

    def with_ttl(self, ttl: int) -> RecordSet:
        return replace(self, ttl=ttl)

    def targets(self) -> tuple[str, ...]:
        """What the record points at: its values, or the alias target's name."""
        return (self.alias.dns_name,) if self.alias is not None else self.values

    def summary(self) -> dict[str, t.Any]:
        return {
            "value": [display_name(value) for value in self.values],
            "ttl": self.ttl,
            "alias": self.alias.summary() if self.alias is not None else None,
        }

    def routing(self) -> str:
        """The routing policy's part of a description: empty for a simple record set."""
        if self.set_identifier is None:
            return ""
        policy = f"failover {self.failover}, " if self.failover else ""
        return f"{policy}set_identifier {self.set_identifier}"

    def zone_lines(self) -> str:
        comment = f" ; {self.routing()}" if self.routing() else ""
        if self.alias is not None:
            health = str(self.alias.evaluate_target_health).lower()
            return (
                f"{self.name} ALIAS IN {self.type} {self.alias.dns_name} ; hosted_zone_id {self.alias.hosted_zone_id}, "
                f"evaluate_target_health {health}{comment.replace(' ;', ',')}\n"
            )
        return "".join(f"{self.name} {self.ttl} IN {self.type} {value}{comment}\n" for value in self.values)

    def describe(self) -> str:
        routing = f" [{self.routing()}]" if self.routing() else ""
        if self.alias is not None:
            return f"{self.alias.describe()}{routing}"
        return f"{', '.join(display_name(value) for value in self.values)} (TTL {self.ttl}){routing}"


def summary(record_set: RecordSet | None) -> dict[str, t.Any]:
    """What a result shows of a record set; an absent record has no values and no TTL."""
    return record_set.summary() if record_set is not None else {"value": [], "ttl": None, "alias": None}


def describe(record_set: RecordSet | None) -> str:
    return record_set.describe() if record_set is not None else "nothing (no such record)"


# --------------------------------------------------------------------------
# Servers, their answers and the providers


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

    def read(self, name: str, rtype: str, set_identifier: str | None = None) -> RecordSet | None:
        """The record set as the provider holds it now (of a routing policy: the one with set_identifier)."""

    def apply(self, current: RecordSet | None, desired: RecordSet) -> dict[str, t.Any]:
        """Replace current by desired in one atomic change that fails if the record no longer holds current."""

    def authoritative_servers(self) -> list[Endpoint]:
        """Every server that answers authoritatively for the zone."""
