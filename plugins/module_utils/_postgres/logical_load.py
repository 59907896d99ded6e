# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading a logical backup into a new database, checked while it loads.

The dump directory is fetched from the repository (decrypted, decompressed,
every file verified), pg_restore loads it, and each table is checked against
the row counts and checksums recorded at backup time as soon as pg_restore
reports its data loaded (_TableChecks); the rest is checked when pg_restore
ends. A difference fails the restore before anything was replaced.
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
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import ConnectionParams, connect, connected, query
from ansible_collections.resilience.dr.plugins.module_utils._postgres.dump_stream import DUMP_DIRECTORY
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
        self.method = verify.checksum_method(expected, where)
        self.fingerprinter = verify.Fingerprinter(lambda: connect(params, database), workers)
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
        name = verify.qualified(schema, table)
        if name in self.recorded and name not in self.futures:
            self.futures[name] = self.pool.submit(self.fingerprinter.one, schema, table, self.recorded[name], self.method)

    def check(self) -> None:
        """Raise on the first difference among the tables checked so far."""
        for name, future in list(self.futures.items()):
            if future.done():
                verify.compare_table(name, self.recorded[name], future.result(), self.where)

    def finish(self) -> dict[str, t.Any]:
        """Check what is left (every table not checked yet, sequences, large objects); the counts checked."""
        measured = {name: future.result() for name, future in self.futures.items()}
        with connected(self.params, self.database) as connection:
            checked = verify.compare(self.expected, self.fingerprinter, connection, self.where, measured)
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
    manifest = entry.readable_manifest()
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


def restore_verified(repository: Repository, entry: BackupEntry, runner: CommandRunner, params: ConnectionParams,
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
