# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each kind of component gives as evidence: PostgreSQL sessions and refused logins, Redis clients and its
ACL log. Read over the client libraries' connections (no password in argv or the environment)."""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._credentials import pg_sessions, redis_sessions
from ansible_collections.resilience.dr.plugins.module_utils._evidence.collect import Collector, as_json, auth_failures, redact
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget


def _read_log(collector: Collector, path: str, where: str, missing: list[str]) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as error:
        missing.append(f"the log file {path} of PostgreSQL at {where} cannot be read on {collector.host} "
                       f"({error.strerror}): its refused logins are not in the evidence")
        return None


def postgresql(collector: Collector, params: _postgres.ConnectionParams, database: str, logs: t.Sequence[str]) -> list[str]:
    """pg_stat_activity, and the refused logins of the server's log: its current log file (pg_current_logfile(),
    with logging_collector), else the component's log files the plan names (logs).

    Returns what could not be collected (a log this user may not locate or read), for the result's warnings.
    """
    secrets = [params.password]
    where = params.where
    missing: list[str] = []
    if collector.check_mode:
        collector.add_text("pg_stat_activity.csv", "pg_stat_activity", where, str)
        collector.add_text("auth_failures.log", "auth_failures", f"{where} server log", str)
        return missing
    current: str | None = None
    with _postgres.connected(params, database) as connection:
        collector.add_text("pg_stat_activity.csv", "pg_stat_activity", where,
                           lambda: redact(pg_sessions(connection, where), secrets))
        try:
            row = _postgres.query_one(connection, "SELECT pg_current_logfile(), current_setting('data_directory')")
        except _postgres.psycopg2.Error as error:
            missing.append(f"PostgreSQL at {where} does not tell this user its log file ({str(error).strip()})")
            row = None
    if row and row[0]:
        current = row[0] if str(row[0]).startswith("/") else f"{row[1]}/{row[0]}"
    sources = [current] if current else list(logs)
    if not sources:
        missing.append(f"PostgreSQL at {where} writes no log file it can name (logging_collector off) and the plan names "
                       "none for it in security.evidence_logs: its refused logins are not in the evidence")
        return missing
    texts = [(path, _read_log(collector, path, where, missing)) for path in sources]
    readable = [(path, text) for path, text in texts if text is not None]
    if readable:
        collector.add_text("auth_failures.log", "auth_failures", ", ".join(path for path, _text in readable),
                           lambda: redact("".join(auth_failures(text) for _path, text in readable), secrets))
    return missing


def redis(collector: Collector, target: RedisTarget) -> list[str]:
    """CLIENT LIST and ACL LOG (the refused logins and commands, newest first)."""
    secrets = [target.password or ""]
    if collector.check_mode:
        collector.add_text("client_list.txt", "client_list", target.address, str)
        collector.add_text("acl_log.json", "acl_log", target.address, str)
        return []
    client = target.client()
    collector.add_text("client_list.txt", "client_list", target.address,
                       lambda: redact(redis_sessions(target, client), secrets))
    collector.add_text("acl_log.json", "acl_log", target.address,
                       lambda: redact(as_json(target.call("ACL LOG", lambda: client.acl_log(count=1000))), secrets))
    return []


def collect(collector: Collector, kind: str, connection: t.Mapping[str, t.Any] | None, logs: t.Sequence[str]) -> dict[str, t.Any]:
    """The evidence of one component of kind kind (files: only its log files)."""
    warnings: list[str] = []
    if kind == "postgresql" and connection is not None:
        params = _postgres.ConnectionParams.from_params(connection)
        warnings = postgresql(collector, params, connection.get("db") or "postgres", logs)
    elif kind == "redis" and connection is not None:
        warnings = redis(collector, RedisTarget.from_params(dict(connection)))
    for path in logs:
        collector.add_file(path)
    return {**collector.result(), "warnings": warnings}
