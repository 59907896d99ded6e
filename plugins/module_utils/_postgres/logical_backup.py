# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup method logical: pg_dump directory format into the repository.

    snapshot = pg_export_snapshot()           one REPEATABLE READ transaction, kept open
    pg_dumpall --globals-only                 -> globals.sql (beside pg_dump)
    pg_dump -Fd -Z0 --jobs N --snapshot ...   -> temporary directory; each data file is
                                                 streamed into the repository (zstd, age) while
                                                 pg_dump writes it, then deleted; its rows are
                                                 counted and hashed on the way (dump_stream)
    pg_restore --list                         -> which data file holds which table
    sequences, large objects, tables with     -> the rest of the verification data, in the snapshot
    generated columns

pg_dump does not compress (-Z0): the repository compresses with zstd, which
is several times faster than pg_dump's gzip. Temporary disk: the data files
pg_dump has written but the repository has not yet taken; at worst (a
repository much slower than the database) the uncompressed size of the dump.
A failure anywhere stops pg_dump and discards the backup: no partial backup
becomes visible.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner, RunningCommand
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._postgres import verify
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    check_client_version,
    connect,
    database_properties,
    expect_row,
    identifier,
    program,
    program_version,
    psycopg2,
    query,
    query_one,
    server_info,
    session_options,
    sql,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.dump_stream import DUMP_DIRECTORY, DumpUploader, dump_files
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

GLOBALS_FILE = "globals.sql"
# pg_backup's zstd level (the repository's default is 3). Measured on dumps of 2 cores' worth of pg_dump: level 1
# compresses varied text 2-2.5x faster than level 3 for about 10 % more bytes, and hex (bytea, tokens, hashes)
# 5x faster and slightly smaller than level 3, whose extra match search finds nothing in such data but costs
# more than the whole rest of the backup. docs/postgresql.md has the figures.
DEFAULT_COMPRESSION_LEVEL = 1
POLL_INTERVAL = 0.2
# A data entry of `pg_restore --list`: "<dump id>; <catalog oid> <table oid> TABLE DATA <schema> <table> <owner>".
_TABLE_DATA_ENTRY = re.compile(r"(\d+); \d+ (\d+) TABLE DATA ")


def _tables_dumped(runner: CommandRunner, pg_restore: str, directory: str,
                   dumped: t.Mapping[str, tuple[int | None, str | None]], connection: t.Any) -> dict[str, tuple[int | None, str | None]]:
    """{schema.table: (rows, digest)} of the data files measured while storing them, named by the dump's table of contents."""
    listing = runner.run([pg_restore, "--list", directory], what="pg_restore --list of the dump").stdout.decode("utf-8", "replace")
    tables = verify.table_oids(connection)
    found = {}
    for line in listing.splitlines():
        match = _TABLE_DATA_ENTRY.match(line)
        if match and int(match.group(2)) in tables and f"{match.group(1)}.dat" in dumped:
            found[verify.qualified(*tables[int(match.group(2))])] = dumped[f"{match.group(1)}.dat"]
    return found


def _snapshot_connection(params: ConnectionParams, database: str, snapshot: str) -> t.Callable[[], t.Any]:
    def open_one() -> t.Any:
        connection = connect(params, database, autocommit=False)
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
        return connection

    return open_one


def _globals(runner: CommandRunner, pg_dumpall: str, database: str, superuser: bool) -> bytes:
    argv = [pg_dumpall, "--globals-only", f"--database={database}"]
    if not superuser:
        # Only superusers can read password hashes (pg_authid).
        argv.append("--no-role-passwords")
    return runner.run(argv, what="pg_dumpall --globals-only").stdout


def dump_argv(pg_dump: str, directory: str, snapshot: str, jobs: int, lock_wait_timeout: int) -> list[str]:
    """The pg_dump command of a backup: directory format, uncompressed, in the exported snapshot.

    lock_wait_timeout (seconds, 0 for no limit) makes pg_dump fail instead of waiting forever for the
    shared lock of a table that another session holds exclusively (a long ALTER TABLE, a VACUUM FULL).
    """
    argv = [pg_dump, "--format=directory", f"--jobs={jobs}", "--compress=0", f"--snapshot={snapshot}", "--no-sync"]
    if lock_wait_timeout > 0:
        argv.append(f"--lock-wait-timeout={lock_wait_timeout}s")
    return argv + [f"--file={directory}"]


