# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing the TSIG key a DNS server accepts updates with, and proving it.

The new key statement is written to the key file the server includes (a
temporary file beside it, its owner and mode set before the rename, so the
file is never half written nor readable by others), the server is told to
read it again (`rndc reload`, or the plan's command), and an update signed
with each key is sent: one with the new key must be accepted, one with the
old key refused. The probe update only asserts that the zone's apex exists
(an RFC 2136 prerequisite) and changes nothing.
"""

from __future__ import annotations

import binascii
import grp
import os
import pwd
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._atomic import private_file
from ansible_collections.resilience.dr.plugins.module_utils._dns.query import rcode_text
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import format_endpoint, normalize_name
from ansible_collections.resilience.dr.plugins.module_utils._dns.rfc2136 import TSIG_ALGORITHMS
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, SourceUnavailable

try:
    import dns.exception
    import dns.name
    import dns.query
    import dns.tsig
    import dns.update
except ImportError:  # pragma: no cover - the module reports the missing library
    pass

ACCEPTED = "accepted"
PROBE_TIMEOUT = 5.0


class Server(t.NamedTuple):
    host: str
    port: int
    zone: str

    @property
    def where(self) -> str:
        return format_endpoint(self.host, self.port)


def key_statement(name: str, algorithm: str, secret: str) -> str:
    """The named.conf key statement (BIND's tsig-keygen writes the same)."""
    if algorithm not in TSIG_ALGORITHMS:
        raise ConfigurationError(f"tsig_algorithm {algorithm} is not one of {', '.join(TSIG_ALGORITHMS)}")
    if not name or any(character in name for character in '";{} \n'):
        raise ConfigurationError(f"tsig_key_name {name!r} cannot be written into a key statement")
    return f'key "{name}" {{\n\talgorithm {algorithm};\n\tsecret "{secret}";\n}};\n'


def write_key_file(path: str, statement: str, owner: str | None, group: str | None, mode: int = 0o640) -> None:
    """The key file replaced atomically; owner, group and mode set on the temporary file before the rename."""
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError as error:
        raise ConfigurationError(f"the owner or group of the TSIG key file {path} does not exist on this host: {error}") from None
    try:
        with private_file(path) as handle:
            handle.write(statement.encode())
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
    except OSError as error:
        raise DrError(f"writing the TSIG key file {path} failed: {error}; the file was left as it was", path=path) from None


def probe(server: Server, name: str, secret: str, algorithm: str, timeout: float = PROBE_TIMEOUT) -> str:
    """ACCEPTED when the server takes an update signed with this key, else how it refused (BADSIG, NOTAUTH...)."""
    try:
        key = dns.tsig.Key(name, secret, algorithm)
    except (binascii.Error, ValueError, dns.exception.DNSException):
        raise ConfigurationError(f"the secret of the TSIG key {name} is not valid base64") from None
    zone = dns.name.from_text(normalize_name(server.zone, "zone"))
    update = dns.update.UpdateMessage(zone, keyring=key)
    update.present(zone)
    try:
        response = dns.query.tcp(update, server.host, port=server.port, timeout=timeout)
    except dns.tsig.PeerBadKey:
        return "BADKEY"
    except dns.tsig.PeerBadSignature:
        return "BADSIG"
    except dns.tsig.PeerError as error:
        return type(error).__name__
    except (OSError, dns.exception.DNSException) as error:
        raise SourceUnavailable(f"the DNS server {server.where} did not answer a signed update: {error}; check "
                                "server and port and that the server runs", server=server.where) from None
    rcode = rcode_text(response)
    return ACCEPTED if rcode == "NOERROR" else rcode


def verify(server: Server, name: str, algorithm: str, new_secret: str, old_secret: str | None,
           timeout: float, sleep: t.Callable[[float], None] = time.sleep,
           monotonic: t.Callable[[], float] = time.monotonic,
           probe_key: t.Callable[[Server, str, str, str], str] | None = None) -> dict[str, t.Any]:
    """Wait (up to timeout) until the new key is accepted and the old one refused; raise when they are not."""
    ask = probe_key or probe
    deadline = monotonic() + timeout
    while True:
        new = ask(server, name, new_secret, algorithm)
        old = ask(server, name, old_secret, algorithm) if old_secret else None
        if new == ACCEPTED and old != ACCEPTED:
            return {"new_key_accepted": True, "old_key_refused": old_secret is not None, "old_key_answer": old}
        if monotonic() >= deadline:
            raise DrError(
                f"after the TSIG key {name} was replaced and the DNS server {server.where} reloaded, an update signed "
                f"with the new key was {'accepted' if new == ACCEPTED else 'refused (' + new + ')'} and one signed with "
                f"the old key {'accepted' if old == ACCEPTED else 'refused'} (waited {timeout:g}s); check that the "
                "server includes the key file, that the reload command reached it, and its log. The new key is in the "
                "key file; run again to choose another",
                server=server.where,
            )
        sleep(0.5)
