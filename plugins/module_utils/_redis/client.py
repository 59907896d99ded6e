# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reaching a Redis server with the Python client: the connection options,
the target they describe, and what the server says about itself (INFO,
CONFIG GET). Every failure names the server (host:port).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    DependencyMissing,
    SourceUnavailable,
    missing_library_message,
)

try:
    import redis
    from redis import exceptions as redis_exceptions
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:  # reported by require_redis() when a server is contacted
    HAS_REDIS = False
else:
    HAS_REDIS = True

BATCH = 1000  # keys per pipelined round trip (SCAN COUNT, DUMP, comparisons)
KIND = "redis"  # the kind redis_backup records in a backup's manifest, and the one redis_restore takes


def require_redis() -> None:
    if not HAS_REDIS:
        raise DependencyMissing(missing_library_message("redis", "to talk to Redis servers"))


def redis_errors() -> tuple[type[BaseException], ...]:
    return (redis_exceptions.RedisError, OSError) if HAS_REDIS else (OSError,)


def connection_argument_spec() -> dict[str, t.Any]:
    """Connection options (documented by the resilience.dr.redis doc fragment)."""
    return dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=6379),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        tls=dict(type="bool", default=False),
        ca_certs=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


@dataclass
class RedisTarget:
    """How to reach one server; validate_certs is shared with the repository options."""

    host: str = "localhost"
    port: int = 6379
    user: str | None = None
    password: str | None = None
    tls: bool = False
    validate_certs: bool = True
    ca_certs: str | None = None
    timeout: float = 10

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> RedisTarget:
        return cls(
            host=params.get("login_host") or "localhost", port=params.get("login_port") or 6379,
            user=params.get("login_user"), password=params.get("login_password"), tls=bool(params.get("tls")),
            validate_certs=params.get("validate_certs", True), ca_certs=params.get("ca_certs"),
            timeout=params.get("connect_timeout") or 10,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, db: int = 0) -> t.Any:
        require_redis()
        options: dict[str, t.Any] = dict(
            host=self.host, port=self.port, db=db, username=self.user, password=self.password,
            socket_connect_timeout=self.timeout, socket_timeout=max(self.timeout, 60),
            # Waits are ours (wait_for): a refused connection answers at once, not after the client's retries.
            retry=Retry(NoBackoff(), 0),
        )
        if self.tls:
            options.update(ssl=True, ssl_cert_reqs="required" if self.validate_certs else "none",
                           ssl_ca_certs=self.ca_certs)
        return redis.Redis(**options)

    def call(self, what: str, function: t.Callable[[], t.Any]) -> t.Any:
        """Run function, turning connection and server errors into a DrError naming this server."""
        try:
            return function()
        except redis_errors() as error:
            raise SourceUnavailable(f"Redis at {self.address}: {what} failed: {error}", server=self.address) from None


def config_get(target: RedisTarget, client: t.Any, name: str) -> str:
    try:
        values = client.config_get(name)
    except redis_errors() as error:
        if isinstance(error, OSError) or type(error).__name__ in ("ConnectionError", "TimeoutError"):
            raise SourceUnavailable(f"Redis at {target.address}: CONFIG GET {name} failed: {error}",
                                    server=target.address) from None
        values = {"error": str(error)}
    value = values.get(name) if isinstance(values, dict) else None
    if value is None:
        detail = f" ({values['error']})" if isinstance(values, dict) and "error" in values else ""
        raise SourceUnavailable(
            f"Redis at {target.address} did not answer CONFIG GET {name}{detail}: CONFIG is renamed or forbidden "
            "for this user; method rdb needs it to find the snapshot, use method online", server=target.address,
        )
    return value.decode() if isinstance(value, bytes) else str(value)


def server_facts(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    info = target.call("INFO server", lambda: client.info("server"))
    return {"run_id": info.get("run_id"), "redis_version": str(info.get("redis_version")), "address": target.address}


def keyspace(target: RedisTarget, client: t.Any) -> dict[int, dict[str, int]]:
    """{db: {"keys": n, "expires": m}} for every non-empty database."""
    info = target.call("INFO keyspace", lambda: client.info("keyspace"))
    found = {}
    for name, value in info.items():
        if str(name).startswith("db") and isinstance(value, dict):
            found[int(str(name)[2:])] = {"keys": int(value.get("keys", 0)), "expires": int(value.get("expires", 0))}
    return found


def persistence(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    return target.call("INFO persistence", lambda: client.info("persistence"))


def reachable(target: RedisTarget) -> t.Any:
    """A client of the running server, or None when nothing answers."""
    client = target.client()
    try:
        client.ping()
    except redis_errors() as error:
        refused = isinstance(error, OSError) or type(error).__name__ in ("ConnectionError", "TimeoutError",
                                                                         "BusyLoadingError")
        if refused:
            return None
        raise SourceUnavailable(f"Redis at {target.address} answered PING with an error: {error}") from None
    return client
