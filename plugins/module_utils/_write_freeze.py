# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Freezing writes on a datastore before its last backup, and thawing them.

A freeze must REFUSE writes, never hold them back: a write that is held and
then goes through when the freeze ends is acknowledged to its client after
the last backup was taken, and is lost when the other site takes over. Each
freeze is recorded on the server itself, with the settings it replaced, so
that a thaw restores exactly what was there even when the run that froze the
server died.

PostgreSQL (one database): ``ALTER DATABASE ... SET
default_transaction_read_only = on`` and the marker setting
``resilience_dr.write_freeze`` (what default_transaction_read_only was
before, and when the freeze started); then every other session of the
database is ended, so no transaction opened before the freeze can still
commit. New sessions start read-only. A client can still ``SET
default_transaction_read_only = off`` in its own session: the freeze stops
applications, not someone determined to write.

Redis: ``min-replicas-to-write`` is set above any number of replicas the
server can have, so every write command fails at once with NOREPLICAS
(reads, SCAN, DUMP and BGSAVE still work). ``CLIENT PAUSE WRITE`` would not
do: it holds writes and lets them through when the pause ends. The frozen
value itself records the previous settings (FREEZE_BASE + 2 x the previous
min-replicas-to-write, + 1 when min-replicas-max-lag was 0 and had to be
set), so a thaw needs nothing but the server.
"""

from __future__ import annotations

import json
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    SourceUnavailable,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, redis_errors

PG_SETTING = "default_transaction_read_only"
PG_MARKER = "resilience_dr.write_freeze"
# How long ending the sessions may take before the freeze is reported as failed.
PG_TERMINATE_TIMEOUT = 30.0

REDIS_FREEZE_BASE = 1_000_000_000
# min-replicas-max-lag while frozen when it was 0 (0 turns the replica check off); Redis's own default.
REDIS_FROZEN_LAG = 10


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- PostgreSQL --------------------------------------------------------------------------------


def _in_one_transaction(connection: t.Any, statements: list[tuple[t.Any, tuple[t.Any, ...] | None]]) -> None:
    """Run the statements in one transaction: all of them take effect, or none."""
    connection.autocommit = False
    try:
        for statement, arguments in statements:
            _postgres.query(connection, statement, arguments)
        connection.commit()
    except _postgres.psycopg2.Error:
        connection.rollback()
        raise
    finally:
        connection.autocommit = True


def pg_writable_session(connection: t.Any) -> None:
    """This session's own transactions may write (ALTER DATABASE), in a frozen database too."""
    _postgres.query(connection, "SELECT set_config(%s, 'off', false)", (PG_SETTING,))


def pg_settings(connection: t.Any, database: str, where: str) -> dict[str, str]:
    """The settings of the database (ALTER DATABASE ... SET, for every role) as a dictionary."""
    properties = _postgres.database_properties(connection, database)
    if properties is None:
        raise ConfigurationError(
            f"PostgreSQL at {where} has no database {database}; check the db option (the database whose writes "
            "are frozen)")
    settings: dict[str, str] = {}
    for entry in properties["settings"]:
        name, _sep, value = str(entry).partition("=")
        settings[name] = value
    return settings


def pg_state(settings: dict[str, str]) -> dict[str, t.Any]:
    """frozen, the previous default_transaction_read_only (None: not set) and the freeze start."""
    marker = settings.get(PG_MARKER)
    current = settings.get(PG_SETTING)
    if marker is None:
        return {"frozen": False, "setting": current, "previous": None, "frozen_at": None}
    try:
        recorded = json.loads(marker)
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        raise ConfigurationError(
            f"the database setting {PG_MARKER} holds {marker!r}, not the record of a write freeze; remove it with "
            f"ALTER DATABASE ... RESET {PG_MARKER} and set {PG_SETTING} by hand")
    return {"frozen": True, "setting": current, "previous": recorded.get("previous"),
            "frozen_at": recorded.get("frozen_at")}


