# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL during a security incident: connections, disconnections and DDL logged (ALTER SYSTEM and a
reload), the application's roles refused (NOLOGIN, their sessions ended), and all of it put back on closing.

Each step is planned first (what would change, in words), then applied, so check mode lists the same steps.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import CommandFailed, ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._incident import record as _record
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres

# The settings raised during an incident, and the order of log_statement's levels (each logs more than the last).
INCIDENT_SETTINGS = {"log_connections": "on", "log_disconnections": "on", "log_statement": "ddl"}
LOG_STATEMENT_LEVELS = ("none", "ddl", "mod", "all")
AUTO_CONF = "postgresql.auto.conf"


def _raises(name: str, current: str, wanted: str) -> bool:
    """Whether setting name to wanted logs more than current (a higher log_statement is left alone)."""
    if name == "log_statement" and current in LOG_STATEMENT_LEVELS:
        return LOG_STATEMENT_LEVELS.index(wanted) > LOG_STATEMENT_LEVELS.index(current)
    return current != wanted


def settings(connection: t.Any, names: t.Iterable[str]) -> dict[str, dict[str, t.Any]]:
    """Each setting's value and whether ALTER SYSTEM set it (its source file is postgresql.auto.conf)."""
    rows = _postgres.query(connection, "SELECT name, setting, sourcefile FROM pg_settings WHERE name = ANY(%s)",
                           (list(names),))
    return {name: {"value": value, "altered": str(source or "").endswith(AUTO_CONF)} for name, value, source in rows}


def roles(connection: t.Any, where: str, users: t.Sequence[str]) -> dict[str, bool]:
    """Whether each role may log in; a role the server does not have is an error naming it."""
    rows = dict(_postgres.query(connection, "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
                                (list(users),)))
    missing = [user for user in users if user not in rows]
    if missing:
        raise ConfigurationError(f"PostgreSQL at {where} has no role {', '.join(missing)}; check "
                                 "dr_plan.security.revoke_logins")
    return {user: bool(rows[user]) for user in users}


def plan_incident(connection: t.Any, where: str, logging: bool, users: t.Sequence[str],
                  recorded: t.Any) -> tuple[list[tuple[str, t.Any]], dict[str, t.Any]]:
    """The steps of the incident mode and the record after them (earlier records kept)."""
    record = _record.read(recorded, where)
    steps: list[tuple[str, t.Any]] = []
    if logging:
        for name, current in settings(connection, INCIDENT_SETTINGS).items():
            wanted = INCIDENT_SETTINGS[name]
            if _raises(name, current["value"], wanted):
                _record.keep_first(record, name, current)
                steps.append((f"set {name} = {wanted} (was {current['value']})", ("set", name, wanted)))
    if users:
        responder = str(_postgres.expect_row(_postgres.query_one(connection, "SELECT current_user"))[0])
        if responder in users:
            raise ConfigurationError(
                f"PostgreSQL at {where}: dr_plan.security.revoke_logins names {responder}, the role this run connects "
                "as (the responders' login); list only the application's roles")
        for user, can_login in roles(connection, where, users).items():
            if can_login:
                _record.add_user(record, user)
                steps.append((f"refuse logins of role {user} (NOLOGIN) and end its sessions", ("nologin", user, None)))
    return steps, record


def plan_close(connection: t.Any, where: str, logging: bool, users: t.Sequence[str] | None,
               recorded: t.Any) -> tuple[list[tuple[str, t.Any]], dict[str, t.Any]]:
    """The steps that put back what the record holds (every login, or those of users) and what is left of it."""
    record = _record.read(recorded, where)
    steps: list[tuple[str, t.Any]] = []
    if logging and record["settings"]:
        now = settings(connection, record["settings"])
        for name, before in sorted(record["settings"].items()):
            current = now.get(name, {"value": None, "altered": False})
            if current != before:
                action = ("set", name, before["value"]) if before.get("altered") else ("reset", name, None)
                words = f"set {name} back to {before['value']}" + ("" if before.get("altered") else " (ALTER SYSTEM RESET)")
                steps.append((words, action))
        record["settings"] = {}
    allow = _record.users_to_allow(record, users)
    if allow:
        present = roles(connection, where, allow)
        for user in allow:
            if not present[user]:
                steps.append((f"let role {user} log in again (LOGIN)", ("login", user, None)))
        record["users"] = [user for user in record["users"] if user not in allow]
    return steps, record


def apply(connection: t.Any, where: str, steps: t.Sequence[tuple[str, t.Any]]) -> int:
    """Take the planned steps; reloads the configuration after a setting changed. The sessions ended."""
    ended = 0
    reload = False
    for words, (kind, name, value) in steps:
        try:
            if kind == "set":
                _postgres.query(connection, _postgres.sql.SQL("ALTER SYSTEM SET {} = %s").format(
                    _postgres.identifier(name)), (value,))
                reload = True
            elif kind == "reset":
                _postgres.query(connection, _postgres.sql.SQL("ALTER SYSTEM RESET {}").format(_postgres.identifier(name)))
                reload = True
            elif kind == "nologin":
                _postgres.query(connection, _postgres.sql.SQL("ALTER ROLE {} NOLOGIN").format(_postgres.identifier(name)))
                row = _postgres.query_one(connection, """
                    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                    FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()
                """, (name,))
                ended += int(row[0]) if row else 0
            else:
                _postgres.query(connection, _postgres.sql.SQL("ALTER ROLE {} LOGIN").format(_postgres.identifier(name)))
        except _postgres.psycopg2.Error as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandFailed(
                f"PostgreSQL at {where}: could not {words}: {reason}; the connection's user must be a superuser "
                "(ALTER SYSTEM) with CREATEROLE; the steps before this one were taken", server=where) from None
    if reload:
        _postgres.query(connection, "SELECT pg_reload_conf()")
    return ended
