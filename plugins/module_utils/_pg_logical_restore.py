# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore method logical: a pg_dump backup into a database, verified, swapped in.

The backup is always restored into a new database (<target>_restoring_<x>)
and checked against the row counts and checksums recorded at backup time
(each table as soon as pg_restore has loaded it, see _TableChecks); only
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

import os
import re
import secrets
import shutil
import tempfile
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils import _pg_globals, _pg_verify
from ansible_collections.resilience.dr.plugins.module_utils._commands import STDERR_TAIL_LINES, CommandRunner, RunningCommand
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    DrError,
    TargetNotEmpty,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._pg_logical_backup import DUMP_DIRECTORY, GLOBALS_FILE
from ansible_collections.resilience.dr.plugins.module_utils._postgres import (
    ConnectionParams,
    check_client_version,
    choose_pg_backup,
    connect,
    connected,
    database_properties,
    identifier,
    program,
    program_version,
    psycopg2,
    query,
    query_one,
    role_exists,
    server_info,
    sql,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import would_restore_message
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, utc_now

MARKER_PATTERN = re.compile(r"resilience\.dr: restored backup (\S+) of component (\S+) at (\S+)")
MAX_NAME = 63  # NAMEDATALEN - 1
POLL_INTERVAL = 0.05


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


def conninfo(database: str) -> str:
    """A --dbname value naming only the database (the rest comes from the environment)."""
    if re.fullmatch(r"[A-Za-z0-9_]+", database):
        return database
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
            tables = _pg_verify.user_tables(connection)
        state["tables"] = len(tables)
        state["table_names"] = [_pg_verify.qualified(schema, table) for schema, table, _size in tables]
    else:
        state["tables"] = None
    return state


def _public(state: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: value for key, value in state.items() if key not in ("marker", "properties", "table_names")}


def _globals_plan(repository: Repository, entry: BackupEntry, admin: t.Any) -> _pg_globals.GlobalsPlan | None:
    manifest = entry.manifest
    if not any(record.name == GLOBALS_FILE for record in manifest.files):
        return None
    script = repository.read_bytes(entry, GLOBALS_FILE).decode("utf-8")
    roles = {row[0] for row in query(admin, "SELECT rolname FROM pg_roles")}
    tablespaces = {row[0] for row in query(admin, "SELECT spcname FROM pg_tablespace")}
    return _pg_globals.plan_globals(script, roles, tablespaces, what=f"{entry.label}: file {GLOBALS_FILE}")


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
    manifest = entry.manifest
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
            checked = _restore_verified(repository, entry, runner, params, expected, {
                "pg_restore": pg_restore, "database": temporary, "work": work, "jobs": jobs})
            _set_marker(admin, temporary, marker_text(entry.backup_id, component, format_time(stamp)))
            _swap(admin, params, maintenance_db, target, temporary, previous, before, entry.label)
        except SwapFailed:
            raise  # the restored data is verified: it stays where the message says
        except BaseException as error:
            problem = _drop_after_failure(admin, temporary)
            if problem and isinstance(error, DrError):
                error.message = f"{error.message}; {problem}"
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if previous is not None and not keep_previous:
            _drop(admin, previous)
            previous = None
        after["restored_at"] = format_time(stamp)
        return {**result, "previous_db": previous, "verified": checked, "executed_commands": runner.executed_commands}


def _apply_globals(admin: t.Any, plan: _pg_globals.GlobalsPlan) -> None:
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
                f"restoring the globals (roles) failed at `{_pg_globals.describe(statement)}`: "
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


class _TableChecks:
    """Checks each table against the backup as soon as pg_restore reports its data loaded.

    In a parallel restore pg_restore logs "finished item <id> TABLE DATA <table>"
    once that table's COPY has committed; nothing later in a restore (indexes,
    constraints, grants) writes rows, so the table can be fingerprinted then,
    while pg_restore goes on with other tables and the indexes. A table whose
    name is not unique among the restored tables, and every table of a
    restore without such messages (jobs: 1), is checked after pg_restore.
    A difference found early fails the restore at once.
    """

    FINISHED = re.compile(r"pg_restore: finished item \d+ TABLE DATA (.+)")

    def __init__(self, params: ConnectionParams, database: str, expected: dict[str, t.Any], workers: int, where: str) -> None:
        self.params = params
        self.database = database
        self.expected = expected
        self.recorded: dict[str, t.Any] = expected.get("tables") or {}
        self.where = where
        self.method = _pg_verify.checksum_method(expected, where)
        self.fingerprinter = _pg_verify.Fingerprinter(lambda: connect(params, database), workers)
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="check")
        self.futures: dict[str, Future] = {}
        self.by_name: dict[str, list[tuple[str, str]]] | None = None

    def line(self, text: str) -> None:
        match = self.FINISHED.fullmatch(text)
        if not match:
            return
        if self.by_name is None:
            self.by_name = {}
            with connected(self.params, self.database) as connection:
                for schema, table in query(connection, """
                        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relkind IN ('r', 'p')"""):
                    self.by_name.setdefault(table, []).append((schema, table))
        found = self.by_name.get(match.group(1), [])
        if len(found) != 1:
            return
        schema, table = found[0]
        name = _pg_verify.qualified(schema, table)
        if name in self.recorded and name not in self.futures:
            self.futures[name] = self.pool.submit(self.fingerprinter.one, schema, table, self.recorded[name], self.method)

    def check(self) -> None:
        """Raise on the first difference among the tables checked so far."""
        for name, future in list(self.futures.items()):
            if future.done():
                _pg_verify.compare_table(name, self.recorded[name], future.result(), self.where)

    def finish(self) -> dict[str, t.Any]:
        """Check what is left (every table not checked yet, sequences, large objects); the counts checked."""
        measured = {name: future.result() for name, future in self.futures.items()}
        with connected(self.params, self.database) as connection:
            checked = _pg_verify.compare(self.expected, self.fingerprinter, connection, self.where, measured)
        checked["checked_while_loading"] = len(measured)
        return checked

    def cancel(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.fingerprinter.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.fingerprinter.close()


# pg_restore --verbose progress lines; everything else on stderr (errors, warnings, details,
# the failed command) is what a failure reports.
_PROGRESS = re.compile(r"pg_restore: (?!error:|warning:|detail:|hint:)")


def _fetch(repository: Repository, entry: BackupEntry, work: str, jobs: int) -> None:
    """Decrypt and decompress the dump directory into work (parallel, every file verified)."""
    manifest = entry.manifest
    names = [record.name for record in sorted(manifest.files, key=lambda record: -record.content_size)
             if record.name.startswith(DUMP_DIRECTORY + "/")]
    if not names:
        raise ConfigurationError(f"{entry.label} holds no {DUMP_DIRECTORY}/ directory; it is not a pg_dump backup")
    os.makedirs(os.path.join(work, DUMP_DIRECTORY), mode=0o700, exist_ok=True)

    def fetch(name: str) -> None:
        path = os.path.join(work, name)
        with open(path, "wb") as sink:
            repository.read_file(entry, name, sink)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fetch") as pool:
        for future in [pool.submit(fetch, name) for name in names]:
            future.result()


def _restore_verified(repository: Repository, entry: BackupEntry, runner: CommandRunner, params: ConnectionParams,
                      expected: dict[str, t.Any], settings: dict[str, t.Any]) -> dict[str, t.Any]:
    """pg_restore of the fetched dump, each table checked against the backup as soon as it is loaded."""
    database, jobs, work = settings["database"], settings["jobs"], settings["work"]
    _fetch(repository, entry, work, jobs)
    checks = _TableChecks(params, database, expected, jobs, f"restore of {entry.label} (checked before it replaced anything)")
    restore: RunningCommand | None = None
    output = _Output()
    try:
        restore = runner.start(
            [settings["pg_restore"], f"--dbname={conninfo(database)}", f"--jobs={jobs}",
             "--exit-on-error", "--verbose", os.path.join(work, DUMP_DIRECTORY)],
            environment={"LC_MESSAGES": "C"}, what=f"pg_restore of {entry.label} into {database}")
        while restore.poll() is None:
            for line in output.follow(restore):
                checks.line(line)
            checks.check()
            time.sleep(POLL_INTERVAL)
        for line in output.follow(restore):
            checks.line(line)
        _finish_pg_restore(restore, output, entry, database)
        restore = None
        shutil.rmtree(os.path.join(work, DUMP_DIRECTORY), ignore_errors=True)
        checks.check()
        return checks.finish()
    except BaseException:
        checks.cancel()
        raise
    finally:
        if restore is not None:
            restore.stop()
        checks.close()


class _Output:
    """Follows pg_restore's stderr line by line, keeping what is not progress."""

    def __init__(self) -> None:
        self.offset = 0
        self.partial = b""
        self.kept: list[str] = []

    def follow(self, command: RunningCommand) -> list[str]:
        lines = []
        while True:
            data = command.read_stderr(self.offset)
            if not data:
                break
            self.offset += len(data)
            *complete, self.partial = (self.partial + data).split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                lines.append(line)
                if line.strip() and not _PROGRESS.match(line):
                    self.kept.append(line)
        return lines


def _finish_pg_restore(restore: RunningCommand, output: _Output, entry: BackupEntry, database: str) -> None:
    status = restore.poll()
    try:
        restore.wait()
    except CommandFailed as error:
        tail = "\n".join(output.kept[-STDERR_TAIL_LINES:]) or "no error output"
        cause = f"exit status {status}" if status is not None and status > 0 else f"signal {-(status or 0)}"
        message = f"pg_restore of {entry.label} into {database} failed with {cause}: {tail}"
        if "role" in tail and "does not exist" in tail:
            message += "; the backup's roles are missing on this server: set restore_globals: true or create them"
        raise CommandFailed(message + "; the target database was left as it was", **error.details) from None


def _compare_target(params: ConnectionParams, database: str, expected: dict[str, t.Any], jobs: int,
                    entry: BackupEntry) -> tuple[dict[str, t.Any], str | None]:
    """(what was checked, None) when the database matches the backup's verification data, else ({}, what differs)."""
    fingerprinter = _pg_verify.Fingerprinter(lambda: connect(params, database), jobs)
    try:
        with connected(params, database) as connection:
            return _pg_verify.compare(expected, fingerprinter, connection,
                                      f"database {database} against {entry.label}"), None
    except VerificationFailed as error:
        return {}, error.message
    finally:
        fingerprinter.close()


def _set_marker(admin: t.Any, database: str, text: str) -> None:
    query(admin, sql.SQL("COMMENT ON DATABASE {} IS {}").format(identifier(database), sql.Literal(text)))


def _terminate(admin: t.Any, database: str) -> None:
    query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
          (database,))