def _lock_wait_timed_out(component: str, database: str, where: str, lock_wait_timeout: int) -> SourceUnavailable:
    return SourceUnavailable(
        f"backup of component {component}: a table of database {database} on {where} stayed locked by another "
        f"session for lock_wait_timeout ({lock_wait_timeout} s), a schema change or VACUUM FULL holding it "
        "exclusively; nothing was written. Find the holder in pg_locks and pg_stat_activity, let it finish (or "
        "stop it), then run the backup again."
    )


def logical_backup(
    repository: Repository,
    params: ConnectionParams,
    *,
    component: str,
    database: str,
    jobs: int = 2,
    checksum_max_bytes: int = 1024 ** 3,
    include_globals: bool = True,
    pg_bin_dir: str | None = None,
    temp_dir: str | None = None,
    retention_class: str = "standard",
    lock_wait_timeout: int = 300,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    if jobs < 1:
        raise ConfigurationError("jobs must be at least 1")
    if lock_wait_timeout < 0:
        raise ConfigurationError("lock_wait_timeout must be 0 (no limit) or more seconds")
    # pg_dump writes rows in the session settings the restore's check reads them back with.
    runner = CommandRunner({**params.environment(), "PGDATABASE": database, "PGOPTIONS": session_options()})
    pg_dump = program("pg_dump", pg_bin_dir)
    main = connect(params, database, autocommit=False)
    warnings: list[str] = []
    try:
        main.set_session(isolation_level="REPEATABLE READ", readonly=True)
        # The first statement takes the transaction's snapshot: pg_dump dumps exactly it.
        row = query_one(main, """
            SELECT pg_export_snapshot(), clock_timestamp(),
                   CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text
        """)
        row = expect_row(row)
        snapshot, snapshot_time, snapshot_lsn = row
        if lock_wait_timeout > 0:
            # Reading the tables' sizes and locking them wait for a session that holds one exclusively: no
            # longer than pg_dump waits for its own locks.
            query(main, sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_wait_timeout}s")))
        info = server_info(main)
        properties = database_properties(main, database) or {}
        tables = verify.user_tables(main)
        without_checksum = [verify.qualified(schema, table) for schema, table, size in tables if size > checksum_max_bytes]
        # Both clients are checked before the repository is touched (pg_dumpall then runs beside pg_dump).
        tool_version = program_version(runner, pg_dump)
        check_client_version(tool_version, info["server_version_num"], "pg_dump", path=pg_dump, where=params.where)
        pg_dumpall = program("pg_dumpall", pg_bin_dir) if include_globals else None
        if pg_dumpall is not None:
            check_client_version(program_version(runner, pg_dumpall), info["server_version_num"], "pg_dumpall",
                                 path=pg_dumpall, where=params.where)
        plan = {
            "component": component, "method": "logical", "database": database, "server": params.where,
            "server_version": info["server_version"], "system_identifier": info["system_identifier"],
            "database_size": properties.get("size"), "tables": len(tables), "tables_without_checksum": without_checksum,
        }
        if without_checksum:
            warnings.append(
                f"{len(without_checksum)} table(s) are larger than checksum_max_bytes ({checksum_max_bytes}) and are "
                f"verified by row count only: {', '.join(without_checksum[:5])}{' ...' if len(without_checksum) > 5 else ''}"
            )
        if include_globals and not info["superuser"]:
            warnings.append(f"{params.user} is not a superuser: globals.sql holds the roles without their passwords")
        if check_mode:
            return {"changed": True, "backup_id": None, **plan, "warnings": warnings}
        if tables:
            # The locks pg_dump takes, taken first in the snapshot's own transaction: from here on no
            # DDL changes a table the verification data describes until the backup ends.
            query(main, sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                sql.SQL(", ").join(identifier(schema, table) for schema, table, _size in tables)))

        result = _run_backup(repository, runner, main, params, plan, snapshot, {
            "jobs": jobs, "checksum_max_bytes": checksum_max_bytes, "include_globals": include_globals,
            "superuser": info["superuser"], "pg_dump": pg_dump, "pg_dumpall": pg_dumpall,
            "pg_restore": program("pg_restore", pg_bin_dir),
            "temp_dir": temp_dir, "lock_wait_timeout": lock_wait_timeout,
            "tool_version": tool_version, "retention_class": retention_class,
            "consistency_point": {"time": format_time(snapshot_time), "lsn": snapshot_lsn},
            "source": {
                "host": params.where, "database": database, "server_version": info["server_version"],
                "system_identifier": info["system_identifier"], "cluster_name": info["cluster_name"],
                "owner": properties.get("owner"), "encoding": properties.get("encoding"),
                "collate": properties.get("collate"), "ctype": properties.get("ctype"),
            },
        })
        return {**plan, **result, "warnings": warnings, "executed_commands": runner.executed_commands}
    except psycopg2.errors.LockNotAvailable as error:
        raise _lock_wait_timed_out(component, database, params.where, lock_wait_timeout) from error
    finally:
        main.close()


