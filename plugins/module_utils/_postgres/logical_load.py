# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading a logical backup into a new database, checked while it loads.

The files of the dump directory are read from the repository (decrypted,
decompressed, every file verified), and the rows of each table's data file
are counted and hashed on the way, as the backup hashed them
(dump_stream.DataFileRows): the bytes pg_restore loads are the ones hashed.
The small files are written to disk before pg_restore starts; the large data
files are fed to pg_restore through FIFOs as it reads them (dump_feed), so
it loads them while they are still being read. Each table is checked against
the row counts and checksums recorded at backup time as soon as pg_restore
reports its data loaded (_TableChecks); the rest is checked when pg_restore
ends. A difference, or a damaged file, fails the restore before anything
was replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._commands import STDERR_TAIL_LINES, CommandRunner, RunningCommand
from ansible_collections.resilience.dr.plugins.module_utils._errors import CommandFailed, ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._postgres import verify
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import ConnectionParams, connect, connected
from ansible_collections.resilience.dr.plugins.module_utils._postgres.dump_feed import DataFeeds, HashingFile, fifos_work_in
from ansible_collections.resilience.dr.plugins.module_utils._postgres.dump_stream import DUMP_DIRECTORY, DataFileRows
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

POLL_INTERVAL = 0.05


def conninfo(database: str) -> str:
    """A --dbname value naming only the database (the rest comes from the environment)."""
    if re.fullmatch(r"[A-Za-z0-9_]+", database):
        return database
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _TableChecks:
    """Checks each table against the backup as soon as pg_restore reports its data loaded.

    In a parallel restore pg_restore logs "finished item <id> TABLE DATA <table>"
    once that table's COPY has committed; nothing later in a restore (indexes,
    constraints, grants) writes rows, so the table can be checked then, while
    pg_restore goes on with other tables and the indexes. Every table left
    (all of them in a restore without such messages, jobs: 1) is checked after
    pg_restore. A difference found early fails the restore at once.

    A table whose data file was hashed on its way to pg_restore (`loaded`:
    {dump id: (rows, digest)}) is checked by that digest against the backup's
    checksum, and by the restored table's own row count (count(*)), which
    proves the server kept every row it was sent; its rows are not read back
    as text. Other tables (backups with row-sum checksums, data files that do
    not end as pg_dump ends them, names the table of contents leaves
    ambiguous) are read back and fingerprinted whole, and the row checksum of
    tables with stored generated columns (values a dump does not hold) is
    always taken from the restored rows.
    """

    FINISHED = re.compile(r"pg_restore: finished item (\d+) TABLE DATA (.+)")

    def __init__(self, params: ConnectionParams, database: str, expected: dict[str, t.Any], workers: int, where: str,
                 loaded: t.Mapping[str, tuple[int | None, str | None]] | None = None, listing: str = "") -> None:
        self.params = params
        self.database = database
        self.expected = expected
        self.recorded: dict[str, t.Any] = expected.get("tables") or {}
        self.where = where
        self.method = verify.checksum_method(expected, where)
        self.loaded = loaded if loaded is not None else {}  # filled while pg_restore runs: the same dict
        self.listing = listing
        self.fingerprinter = verify.Fingerprinter(lambda: connect(params, database), workers)
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="check")
        self.futures: dict[str, Future] = {}
        self.present: dict[str, tuple[str, str]] | None = None
        self.by_dump_id: dict[str, str] = {}
        self.dump_id_of: dict[str, str] = {}

    def _tables(self) -> dict[str, tuple[str, str]]:
        """{schema.table: (schema, table)} of the restored database (its tables exist before any data loads)."""
        if self.present is None:
            with connected(self.params, self.database) as connection:
                self.present = {verify.qualified(schema, table): (schema, table)
                                for schema, table, _size in verify.user_tables(connection)}
            self.by_dump_id = data_entries(self.listing, self.present.values())
            self.dump_id_of = {name: dump_id for dump_id, name in self.by_dump_id.items()}
        return self.present

    def _fingerprint(self, name: str) -> dict[str, t.Any]:
        schema, table = self._tables()[name]
        want = self.recorded[name]
        digest = self._loaded_digest(name)
        if digest is None:
            return self.fingerprinter.one(schema, table, want, self.method)
        measured = self.fingerprinter.one(schema, table, {"row_checksum": want.get("row_checksum")}, self.method)
        measured["checksum"] = digest
        return measured

    def _loaded_digest(self, name: str) -> str | None:
        """The digest of the rows pg_restore loaded into a table, when the backup's checksum is comparable with it."""
        if self.method != verify.COPY_METHOD or not self.recorded[name].get("checksum"):
            return None
        self._tables()
        return self.loaded.get(self.dump_id_of.get(name, ""), (None, None))[1]

    def _submit(self, name: str) -> None:
        if name in self.recorded and name not in self.futures:
            self.futures[name] = self.pool.submit(self._fingerprint, name)

    def line(self, text: str) -> None:
        match = self.FINISHED.fullmatch(text)
        if not match:
            return
        self._tables()
        name = self.by_dump_id.get(match.group(1))
        if name is not None:
            self._submit(name)

    def check(self) -> None:
        """Raise on the first difference among the tables checked so far."""
        for name, future in list(self.futures.items()):
            if future.done():
                verify.compare_table(name, self.recorded[name], future.result(), self.where)

    def finish(self) -> dict[str, t.Any]:
        """Check what is left (every table not checked yet, sequences, large objects); the counts checked."""
        checked_while_loading = len(self.futures)
        # Tables hashed on their way in and not checked yet are counted here; compare() reads back the rest.
        for name in sorted(set(self.recorded) & set(self._tables())):
            if self._loaded_digest(name) is not None:
                self._submit(name)
        measured = {name: future.result() for name, future in self.futures.items()}
        with connected(self.params, self.database) as connection:
            checked = verify.compare(self.expected, self.fingerprinter, connection, self.where, measured)
        checked["checked_while_loading"] = checked_while_loading
        checked["checked_as_loaded"] = sum(1 for name in measured if self._loaded_digest(name) is not None)
        return checked

    def cancel(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.fingerprinter.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.fingerprinter.close()


# A data entry of `pg_restore --list`: "<dump id>; <catalog oid> <table oid> TABLE DATA <schema> <table> <owner>".
_TABLE_DATA_ENTRY = re.compile(r"(\d+); \d+ \d+ TABLE DATA (.+)")


def data_entries(listing: str, tables: t.Iterable[tuple[str, str]]) -> dict[str, str]:
    """{dump id: schema.table} of the TABLE DATA entries of a `pg_restore --list`, for the entries naming
    exactly one of `tables` (names are separated by spaces there, so a name holding one may be ambiguous)."""
    candidates = list(tables)
    found = {}
    for line in listing.splitlines():
        match = _TABLE_DATA_ENTRY.fullmatch(line)
        if not match:
            continue
        named = [verify.qualified(schema, table) for schema, table in candidates
                 if match.group(2).startswith(f"{schema} {table} ")]
        if len(named) == 1:
            found[match.group(1)] = named[0]
    return found


# pg_restore --verbose progress lines; everything else on stderr (errors, warnings, details,
# the failed command) is what a failure reports.
_PROGRESS = re.compile(r"pg_restore: (?!error:|warning:|detail:|hint:)")


_DATA_FILE = re.compile(re.escape(DUMP_DIRECTORY) + r"/(\d+)\.dat")
FEED_MIN_BYTES = 4 * 1024 * 1024  # a smaller data file is written to disk before pg_restore starts
FEED_MAX_FILES = 64  # the largest data files fed through FIFOs (a waiting thread each); the rest go to disk first


def _fetch(repository: Repository, entry: BackupEntry, work: str, jobs: int,
           loaded: dict[str, tuple[int | None, str | None]]) -> list[tuple[str, str]]:
    """Decrypt and decompress into work the files of the dump directory that are not fed to pg_restore
    (parallel, every file verified), the rows of their data files measured into loaded;
    [(name, dump id)] of the large data files left to feed (DataFeeds)."""
    manifest = entry.readable_manifest()
    records = [record for record in sorted(manifest.files, key=lambda record: -record.content_size)
               if record.name.startswith(DUMP_DIRECTORY + "/")]
    if not records:
        raise ConfigurationError(f"{entry.label} holds no {DUMP_DIRECTORY}/ directory; it is not a pg_dump backup")
    os.makedirs(os.path.join(work, DUMP_DIRECTORY), mode=0o700, exist_ok=True)
    dump_ids = {record.name: match.group(1) for record in records if (match := _DATA_FILE.fullmatch(record.name))}
    fed = [(record.name, dump_ids[record.name]) for record in records
           if record.name in dump_ids and record.content_size >= FEED_MIN_BYTES][:FEED_MAX_FILES]
    if fed and not fifos_work_in(os.path.join(work, DUMP_DIRECTORY)):
        fed = []
    feeding = {name for name, _dump_id in fed}

    def fetch(name: str) -> None:
        with open(os.path.join(work, name), "wb") as sink:
            if name not in dump_ids:
                repository.read_file(entry, name, sink)
                return
            rows = DataFileRows()
            repository.read_file(entry, name, HashingFile(sink, rows))
            loaded[dump_ids[name]] = rows.result()

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fetch") as pool:
        for future in [pool.submit(fetch, record.name) for record in records if record.name not in feeding]:
            future.result()
    return fed


def restore_verified(repository: Repository, entry: BackupEntry, runner: CommandRunner, params: ConnectionParams,
                     expected: dict[str, t.Any], settings: dict[str, t.Any]) -> dict[str, t.Any]:
    """pg_restore of the dump, its large data files fed as it reads them, each table checked against the
    backup as soon as it is loaded."""
    database, jobs, work = settings["database"], settings["jobs"], settings["work"]
    loaded: dict[str, tuple[int | None, str | None]] = {}
    feeds = DataFeeds(lambda name, sink: repository.read_file(entry, name, sink), loaded)
    try:
        feeds.start(work, _fetch(repository, entry, work, jobs, loaded))
        directory = os.path.join(work, DUMP_DIRECTORY)
        listing = runner.run([settings["pg_restore"], "--list", directory],
                             what=f"pg_restore --list of {entry.label}").stdout.decode("utf-8", "replace")
        checks = _TableChecks(params, database, expected, jobs,
                              f"restore of {entry.label} (checked before it replaced anything)", loaded, listing)
        try:
            _load(runner, settings, entry, directory, checks, feeds)
            shutil.rmtree(directory, ignore_errors=True)
            checks.check()
            return checks.finish()
        except BaseException:
            checks.cancel()
            raise
        finally:
            checks.close()
    finally:
        feeds.release()


def _load(runner: CommandRunner, settings: dict[str, t.Any], entry: BackupEntry, directory: str, checks: _TableChecks,
          feeds: DataFeeds) -> None:
    """Runs pg_restore, following its progress to check each table as it is loaded; stops it on a failure."""
    database = settings["database"]
    output = _Output()
    restore = runner.start(
        [settings["pg_restore"], f"--dbname={conninfo(database)}", f"--jobs={settings['jobs']}",
         "--exit-on-error", "--verbose", directory],
        environment={"LC_MESSAGES": "C"}, what=f"pg_restore of {entry.label} into {database}")
    try:
        while restore.poll() is None:
            for line in output.follow(restore):
                checks.line(line)
            feeds.check()
            checks.check()
            time.sleep(POLL_INTERVAL)
    finally:
        restore.stop()  # only when it still runs: a check or a feed failed
    for line in output.follow(restore):
        checks.line(line)
    if restore.poll() != 0:
        # A damaged file that ended early is the error to report, not what pg_restore made of it.
        feeds.release()
        feeds.check()
    _finish_pg_restore(restore, output, entry, database)
    feeds.finish()


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
