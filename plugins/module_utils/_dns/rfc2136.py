# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RFC 2136 provider: dynamic updates signed with TSIG (BIND, PowerDNS, Knot).

A change is one UPDATE message: a prerequisite that the record set still
holds what was read (value-dependent "RRset exists", or "RRset does not
exist"), then the replacement of the record set. The server applies all of it
or nothing, so a racing operator's change is never overwritten silently and
a change is never half applied.
"""

from __future__ import annotations

import binascii
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    QUERY_TIMEOUT,
    Endpoint,
    RecordSet,
    describe,
    display_name,
    format_endpoint,
    normalize_name,
)
from ansible_collections.resilience.dr.plugins.module_utils._dns.query import (
    answer_rrset,
    ask,
    authoritative,
    rcode_text,
    resolve,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    GateRefused,
    SourceUnavailable,
)

try:
    import dns.exception
    import dns.name
    import dns.query
    import dns.rdataset
    import dns.tsig
    import dns.update
except ImportError:  # pragma: no cover - the module reports the missing library
    pass

TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
UPDATE_TIMEOUT = 10.0

_KEY_CONFIG = (
    "check that the key exists on the server with this name, algorithm and secret "
    "(BIND: a key statement in named.conf; PowerDNS: pdnsutil list-tsig-keys; Knot: the key section of knot.conf)"
)


class Rfc2136Provider:
    name = "rfc2136"

    def __init__(
        self,
        server: str,
        port: int,
        zone: str,
        key_name: str | None = None,
        key_secret: str | None = None,
        algorithm: str = "hmac-sha256",
        timeout: float = UPDATE_TIMEOUT,
    ) -> None:
        self.server = server
        self.port = port
        self.zone = normalize_name(zone, "zone")
        self.where = format_endpoint(server, port)
        self.timeout = timeout
        self.key_name = key_name
        self.algorithm = algorithm
        self.key = None
        if key_name:
            if algorithm not in TSIG_ALGORITHMS:
                raise ConfigurationError(f"tsig_algorithm {algorithm} is not one of {', '.join(TSIG_ALGORITHMS)}")
            try:
                self.key = dns.tsig.Key(key_name, key_secret or "", algorithm)
            except (binascii.Error, ValueError, dns.exception.DNSException):
                raise ConfigurationError(
                    f"tsig_key_secret of the key {key_name} is not valid base64; copy the secret exactly as the "
                    f"server's key configuration shows it"
                ) from None

    # ---- reading

    def _ask(self, qname: str, rdtype: str) -> t.Any:
        # Over TCP, like the update itself: a server that is down is reported at once.
        return ask(self.server, self.port, qname, rdtype, QUERY_TIMEOUT, tcp=True)

    def zone_name(self) -> str:
        zone = display_name(self.zone)
        response = self._ask(self.zone, "SOA")
        rcode = rcode_text(response)
        if rcode in ("REFUSED", "NOTAUTH", "SERVFAIL") or (rcode == "NOERROR" and not authoritative(response)):
            raise ConfigurationError(
                f"zone {zone} not found on the DNS server {self.where}: it answered {rcode} "
                f"{'without authority ' if rcode == 'NOERROR' else ''}to a query for the zone's SOA, so it does not "
                f"serve that zone; check zone and server (updates must go to the zone's primary server)",
                zone=zone,
            )
        soa = [rrset for rrset in response.answer if normalize_name(rrset.name.to_text()) == self.zone]
        if rcode == "NXDOMAIN" or not soa:
            parent = [display_name(rrset.name.to_text()) for rrset in response.authority]
            inside = f" (it lies inside the zone {parent[0]})" if parent else ""
            raise ConfigurationError(
                f"zone {zone} not found on the DNS server {self.where}: {zone} is not the apex of a zone "
                f"there{inside}; give the zone's name in zone",
                zone=zone,
            )
        return self.zone

    def read(self, name: str, rtype: str, set_identifier: str | None = None) -> RecordSet | None:
        if set_identifier is not None:
            raise ConfigurationError("set_identifier names a Route 53 routing-policy record set; RFC 2136 zones have none")
        response = self._ask(name, rtype)
        rcode = rcode_text(response)
        if rcode not in ("NOERROR", "NXDOMAIN") or not authoritative(response):
            raise SourceUnavailable(
                f"the DNS server {self.where} answered {rcode}{'' if authoritative(response) else ' without authority'} "
                f"to a query for {display_name(name)} {rtype}; it must be authoritative for the zone "
                f"{display_name(self.zone)}",
                server=self.where,
            )
        found = answer_rrset(response, name, rtype)
        if found is None:
            return None
        return RecordSet(normalize_name(name), rtype, found[1], found[0])

    def authoritative_servers(self) -> list[Endpoint]:
        response = self._ask(self.zone, "NS")
        found = answer_rrset(response, self.zone, "NS")
        if found is None:
            raise SourceUnavailable(
                f"the DNS server {self.where} has no NS records for the zone {display_name(self.zone)} to verify "
                f"against; give verify_servers",
                server=self.where,
            )
        # The name servers are asked on the same port as the server updates go to.
        via = Endpoint(self.server, self.server, self.port)
        return [resolve(ns, self.port, via) for ns in found[0]]

    # ---- changing

    def apply(self, current: RecordSet | None, desired: RecordSet) -> dict[str, t.Any]:
        if desired.alias is not None or desired.ttl is None:
            raise ConfigurationError("alias records exist only in Route 53; give value (and ttl) for an RFC 2136 zone")
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        name = dns.name.from_text(desired.name)
        if current is not None:
            # RFC 2136 2.4.2: a value-dependent prerequisite carries TTL 0.
            update.present(name, dns.rdataset.from_text("IN", current.type, 0, *current.values))
        else:
            update.absent(name, desired.type)
        update.replace(name, desired.ttl, desired.type, *desired.values)
        change = f"{display_name(desired.name)} {desired.type} from {describe(current)} to {desired.describe()}"
        signed = f"signed with the TSIG key {self.key_name}" if self.key_name else "not signed"
        try:
            response = dns.query.tcp(update, self.server, port=self.port, timeout=self.timeout)
        except dns.tsig.PeerBadKey:
            raise self._tsig_error("BADKEY", "the server does not know a key of that name and algorithm", change) from None
        except dns.tsig.PeerBadSignature:
            raise self._tsig_error("BADSIG", "the server knows the key but the secret differs", change) from None
        except dns.tsig.PeerBadTime:
            raise self._tsig_error("BADTIME", "the clocks of this host and the server differ too much", change) from None
        except dns.tsig.PeerError as error:
            raise self._tsig_error(type(error).__name__, str(error), change) from None
        except dns.exception.Timeout:
            raise SourceUnavailable(
                f"the DNS server {self.where} did not answer the update of {change} within {self.timeout:g}s; "
                f"it may or may not have applied it: read the record (dig @{self.server} -p {self.port} "
                f"{display_name(desired.name)} {desired.type}) before running again",
                server=self.where,
            ) from None
        except (OSError, dns.exception.DNSException) as error:
            raise SourceUnavailable(
                f"the DNS server {self.where} is unreachable for the update of {change}: {error}; nothing was "
                f"changed. Check server and port and that the server runs",
                server=self.where,
            ) from None
        rcode = rcode_text(response)
        if rcode == "NOERROR":
            self._confirm(desired, change)
            return {"server": self.where, "signed_with": self.key_name or None}
        if rcode in ("NXRRSET", "YXRRSET", "NXDOMAIN", "YXDOMAIN"):
            raise GateRefused(
                f"the DNS server {self.where} refused the update of {change} because the record no longer holds "
                f"{describe(current)} (prerequisite failed: {rcode}); someone changed it after it was read. "
                f"Nothing was changed; run again to read the record anew",
                server=self.where,
            )
        if rcode == "REFUSED":
            if self.key_name:
                reason = (
                    f"the update was signed with the TSIG key {self.key_name}, but that key is not allowed to change this record by the server's update policy "
                    f"(BIND update-policy or allow-update, PowerDNS TSIG-ALLOW-DNSUPDATE and ALLOW-DNSUPDATE-FROM, "
                    f"Knot acl with action update)"
                )
            else:
                reason = (
                    "the update was not signed (no tsig_key_name); the server accepts only updates signed with "
                    "a TSIG key it allows: set tsig_key_name, tsig_key_secret and tsig_algorithm"
                )
            raise ConfigurationError(
                f"the DNS server {self.where} REFUSED the update of {change}: {reason}. Nothing was changed",
                server=self.where,
            )
        if rcode == "NOTAUTH":
            raise ConfigurationError(
                f"the DNS server {self.where} answered NOTAUTH to the update of {change} ({signed}): it is not "
                f"authoritative for the zone {display_name(self.zone)}, or it did not accept the TSIG signature; "
                f"{_KEY_CONFIG}. Nothing was changed",
                server=self.where,
            )
        raise DrError(
            f"the DNS server {self.where} rejected the update of {change} with {rcode}; nothing was changed. "
            f"Its log names the reason",
            server=self.where,
        )

    def _tsig_error(self, code: str, reason: str, change: str) -> ConfigurationError:
        return ConfigurationError(
            f"the DNS server {self.where} rejected the TSIG signature of the update of {change}: {code} ({reason}; "
            f"key {self.key_name}, algorithm {self.algorithm}); {_KEY_CONFIG}. Nothing was changed",
            server=self.where,
            tsig_error=code,
        )

    def _confirm(self, desired: RecordSet, change: str) -> None:
        """The server said yes; make sure it holds the new record set (servers ignore some updates silently)."""
        now = self.read(desired.name, desired.type)
        if not desired.same_as(now):
            raise DrError(
                f"the DNS server {self.where} accepted the update of {change} but answers {describe(now)}; it ignored "
                f"(part of) the update, for example because of a CNAME at the name or a TTL limit (BIND "
                f"max-zone-ttl). Its log names the reason",
                server=self.where,
            )
