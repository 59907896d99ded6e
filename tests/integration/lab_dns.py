# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Independent access to the lab's BIND: read the authoritative answer, set a record."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import dns.tsig
import dns.update


def answer(lab: dict, name: str | None = None, rdtype: str = "A") -> tuple[list[str], int | None]:
    """The authoritative answer of the lab's BIND: (sorted values, TTL)."""
    query = dns.message.make_query(name or lab["dns"]["record"], rdtype)
    query.flags &= ~dns.flags.RD
    response = dns.query.tcp(query, lab["dns"]["server"], port=lab["dns"]["port"], timeout=5)
    assert response.flags & dns.flags.AA, "the lab's BIND must answer authoritatively"
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return sorted(rdata.to_text() for rdata in rrset), rrset.ttl
    return [], None


def set_record(lab: dict, values: list[str], ttl: int, rdtype: str = "A") -> None:
    """Set the record directly with a signed update (not through the module)."""
    key = dns.tsig.Key(lab["dns"]["tsig_key_name"], lab["dns"]["tsig_key_secret"], lab["dns"]["tsig_algorithm"])
    update = dns.update.UpdateMessage(lab["dns"]["zone"], keyring=key)
    update.replace(lab["dns"]["record"] + ".", ttl, rdtype, *values)
    response = dns.query.tcp(update, lab["dns"]["server"], port=lab["dns"]["port"], timeout=5)
    assert response.rcode() == 0, response
