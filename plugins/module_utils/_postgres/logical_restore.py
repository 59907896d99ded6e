# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore method logical: a pg_dump backup into a database, verified, swapped in.

The backup is always restored into a new database (<target>_restoring_<x>)
and checked against the row counts and checksums recorded at backup time
(each table as soon as pg_restore has loaded it, see logical_load); only
then does it take the target's name. The old target, if any, is renamed
to <target>_before_<time> (kept, or dropped with keep_previous: false); both
renames are one transaction, so the target's name never stays empty. A
failure before the swap drops the new database: the target stays as it was.
A failed swap keeps the verified new database and names it (SwapFailed).

The restored database carries a marker in its comment,
"resilience.dr: restored backup <id> of component <c> at <time>". Running
the same restore again changes nothing when the marker names the backup and
the database still matches the backup's row counts and checksums; rows
changed since are restored again.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    DrError,
    SwapFailed,
    TargetNotEmpty,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres import globals_script, verify
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    check_client_version,
    connect,
    connected,
    database_properties,
    identifier,
    program,
    program_version,
    psycopg2,
    query,
    role_exists,
    server_info,
    sql,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import GLOBALS_FILE
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_load import restore_verified
from ansible_collections.resilience.dr.plugins.module_utils._postgres.selection import choose_pg_backup
from ansible_collections.resilience.dr.plugins.module_utils._postgres.swap import drop, drop_after_failure, swap
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import would_restore_message
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, utc_now

MARKER_PATTERN = re.compile(r"resilience\.dr: restored backup (\S+) of component (\S+) at (\S+)")
MAX_NAME = 63  # NAMEDATALEN - 1


def marker_text(backup_id: str, component: str, moment: str) -> str:
    return f"resilience.dr: restored backup {backup_id} of component {component} at {moment}"


def read_marker(comment: str | None) -> dict[str, str] | None:
    match = MARKER_PATTERN.search(comment or "")
    return {"backup_id": match.group(1), "component": match.group(2), "restored_at": match.group(3)} if match else None


def derived_name(target: str, suffix: str) -> str:
    """target + suffix within PostgreSQL's 63 bytes (the target part is shortened)."""
    room = MAX_NAME - len(suffix.encode("utf-8"))
    base = target.encode("utf-8")[:room].decode("utf-8", "ignore")
    return base + suffix


def _target_state(params: ConnectionParams, admin: t.Any, target: str) -> dict[str, t.Any]:
    properties = database_properties(admin, target)
    if properties is None:
        return {"database": target, "exists": False}
    state: dict[str, t.Any] = {
        "database": target, "exists": True, "size": properties["size"], "owner": properties["owner"],
        "restored_backup_id": (read_marker(properties["comment"]) or {}).get("backup_id"),
        "marker": read_marker(properties["comment"]), "properties": properties,
    }
    if properties["allow_connections"]:
        with connected(params, target) as connection:
            tables = verify.user_tables(connection)
        state["tables"] = len(tables)
        state["table_names"] = [verify.qualified(schema, table) for schema, table, _size in tables]
    else:
        state["tables"] = None
    return state


def _public(state: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: value for key, value in state.items() if key not in ("marker", "properties", "table_names")}


def _globals_plan(repository: Repository, entry: BackupEntry, admin: t.Any) -> globals_script.GlobalsPlan | None:
    manifest = entry.readable_manifest()
    if not any(record.name == GLOBALS_FILE for record in manifest.files):
        return None
    script = repository.read_bytes(entry, GLOBALS_FILE).decode("utf-8")
    roles = {row[0] for row in query(admin, "SELECT rolname FROM pg_roles")}
    tablespaces = {row[0] for row in query(admin, "SELECT spcname FROM pg_tablespace")}
    return globals_script.plan_globals(script, roles, tablespaces, what=f"{entry.label}: file {GLOBALS_FILE}")


