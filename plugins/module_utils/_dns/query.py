# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Asking one DNS server directly (dnspython): the record set it holds, the
servers of a zone, the address of a name.

Queries are non-recursive (the servers asked are authoritative), over UDP
with a fall back to TCP when the answer is truncated.
"""

from __future__ import annotations

import ipaddress
import socket
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    QUERY_TIMEOUT,
    Endpoint,
    Observation,
    format_endpoint,
    normalize_name,
    normalize_values,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    DependencyMissing,
    SourceUnavailable,
    missing_library_message,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - depends on the host; reported by require_dnspython
    HAS_DNSPYTHON = False


def require_dnspython() -> None:
    if not HAS_DNSPYTHON:
        raise DependencyMissing(missing_library_message("dnspython", "to query and update DNS servers"))


def ask(address: str, port: int, qname: str, rdtype: str, timeout: float = QUERY_TIMEOUT, tcp: bool = False) -> t.Any:
    """One non-recursive query; SourceUnavailable when the server does not answer.

    Over UDP (TCP when the answer is truncated), or over TCP only: a server
    that is down then fails at once instead of after the timeout.
    """
    message = dns.message.make_query(qname, rdtype)
    message.flags &= ~dns.flags.RD
    where = format_endpoint(address, port)
    asked = f"{qname.rstrip('.') or '.'} {rdtype}"
    try:
        if tcp:
            response = dns.query.tcp(message, address, timeout=timeout, port=port)
        else:
            response, _tcp = dns.query.udp_with_fallback(message, address, timeout=timeout, port=port)
    except dns.exception.Timeout:
        raise SourceUnavailable(
            f"the DNS server {where} did not answer a query for {asked} within {timeout:g}s; "
            f"check the address and port and that the server runs and is reachable from here",
            server=where,
        ) from None
    except (OSError, dns.exception.DNSException) as error:
        raise SourceUnavailable(
            f"the DNS server {where} could not be reached to ask for {asked}: {error}; "
            f"check the address and port and that the server runs and is reachable from here",
            server=where,
        ) from None
    return response


def rcode_text(response: t.Any) -> str:
    return dns.rcode.to_text(response.rcode())


def authoritative(response: t.Any) -> bool:
    return bool(response.flags & dns.flags.AA)


def answer_rrset(response: t.Any, name: str, rdtype: str) -> tuple[tuple[str, ...], int] | None:
    """The values and TTL of name/rdtype in the answer section, normalized; None if absent."""
    wanted = normalize_name(name)
    for rrset in response.answer:
        if rrset.rdtype != dns.rdatatype.from_text(rdtype):
            continue
        if normalize_name(rrset.name.to_text()) != wanted:
            continue
        if rdtype == "CNAME":
            texts = [rdata.target.to_text() for rdata in rrset]
        elif rdtype == "NS":
            return tuple(sorted(normalize_name(rdata.target.to_text()) for rdata in rrset)), rrset.ttl
        else:
            texts = [rdata.address for rdata in rrset]
        return normalize_values(rdtype, texts, "answer"), rrset.ttl
    return None


def observe(endpoint: Endpoint, name: str, rdtype: str, timeout: float) -> Observation:
    """What one authoritative server answers for name/rdtype, errors included (for verification)."""
    try:
        response = ask(endpoint.address, endpoint.port, name, rdtype, timeout)
    except SourceUnavailable as error:
        return Observation(error=error.message)
    rcode = rcode_text(response)
    if rcode not in ("NOERROR", "NXDOMAIN"):
        return Observation(rcode=rcode, error=f"answered {rcode}")
    if not authoritative(response):
        return Observation(rcode=rcode, error="answered without authority (the server is not authoritative for the zone)")
    found = answer_rrset(response, name, rdtype)
    if found is None:
        return Observation(rcode=rcode)
    return Observation(values=found[0], ttl=found[1], rcode=rcode)


def resolve(host: str, port: int, via: Endpoint | None = None) -> Endpoint:
    """The endpoint of a server named host: an address as is, a name through via (glue) or the system resolver.

    One address per server: IPv4 when the name has one, IPv6 otherwise.
    """
    try:
        ipaddress.ip_address(host)
        return Endpoint(host, host, port)
    except ValueError:
        pass
    if via is not None:
        for rdtype in ("A", "AAAA"):
            try:
                response = ask(via.address, via.port, host, rdtype)
            except SourceUnavailable:
                break
            found = answer_rrset(response, host, rdtype) if authoritative(response) else None
            if found and found[0]:
                return Endpoint(normalize_name(host)[:-1], found[0][0], port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as error:
        raise SourceUnavailable(
            f"the name server {host} has no address: {error}; give the servers to verify as addresses in verify_servers",
            server=host,
        ) from None
    # Only IPv4 and IPv6 addresses start with a string; a name resolves to no other family.
    addresses = [info[4][0] for info in infos if isinstance(info[4][0], str)]
    ipv4 = [address for address in addresses if ":" not in address]
    return Endpoint(normalize_name(host)[:-1], (ipv4 or addresses)[0], port)


def resolve_endpoint(host: str, port: int) -> Endpoint:
    return resolve(host, port)
