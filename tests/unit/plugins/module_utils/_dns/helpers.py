# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every test of dns_failover starts from: the record, the request, and health probes that answer."""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import HealthCheck, Request
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import RecordSet, normalize_values


NAME = "app.example.test."


def request(**params: t.Any) -> Request:
    base = {"record": "app.example.test", "type": "A", "value": ["10.0.0.2"], "verify": False,
            "health_check": {"tcp": "10.0.0.2:443"}}
    base.update(params)
    return Request.from_params(base)


def record(values: t.Sequence[str], ttl: int = 300, rtype: str = "A", name: str = NAME) -> RecordSet:
    return RecordSet(name, rtype, ttl, normalize_values(rtype, values))


def healthy(check: HealthCheck) -> tuple[bool, str]:
    return True, "accepted"


def unhealthy(check: HealthCheck) -> tuple[bool, str]:
    return False, "connection refused"