def _run_backup(repository: Repository, runner: CommandRunner, main: t.Any, params: ConnectionParams,
                plan: dict[str, t.Any], snapshot: str, settings: dict[str, t.Any]) -> dict[str, t.Any]:
    database, jobs = plan["database"], settings["jobs"]
    work = tempfile.mkdtemp(prefix="resilience-dr-pg_dump-", dir=settings["temp_dir"])
    directory = os.path.join(work, DUMP_DIRECTORY)
    fingerprinter = verify.Fingerprinter(_snapshot_connection(params, database, snapshot), jobs)
    # Beside the dump: the row checksums of tables with generated columns (in the snapshot), and the globals
    # (shared catalogs, outside any database's snapshot), so that neither delays pg_dump's start or the end.
    checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="beside-dump")
    dump: RunningCommand | None = None
    try:
        with repository.new_backup(plan["component"], kind="postgresql", method="logical",
                                   retention_class=settings["retention_class"]) as backup:
            verification = checks.submit(verify.generated_fingerprints, fingerprinter, main, settings["checksum_max_bytes"])
            globals_sql = checks.submit(_globals, runner, settings["pg_dumpall"], database, settings["superuser"]) \
                if settings["pg_dumpall"] else None
            dump = runner.start(dump_argv(settings["pg_dump"], directory, snapshot, jobs, settings["lock_wait_timeout"]),
                                what=f"pg_dump of database {database} on {params.where}")
            uploader = DumpUploader(backup, directory, workers=jobs)
            beside = [future for future in (verification, globals_sql) if future is not None]
            try:
                while dump.poll() is None:
                    uploader.observe(*dump_files(directory, dump.pid))
                    uploader.check()
                    for future in beside:
                        if future.done() and future.exception() is not None:
                            raise t.cast(BaseException, future.exception())
                    # Woken as soon as pg_dump ends: its last files are then stored without a poll's delay.
                    dump.ended_within(POLL_INTERVAL)
                dump.wait()
                uploader.observe(*dump_files(directory, None), final=True)
                dump_size = uploader.finish()
            except BaseException:
                uploader.abandon()
                raise
            if globals_sql is not None:
                backup.add_bytes(GLOBALS_FILE, globals_sql.result())
            generated = verification.result()  # done with the snapshot's connection before it is used here
            data = verify.collect(fingerprinter, main, settings["checksum_max_bytes"],
                                  _tables_dumped(runner, settings["pg_restore"], directory, uploader.dumped, main),
                                  generated)
            backup.verification = data
            backup.source = settings["source"]
            backup.consistency_point = settings["consistency_point"]
            backup.tools = {"pg_dump": settings["tool_version"]}
            backup.extra = {
                "format": "pg_dump directory", "dump_directory": DUMP_DIRECTORY, "jobs": jobs,
                "globals_file": GLOBALS_FILE if settings["include_globals"] else None,
                "role_passwords": settings["superuser"], "checksum_method": data["checksum_method"],
                "checksum_max_bytes": settings["checksum_max_bytes"],
            }
        manifest = backup.manifest
        rows = sum(item["rows"] for item in data["tables"].values())
        return {
            "changed": True,
            "backup_id": backup.backup_id,
            "consistency_point": settings["consistency_point"],
            "size": sum(record.size for record in manifest.files),
            "content_size": sum(record.content_size for record in manifest.files),
            "dump_size": dump_size,
            "files": len(manifest.files),
            "rows": rows,
            "checksummed_tables": sum(1 for item in data["tables"].values() if item["checksum"] or item.get("row_checksum")),
            "large_objects": data["large_objects"]["count"],
        }
    except BaseException:
        # Interrupt the verification queries still running in the snapshot.
        fingerprinter.cancel()
        main.cancel()
        raise
    finally:
        if dump is not None:
            dump.stop()
        checks.shutdown(wait=True)
        fingerprinter.close()
        shutil.rmtree(work, ignore_errors=True)
