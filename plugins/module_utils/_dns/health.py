# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health of the new target, checked from the host that runs the module.

tcp: a TCP connection to host:port is accepted. http: a GET of the URL answers
the expected status (redirects are not followed, so a redirect answers its own
3xx status).
"""

from __future__ import annotations

import socket
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import HealthCheck
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import format_endpoint
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch


def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    where = format_endpoint(host, port)
    stopwatch = Stopwatch()
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        return False, f"no TCP connection to {where} within {timeout:g}s"
    except OSError as error:
        return False, f"no TCP connection to {where}: {error.strerror or error}"
    connection.close()
    return True, f"{where} accepted a TCP connection in {stopwatch.elapsed():.3f}s"


def http_probe(url: str, status: int, timeout: float, validate_certs: bool) -> tuple[bool, str]:
    stopwatch = Stopwatch()
    try:
        response = open_url(url, method="GET", timeout=timeout, validate_certs=validate_certs, follow_redirects="none")
        got = response.getcode()
        response.close()
    except HTTPError as error:
        got = error.code
    except (URLError, OSError, UrlConnectionError) as error:
        reason = getattr(error, "reason", error)
        return False, f"GET {url} failed: {reason}"
    if got != status:
        return False, f"GET {url} answered {got}, not the expected {status}"
    return True, f"GET {url} answered {got} in {stopwatch.elapsed():.3f}s"


def probe(check: HealthCheck) -> tuple[bool, str]:
    if check.tcp is not None:
        return tcp_probe(check.tcp[0], check.tcp[1], check.timeout)
    return http_probe(str(check.http), check.status, check.timeout, check.validate_certs)
