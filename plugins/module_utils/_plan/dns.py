# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS records of a DR plan (dr_plan.dns.records), checked and resolved per site.

A record points each site at plain values (values.<site>, else the site's
address) or, with Route 53, at an alias target (alias.<site>: a load balancer,
a CloudFront distribution or another record of the zone). set_identifier names
the record set of a Route 53 failover routing pair that moves between the
sites (docs/dns-failover.md, "Failover and alias records in the plan").
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._dns.records import parse_alias
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import refuse_unknown_keys

PROVIDERS = ("rfc2136", "route53")
RECORD_KEYS = frozenset((
    "record", "type", "values", "ttl", "health_check", "alias", "set_identifier", "allow_alias_conversion",
))
RECORD_TYPES = ("A", "AAAA", "CNAME")
ALIAS_EXAMPLE = "{dns_name: dualstack.app-eu-123.eu-west-1.elb.amazonaws.com, hosted_zone_id: Z32O12XQLNTSW2}"


def _site_mapping(record: dict[str, t.Any], key: str, label: str, sites: t.Collection[str],
                  problems: list[str]) -> dict[str, t.Any]:
    """values or alias of a record: a mapping of sites of the plan (an empty mapping when not given)."""
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"dns record {label} {key} must be a mapping of sites ({', '.join(sites)}) to its {key} there")
        return {}
    for site in value:
        if site not in sites:
            problems.append(f"dns record {label} has {key}.{site}, but {site} is not a site of the plan ({', '.join(sites)})")
    return value


def _check_alias(label: str, site: str, alias: t.Any, problems: list[str]) -> None:
    where = f"dns record {label} alias.{site}"
    if not isinstance(alias, dict):
        problems.append(f"{where} must be a mapping, like {ALIAS_EXAMPLE}")
        return
    refuse_unknown_keys(alias, frozenset(("dns_name", "hosted_zone_id", "evaluate_target_health")), where, problems)
    health = alias.get("evaluate_target_health", False)
    if not isinstance(health, bool):
        problems.append(f"{where}.evaluate_target_health is {health!r}; write true or false (false for CloudFront)")
    try:
        parse_alias(alias, where)
    except ConfigurationError as error:
        problems.append(error.message.removesuffix(". Nothing was changed"))


def _check_record(record: t.Any, position: int, provider: t.Any, sites: dict[str, t.Any], problems: list[str]) -> None:
    if not isinstance(record, dict):
        problems.append(f"dns record {position} must be a mapping (record, values or alias, health_check)")
        return
    label = record.get("record") or f"{position}"
    if not record.get("record") or not isinstance(record["record"], str):
        problems.append(f"dns record {position} has no record (the full name, like app.example.com)")
    refuse_unknown_keys(record, RECORD_KEYS, f"dns record {label}", problems)
    rtype = record.get("type", "A")
    if rtype not in RECORD_TYPES:
        problems.append(f"dns record {label} has type {rtype!r}; use one of {', '.join(RECORD_TYPES)}")
    values = _site_mapping(record, "values", label, sites, problems)
    aliases = _site_mapping(record, "alias", label, sites, problems)
    route53_only = [key for key in ("alias", "set_identifier") if record.get(key) is not None]
    if route53_only and provider != "route53":
        problems.append(f"dns record {label} has {' and '.join(route53_only)}, which only Route 53 has "
                        f"(dr_plan.dns.provider is {provider!r}); use provider: route53 or plain values")
    for site, alias in aliases.items():
        _check_alias(label, site, alias, problems)
        if values.get(site) is not None:
            problems.append(f"dns record {label} has both values.{site} and alias.{site}; give the site one of them")
    for site in sites:
        if site not in values and site not in aliases and not (sites[site] or {}).get("address"):
            problems.append(f"dns record {label} has no value for site {site} (values.{site}, alias.{site}, or the site's address)")
    conversion = record.get("allow_alias_conversion", False)
    if not isinstance(conversion, bool):
        problems.append(f"dns record {label} has allow_alias_conversion {conversion!r}; write true or false")
    elif aliases and len(aliases) < len(sites) and not conversion:
        plain = [site for site in sites if site not in aliases]
        problems.append(
            f"dns record {label} is an alias on {', '.join(aliases)} but a plain record on {', '.join(plain)}: moving "
            "between them turns one kind of record into the other; say allow_alias_conversion: true if that is meant"
        )
    if aliases and len(aliases) == len(sites) and record.get("ttl") is not None:
        problems.append(f"dns record {label} has ttl {record['ttl']!r}, but it is an alias on every site "
                        "(Route 53 answers an alias with its target's TTL); remove ttl")
    identifier = record.get("set_identifier")
    if identifier is not None and (not isinstance(identifier, str) or not identifier.strip()):
        problems.append(f"dns record {label} has set_identifier {identifier!r}; give the SetIdentifier of the record set "
                        "of the failover pair that moves between the sites (its PRIMARY), like app-primary")


def check_dns(plan: dict[str, t.Any], problems: list[str]) -> None:
    """dr_plan.dns: the provider, and each record's values, aliases and failover record set per site."""
    dns = plan.get("dns")
    if not dns:
        return
    if not isinstance(dns, dict):
        problems.append("dr_plan.dns must be a mapping (provider, zone, records)")
        return
    provider = dns.get("provider")
    if provider not in PROVIDERS:
        problems.append(f"dr_plan.dns.provider {provider!r} is not rfc2136 or route53")
    records = dns.get("records") or []
    if not isinstance(records, list):
        problems.append("dr_plan.dns.records must be a list of records")
        return
    sites = plan.get("sites")
    if not isinstance(sites, dict):
        sites = {}
    for position, record in enumerate(records, start=1):
        _check_record(record, position, provider, sites, problems)


def dns_records(plan: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The plan's records, each with what it points at on every site: site_values (an empty list where the site
    has an alias) and site_aliases (the alias target, None where the site has plain values)."""
    sites = plan.get("sites") or {}
    resolved_records = []
    for record in (plan.get("dns") or {}).get("records") or []:
        values = record.get("values") or {}
        aliases = record.get("alias") or {}
        resolved = dict(record)
        resolved["site_aliases"] = {name: aliases.get(name) for name in sites}
        resolved["site_values"] = {
            name: [] if aliases.get(name) else (values.get(name) or [(sites[name] or {}).get("address")]) for name in sites
        }
        resolved_records.append(resolved)
    return resolved_records