class SwapFailed(DrError):
    """The verified restore could not take the target's name; the message says where each copy of the data is."""


def _allow_connections(database: str, allowed: bool) -> t.Any:
    return sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(identifier(database), sql.Literal(allowed))


def _rollback(admin: t.Any) -> None:
    """End a failed transaction; on a lost connection the server has rolled it back already."""
    if admin.closed:
        return
    try:
        admin.rollback()
    except psycopg2.Error:
        pass  # the connection broke: the server rolls the transaction back; the first error is the one reported


def _renames_in_one_transaction(admin: t.Any, renames: list[tuple[str, str]], finish: list[t.Any],
                                attempts: int = 20) -> None:
    """Every rename (then finish) in one transaction: all of them happen, or none.

    PostgreSQL runs ALTER DATABASE ... RENAME inside a transaction block (unlike
    CREATE or DROP DATABASE), so a failure or a lost connection between the
    renames rolls the first one back. Retried while sessions just terminated
    are still leaving (ObjectInUse).
    """
    for attempt in range(attempts):
        for old, _new in renames:
            _terminate(admin, old)
        admin.autocommit = False
        try:
            for old, new in renames:
                query(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(identifier(old), identifier(new)))
            for statement in finish:
                query(admin, statement)
            admin.commit()
            return
        except psycopg2.errors.ObjectInUse:
            _rollback(admin)
            if attempt == attempts - 1:
                raise
        except BaseException:
            _rollback(admin)
            raise
        finally:
            if not admin.closed:
                admin.autocommit = True
        time.sleep(0.25)


