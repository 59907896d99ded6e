# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup method logical: pg_dump directory format into the repository.

    snapshot = pg_export_snapshot()           one REPEATABLE READ transaction, kept open
    pg_dumpall --globals-only                 -> globals.sql
    pg_dump -Fd -Z0 --jobs N --snapshot ...   -> temporary directory; each data file is
                                                 streamed into the repository (zstd, age) as soon
                                                 as pg_dump has closed it, then deleted; its rows
                                                 are counted and hashed on the way
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
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

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
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

DUMP_DIRECTORY = "data"
GLOBALS_FILE = "globals.sql"
POLL_INTERVAL = 0.2
TOC_FILE = "toc.dat"
READ_SIZE = 1024 * 1024  # bytes read from a data file at a time
# A table's data file of pg_dump's directory format: <dump id>.dat.
_DATA_FILE = re.compile(r"(\d+)\.dat")
# A data entry of `pg_restore --list`: "<dump id>; <catalog oid> <table oid> TABLE DATA <schema> <table> <owner>".
_TABLE_DATA_ENTRY = re.compile(r"(\d+); \d+ (\d+) TABLE DATA ")


def _children(root: int) -> list[int]:
    """root and its descendants (pg_dump's parallel workers are forked children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(parents.get(pid, []))
    return found


def _open_paths(pids: t.Iterable[int]) -> set[str]:
    paths = set()
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                paths.add(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
            except OSError:
                continue
    return paths


def dump_files(directory: str, pid: int | None) -> tuple[list[str], set[str]]:
    """(files in directory, the paths of them the process tree of pid has open).

    pg_dump opens each file of its directory once, writes it and closes it: a
    file listed before the open files are looked up and not open then is
    complete. With pid None (pg_dump has ended) nothing is open. Without /proc
    (not Linux) every file counts as open until pg_dump ends.
    """
    listed: list[str] = []
    for root, _dirs, files in os.walk(directory):
        listed.extend(os.path.join(root, name) for name in sorted(files))
    if pid is None or not listed:
        return listed, set()
    if not os.path.isdir("/proc/self/fd"):
        return listed, set(listed)
    return listed, _open_paths(_children(pid))


def rows_end(tail: bytes, size: int) -> int | None:
    """Where the rows of a data file of `size` bytes end, from its last bytes: before the
    end-of-data line (a backslash and a dot), which only blank lines may follow; None otherwise."""
    stripped = tail.rstrip(b"\n")
    if not stripped.endswith(b"\\.") or (len(stripped) > 2 and stripped[-3:-2] != b"\n") or \
            (len(stripped) == 2 and len(tail) < size):
        return None
    return size - len(tail) + len(stripped) - 2


class _Stopped(Exception):
    """The backup failed elsewhere; a file being followed is abandoned (never reported)."""


class _DataFileRows:
    """Counts and hashes the rows of a data file fed in pieces, holding back its last bytes until the
    end: only then is it known where the rows end (before the end-of-data line)."""

    HELD = 64

    def __init__(self) -> None:
        self.digest = verify.RowsDigest()
        self.size = 0
        self._held = bytearray()

    def add(self, buffer: bytearray, count: int) -> None:
        self.size += count
        if count >= self.HELD:
            self.digest.write(bytes(self._held))
            self.digest.add(buffer, count - self.HELD)
            self._held = bytearray(buffer[count - self.HELD:count])
        else:
            self._held += buffer[:count]
            if len(self._held) > self.HELD:
                self.digest.write(bytes(self._held[:-self.HELD]))
                del self._held[:-self.HELD]

    def result(self) -> tuple[int | None, str | None]:
        """(rows, digest), or (None, None) when the file does not end as a data file does."""
        end = rows_end(bytes(self._held), self.size)
        if end is None:
            return None, None
        self.digest.write(bytes(self._held[:end - (self.size - len(self._held))]))
        return self.digest.rows, self.digest.hexdigest()


class _Uploader:
    """Stores the files of the dump directory in the backup, in parallel, deleting each once stored.

    A table's data file (<id>.dat) is followed while pg_dump writes it:
    compressed as it grows, its rows counted and hashed on the way (dumped:
    {file name: (rows, digest)}); it is complete once a look at pg_dump's open
    files (observe(), from the polling loop) finds it closed and the rest is
    read. Other files are stored once closed; the table of contents stays for
    `pg_restore --list`.
    """

    def __init__(self, backup: t.Any, directory: str, workers: int) -> None:
        self.backup = backup
        self.directory = directory
        # pg_dump writes up to `workers` data files at once; one more stores the small files meanwhile.
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers) + 1, thread_name_prefix="store")
        self.submitted: set[str] = set()
        self.futures: list[Future] = []
        self.dumped: dict[str, tuple[int | None, str | None]] = {}
        self._looked = threading.Condition()
        self._looks = 0
        self._open: set[str] = set()
        self._final = False
        self._stopping = False

    def observe(self, listed: t.Sequence[str], still_open: set[str], final: bool = False) -> None:
        """One look at the dump directory: start storing data files at once, other files once closed.

        final: pg_dump has ended, every file is complete.
        """
        with self._looked:
            self._looks += 1
            self._open = still_open
            self._final = final
            self._looked.notify_all()
        self.submit(path for path in listed if _DATA_FILE.fullmatch(os.path.basename(path)) or path not in still_open)

    def submit(self, paths: t.Iterable[str]) -> None:
        for path in paths:
            if path not in self.submitted:
                self.submitted.add(path)
                self.futures.append(self.pool.submit(self._store, path))

    def _closed(self, path: str, after: int) -> bool:
        """Wait for a look taken after look number `after`; whether it found path closed."""
        with self._looked:
            while self._looks <= after and not (self._stopping or self._final):
                self._looked.wait()
            if self._stopping:
                raise _Stopped()
            return self._final or path not in self._open

    def _follow(self, handle: t.Any, path: str, rows: _DataFileRows) -> t.Iterator[memoryview]:
        buffer = bytearray(READ_SIZE)
        closed = False
        while True:
            with self._looked:
                looks = self._looks
            count = handle.readinto(buffer)
            if count:
                rows.add(buffer, count)
                yield memoryview(buffer)[:count]
            elif closed:
                return
            else:
                # At the end of what is written so far: finished once pg_dump is seen to have closed
                # the file (everything it wrote is then in the file: read on to its end).
                closed = self._closed(path, looks)

    def _store(self, path: str) -> int:
        name = f"{DUMP_DIRECTORY}/{os.path.relpath(path, self.directory)}"
        base = os.path.basename(path)
        if _DATA_FILE.fullmatch(base):
            rows = _DataFileRows()
            with open(path, "rb", buffering=0) as handle:
                record = self.backup.add_chunks(name, self._follow(handle, path, rows))
            self.dumped[base] = rows.result()
        else:
            record = self.backup.add_file(name, path)
        if base != TOC_FILE:
            os.unlink(path)
        return record.content_size

    def check(self) -> None:
        """Raise the first error of a finished upload."""
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise t.cast(BaseException, future.exception())

    def finish(self) -> int:
        total = sum(future.result() for future in self.futures)
        self.pool.shutdown()
        return total

    def abandon(self) -> None:
        with self._looked:
            self._stopping = True
            self._looked.notify_all()
        for future in self.futures:
            future.cancel()
        self.pool.shutdown(wait=True)


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
        # Both clients are checked before the repository is touched: pg_dumpall runs first in the backup.
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
    checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verification")
    dump: RunningCommand | None = None
    try:
        with repository.new_backup(plan["component"], kind="postgresql", method="logical",
                                   retention_class=settings["retention_class"]) as backup:
            if settings["pg_dumpall"]:
                backup.add_bytes(GLOBALS_FILE, _globals(runner, settings["pg_dumpall"], database, settings["superuser"]))
            verification = checks.submit(verify.generated_fingerprints, fingerprinter, main, settings["checksum_max_bytes"])
            dump = runner.start(dump_argv(settings["pg_dump"], directory, snapshot, jobs, settings["lock_wait_timeout"]),
                                what=f"pg_dump of database {database} on {params.where}")
            uploader = _Uploader(backup, directory, workers=jobs)
            try:
                while dump.poll() is None:
                    uploader.observe(*dump_files(directory, dump.pid))
                    uploader.check()
                    if verification.done() and verification.exception() is not None:
                        raise t.cast(BaseException, verification.exception())
                    time.sleep(POLL_INTERVAL)
                dump.wait()
                uploader.observe(*dump_files(directory, None), final=True)
                dump_size = uploader.finish()
            except BaseException:
                uploader.abandon()
                raise
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