def logical_restore(
    repository: Repository,
    params: ConnectionParams,
    *,
    component: str,
    backup_id: str | None = None,
    target_time: str | None = None,
    maintenance_db: str = "postgres",
    target_db: str | None = None,
    clean: bool = False,
    keep_previous: bool = True,
    restore_globals: bool = True,
    force: bool = False,
    jobs: int = 2,
    pg_bin_dir: str | None = None,
    temp_dir: str | None = None,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    if jobs < 1:
        raise ConfigurationError("jobs must be at least 1")
    moment = parse_time(target_time, "target_time") if target_time else None
    selection = choose_pg_backup(repository, component, backup_id, "logical", moment)
    entry = selection.entry
    manifest = entry.readable_manifest()
    target = target_db or manifest.source.get("database")
    if not target:
        raise ConfigurationError(f"{entry.label} does not record its database; set target_db")
    if target == maintenance_db:
        raise ConfigurationError(f"target_db {target} is the database this module connects to (db); set db to another one, such as postgres")
    # Reading the verification data first proves the key works before anything changes.
    expected = repository.verification_data(entry)
    runner = CommandRunner(params.environment())
    with connected(params, maintenance_db) as admin:
        before = _target_state(params, admin, target)
        marker = before.get("marker") or {}
        after = {
            "database": target, "exists": True, "restored_backup_id": entry.backup_id,
            "consistency_point": manifest.consistency_point, "tables": len(expected.get("tables") or {}),
            "rows": sum(item.get("rows") or 0 for item in (expected.get("tables") or {}).values()),
        }
        result: dict[str, t.Any] = {
            "backup_id": entry.backup_id, "component": component, "target_db": target, "method": "logical",
            "consistency_point": manifest.consistency_point, "source": manifest.source,
            "diff": {"before": _public(before), "after": after}, "skipped_backups": selection.skipped_backups(),
        }
        if not force and marker.get("backup_id") == entry.backup_id and marker.get("component") == component:
            # The marker only names the backup restored last; the data may have changed since.
            # Unchanged means the target still matches the backup's row counts and checksums.
            checked, drift = _compare_target(params, target, expected, jobs, entry)
            if drift is None:
                result["diff"]["after"] = _public(before)
                return {**result, "changed": False, "action": "none", "verified": checked,
                        "msg": f"database {target} still holds {entry.label} (restored {marker.get('restored_at')}, "
                               "row counts and checksums match)"}
            result["drift"] = drift
        if before["exists"] and before.get("tables") is None and not clean:
            raise TargetNotEmpty(f"database {target} on {params.where} does not allow connections, so its content "
                                 "cannot be checked; set clean: true to replace it")
        if before["exists"] and before.get("tables") and not clean:
            names = before["table_names"]
            raise TargetNotEmpty(
                f"database {target} on {params.where} already has {len(names)} user table(s) "
                f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); refusing to restore {entry.label} over "
                "them. Set clean: true to replace the database (it is swapped only after the restore is verified, "
                "the old one is kept as <name>_before_<time>), or choose another target_db",
                database=target,
            )
        # Before the globals or the new database are written: a pg_restore too old for the server or the
        # archive would fail only after both.
        pg_restore = program("pg_restore", pg_bin_dir)
        check_client_version(program_version(runner, pg_restore), server_info(admin)["server_version_num"],
                             "pg_restore", path=pg_restore, where=params.where, dumped_by=manifest.tools.get("pg_dump"))
        globals_plan = _globals_plan(repository, entry, admin) if restore_globals else None
        result.update(
            changed=True, action="replace" if before["exists"] else "create",
            roles_created=globals_plan.roles_created if globals_plan else [],
        )
        if check_mode:
            result["msg"] = would_restore_message(entry, f"database {target} on {params.where}")
            return result
        stamp = utc_now()
        temporary = derived_name(target, f"_restoring_{secrets.token_hex(3)}")
        previous = derived_name(target, f"_before_{stamp.strftime('%Y%m%dT%H%M%S')}") if before["exists"] else None
        if globals_plan is not None:
            _apply_globals(admin, globals_plan)
        work = tempfile.mkdtemp(prefix="resilience-dr-pg_restore-", dir=temp_dir)
        try:
            _create_database(admin, temporary, before, manifest.source, params)
            checked = restore_verified(repository, entry, runner, params, expected, {
                "pg_restore": pg_restore, "database": temporary, "work": work, "jobs": jobs})
            _set_marker(admin, temporary, marker_text(entry.backup_id, component, format_time(stamp)))
            swap(admin, params, maintenance_db, target, temporary, previous, before, entry.label)
        except SwapFailed:
            raise  # the restored data is verified: it stays where the message says
        except BaseException as error:
            problem = drop_after_failure(admin, temporary)
            if problem and isinstance(error, DrError):
                raise error.with_context(problem) from error
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if previous is not None and not keep_previous:
            drop(admin, previous)
            previous = None
        after["restored_at"] = format_time(stamp)
        return {**result, "previous_db": previous, "verified": checked, "executed_commands": runner.executed_commands}