def _swap(admin: t.Any, params: ConnectionParams, maintenance_db: str, target: str, temporary: str,
          previous: str | None, before: dict[str, t.Any], label: str) -> None:
    """Give the restored database the target's name, moving the old target to previous, in one transaction."""
    allowed = bool((before.get("properties") or {}).get("allow_connections", True))
    try:
        if previous is None:
            _renames_in_one_transaction(admin, [(temporary, target)], [])
            return
        # Committed on its own: keeps new sessions out of the old target while the renames wait for the old ones.
        query(admin, _allow_connections(target, False))
        _renames_in_one_transaction(admin, [(target, previous), (temporary, target)],
                                    [_allow_connections(previous, allowed)])
    except psycopg2.Error as error:
        failure = _swap_failure(error, params, maintenance_db, target, temporary, previous, allowed, label)
        if failure is not None:
            raise failure from None


def _swap_failure(error: Exception, params: ConnectionParams, maintenance_db: str, target: str, temporary: str,
                  previous: str | None, allowed: bool, label: str) -> SwapFailed | None:
    """What a failed swap left, asked on a new connection; None when it committed after all (lost reply)."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    what = f"giving the restored database {temporary} the name {target} on {params.where} failed ({detail})"
    names: set[str] | None = None
    allowed_again = True
    try:
        with connected(params, maintenance_db) as check:
            names = {row[0] for row in query(check, "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                                             ([target, temporary] + ([previous] if previous else []),))}
            if temporary not in names:
                return None  # the transaction committed; only its reply was lost
            if previous is not None and target in names:
                query(check, _allow_connections(target, allowed))
    except DrError:
        names = None
    except psycopg2.Error:
        if names is not None:
            allowed_again = False  # the names were read; letting connections into the target again failed
    if names is None:
        listed = ", ".join(f"'{name}'" for name in (target, temporary, previous) if name)
        if previous is not None:
            committed = f"{target} holds the restored data of {label} and {previous} the data {target} held before"
            rolled_back = (f"{target} still holds its data (connections to it may be switched off: ALTER DATABASE "
                           f"{target} WITH ALLOW_CONNECTIONS {str(allowed).lower()}) and {temporary} the restored data")
        else:
            committed = f"{target} holds the restored data of {label}"
            rolled_back = f"{temporary} holds the restored data and {target} does not exist"
        return SwapFailed(
            f"{what}, and PostgreSQL cannot be reached to see the outcome. The swap is one transaction, so either it "
            f"committed ({committed}) or it was rolled back ({rolled_back}). When the server answers, see which "
            f"with: SELECT datname FROM pg_database WHERE datname IN ({listed})",
            database=target, restored_db=temporary, previous_db=previous,
        )
    if previous is not None:
        kept = f"{target} still holds the data it had before"
        if not allowed_again:
            kept += (f" but does not accept connections (ALTER DATABASE {target} WITH ALLOW_CONNECTIONS "
                     f"{str(allowed).lower()} lets them in again)")
        by_hand = (f"BEGIN; ALTER DATABASE {target} RENAME TO {previous}; ALTER DATABASE {temporary} RENAME TO "
                   f"{target}; COMMIT;")
    else:
        kept = f"{target} does not exist"
        by_hand = f"ALTER DATABASE {temporary} RENAME TO {target};"
    return SwapFailed(
        f"{what}. The swap is one transaction and was rolled back: {kept}, and the restored, verified data of "
        f"{label} is in the database {temporary}. Run the restore again (then drop {temporary}), or finish this "
        f"one by hand: {by_hand}",
        database=target, restored_db=temporary, previous_db=previous,
    )


def _drop_after_failure(admin: t.Any, database: str) -> str | None:
    """Drop the half-restored database; say so if that failed too (the first error stays the one reported)."""
    try:
        _drop(admin, database)
    except DrError as error:
        return error.message
    except psycopg2.Error as error:
        return f"could not drop the half-restored database {database} ({str(error).strip()}); drop it by hand"
    return None


def _drop(admin: t.Any, database: str) -> None:
    """Drop a database this restore made, even with sessions left in it."""
    if query_one(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (database,)) is None:
        return
    try:
        query(admin, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(identifier(database)))
    except psycopg2.Error as error:
        raise DrError(f"could not drop the database {database}: {str(error).strip()}; drop it by hand") from None