def pg_sessions(connection: t.Any, database: str, since: str | None = None) -> list[int]:
    """Pids of the other client sessions of the database (started at or after since, when given)."""
    statement = ("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                 "AND backend_type = 'client backend'")
    arguments: list[t.Any] = [database]
    if since:
        statement += " AND backend_start >= %s::timestamptz"
        arguments.append(since)
    return [int(row[0]) for row in _postgres.query(connection, statement, arguments)]


def pg_prepared(connection: t.Any, database: str) -> list[str]:
    rows = _postgres.query(connection, "SELECT gid FROM pg_prepared_xacts WHERE database = %s", (database,))
    return [str(row[0]) for row in rows]


def pg_end_sessions(connection: t.Any, database: str, where: str, since: str | None = None,
                    timeout: float = PG_TERMINATE_TIMEOUT) -> int:
    """End the other sessions of the database and wait until they are gone; the number ended."""
    ended: set[int] = set()
    deadline = time.monotonic() + timeout
    # Twice over: a session that connected while the first round ran read the settings of before the freeze.
    for _round in range(2):
        try:
            rows = _postgres.query(connection, """
                SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND (%s::timestamptz IS NULL OR backend_start >= %s::timestamptz)
            """, (database, since, since))
        except _postgres.psycopg2.Error as error:
            raise CommandFailed(
                f"PostgreSQL at {where}: the sessions of database {database} were not ended: {_first_line(error)}; "
                "the connection's user needs to be a superuser or have pg_signal_backend", server=where) from None
        ended.update(int(pid) for pid, signalled in rows if signalled)
        while True:
            left = set(pg_sessions(connection, database, since)) & ended
            if not left:
                break
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"PostgreSQL at {where}: sessions {sorted(left)} of database {database} did not end within "
                    f"{timeout:.0f} s of pg_terminate_backend; end them by hand before trusting the freeze",
                    server=where)
            time.sleep(0.1)
    return len(ended)