def _apply_globals(admin: t.Any, plan: globals_script.GlobalsPlan) -> None:
    # The checked statements were split and parsed with standard string quoting (a backslash is a plain
    # character); the session must read them the same way, whatever the server's default.
    with admin.cursor() as cursor:
        cursor.execute("SET standard_conforming_strings = on")
    for statement in plan.run:
        try:
            with admin.cursor() as cursor:
                cursor.execute(statement)
        except psycopg2.Error as error:
            raise CommandFailed(
                f"restoring the globals (roles) failed at `{globals_script.describe(statement)}`: "
                f"{str(error).strip().splitlines()[0]}; fix the cause or set restore_globals: false and create the "
                "roles by hand"
            ) from None


def _create_database(admin: t.Any, name: str, before: dict[str, t.Any], source: dict[str, t.Any], params: ConnectionParams) -> None:
    """The new database, with the owner, encoding and locale of the one it replaces (or of the source)."""
    old = before.get("properties") or {}
    owner = old.get("owner") or source.get("owner")
    if not owner or not role_exists(admin, owner):
        owner = params.user
    statement = sql.SQL("CREATE DATABASE {} WITH TEMPLATE template0 OWNER {}").format(identifier(name), identifier(owner))
    for option, key in (("ENCODING", "encoding"), ("LC_COLLATE", "collate"), ("LC_CTYPE", "ctype")):
        value = old.get(key) or source.get(key)
        if value:
            statement += sql.SQL(" {} {}").format(sql.SQL(option), sql.Literal(value))
    try:
        query(admin, statement)
    except psycopg2.Error as error:
        raise CommandFailed(
            f"cannot create the database {name} on {params.where}: {str(error).strip().splitlines()[0]}"
            + ("; the backup's locale may not exist on this server (locale -a lists them)" if "locale" in str(error) else "")
        ) from None
    if old.get("acl"):
        query(admin, sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(identifier(name)))
        for grantee, privilege, grantable in query(admin, """
                SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable
                FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                WHERE d.datname = %s""", (before["database"],)):
            query(admin, sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(privilege), identifier(name),
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    if old:
        for role, setting in query(admin, """
                SELECT r.rolname, unnest(s.setconfig) FROM pg_db_role_setting s
                LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = %s""", (old["oid"],)):
            key, _sep, value = setting.partition("=")
            target = sql.SQL("ALTER ROLE {} IN DATABASE {}").format(identifier(role), identifier(name)) if role \
                else sql.SQL("ALTER DATABASE {}").format(identifier(name))
            query(admin, target + sql.SQL(" SET {} TO {}").format(identifier(key), sql.Literal(value)))


def _compare_target(params: ConnectionParams, database: str, expected: dict[str, t.Any], jobs: int,
                    entry: BackupEntry) -> tuple[dict[str, t.Any], str | None]:
    """(what was checked, None) when the database matches the backup's verification data, else ({}, what differs)."""
    fingerprinter = verify.Fingerprinter(lambda: connect(params, database), jobs)
    try:
        with connected(params, database) as connection:
            return verify.compare(expected, fingerprinter, connection,
                                  f"database {database} against {entry.label}"), None
    except VerificationFailed as error:
        return {}, error.message
    finally:
        fingerprinter.close()


def _set_marker(admin: t.Any, database: str, text: str) -> None:
    query(admin, sql.SQL("COMMENT ON DATABASE {} IS {}").format(identifier(database), sql.Literal(text)))