def pg_freeze(connection: t.Any, database: str, where: str, state: dict[str, t.Any], terminate: bool) -> dict[str, t.Any]:
    """Make the database read-only for new sessions, record the freeze, end the sessions opened before it."""
    prepared = pg_prepared(connection, database)
    if prepared:
        raise ConfigurationError(
            f"PostgreSQL at {where}: database {database} has prepared transactions {prepared} that could still "
            "commit after the freeze; COMMIT PREPARED or ROLLBACK PREPARED them first. Nothing was changed")
    frozen_at = str(_postgres.expect_row(_postgres.query_one(
        connection, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"))[0])
    record = json.dumps({"previous": state["setting"], "frozen_at": frozen_at}, sort_keys=True)
    name = _postgres.identifier(database)
    try:
        # The record and the setting appear together or not at all.
        _in_one_transaction(connection, [
            (_postgres.sql.SQL("ALTER DATABASE {} SET {} = %s").format(name, _postgres.sql.SQL(PG_MARKER)), (record,)),
            (_postgres.sql.SQL("ALTER DATABASE {} SET {} = on").format(name, _postgres.sql.SQL(PG_SETTING)), None),
        ])
    except _postgres.psycopg2.Error as error:
        raise CommandFailed(
            f"PostgreSQL at {where}: database {database} was not frozen: {_first_line(error)}; the connection's "
            "user must own the database or be a superuser. Nothing was changed", server=where) from None
    ended = pg_end_sessions(connection, database, where) if terminate else 0
    return {"frozen_at": frozen_at, "sessions_ended": ended}


def pg_thaw(connection: t.Any, database: str, where: str, state: dict[str, t.Any], terminate: bool) -> dict[str, t.Any]:
    """Put default_transaction_read_only back as it was, drop the record, end the read-only sessions of the freeze."""
    name = _postgres.identifier(database)
    setting = _postgres.sql.SQL(PG_SETTING)
    try:
        restore: tuple[t.Any, tuple[t.Any, ...] | None] = (
            (_postgres.sql.SQL("ALTER DATABASE {} RESET {}").format(name, setting), None)
            if state["previous"] is None else
            (_postgres.sql.SQL("ALTER DATABASE {} SET {} = %s").format(name, setting), (state["previous"],)))
        _in_one_transaction(connection, [
            restore, (_postgres.sql.SQL("ALTER DATABASE {} RESET {}").format(name, _postgres.sql.SQL(PG_MARKER)), None),
        ])
    except _postgres.psycopg2.Error as error:
        raise CommandFailed(
            f"PostgreSQL at {where}: database {database} was not thawed: {_first_line(error)}; the connection's "
            "user must own the database or be a superuser. It is still frozen", server=where) from None
    # Sessions that started during the freeze are read-only for their whole life: end them, clients reconnect.
    ended = pg_end_sessions(connection, database, where, since=state["frozen_at"]) if terminate else 0
    return {"sessions_ended": ended}


# --- Redis -------------------------------------------------------------------------------------


def redis_state(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    """The replica settings of the server, whether they are a freeze, and what they were before it."""
    try:
        values = client.config_get("min-replicas-*")
    except redis_errors() as error:
        raise SourceUnavailable(
            f"Redis at {target.address}: CONFIG GET min-replicas-* failed: {error}; the freeze needs CONFIG "
            "(a managed Redis that forbids it cannot be frozen this way: stop its writers instead)",
            server=target.address) from None
    try:
        to_write = int(values["min-replicas-to-write"])
        max_lag = int(values["min-replicas-max-lag"])
    except (KeyError, TypeError, ValueError):
        raise SourceUnavailable(f"Redis at {target.address} answered CONFIG GET min-replicas-* with {values!r}",
                                server=target.address) from None
    info = target.call("INFO replication", lambda: client.info("replication"))
    current = {"min_replicas_to_write": to_write, "min_replicas_max_lag": max_lag}
    state: dict[str, t.Any] = {"frozen": to_write >= REDIS_FREEZE_BASE, "current": current,
                               "role": str(info.get("role") or ""), "replicas": int(info.get("connected_slaves") or 0)}
    if state["frozen"]:
        encoded = to_write - REDIS_FREEZE_BASE
        state["previous"] = {"min_replicas_to_write": encoded // 2,
                             "min_replicas_max_lag": 0 if encoded % 2 else max_lag}
    else:
        state["previous"] = dict(current)
    return state


def redis_frozen_settings(previous: dict[str, int]) -> dict[str, int]:
    """The settings that refuse every write and record the previous ones."""
    lag_was_off = previous["min_replicas_max_lag"] == 0
    return {
        "min_replicas_to_write": REDIS_FREEZE_BASE + 2 * previous["min_replicas_to_write"] + (1 if lag_was_off else 0),
        "min_replicas_max_lag": REDIS_FROZEN_LAG if lag_was_off else previous["min_replicas_max_lag"],
    }


def redis_check_freezable(target: RedisTarget, state: dict[str, t.Any]) -> None:
    if state["role"] and state["role"] != "master":
        raise ConfigurationError(
            f"Redis at {target.address} is a replica (role {state['role']}): it refuses writes already; freeze its "
            "primary instead. Nothing was changed")
    if 2 * state["previous"]["min_replicas_to_write"] + 1 >= REDIS_FREEZE_BASE:
        raise ConfigurationError(
            f"Redis at {target.address} has min-replicas-to-write {state['previous']['min_replicas_to_write']}, too "
            "large to be recorded by a freeze; lower it first. Nothing was changed")


def redis_apply(target: RedisTarget, client: t.Any, settings: dict[str, int]) -> None:
    """Set both values in one CONFIG SET (Redis 7 applies several parameters atomically)."""
    arguments = {"min-replicas-to-write": settings["min_replicas_to_write"],
                 "min-replicas-max-lag": settings["min_replicas_max_lag"]}
    flat: list[t.Any] = []
    for name, value in arguments.items():
        flat += [name, value]
    answer = target.call("CONFIG SET min-replicas-*", lambda: client.execute_command("CONFIG", "SET", *flat))
    if answer not in (True, b"OK", "OK"):
        raise SourceUnavailable(f"Redis at {target.address}: CONFIG SET min-replicas-* answered {answer!r}",
                                server=target.address)
