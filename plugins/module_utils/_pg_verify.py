# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a logical backup records to check a restore against, and the check.

For every user table: its row count and, up to `checksum_max_bytes` of table
size, a content checksum. The checksum is order independent, so it needs no
sort and no primary key:

    count(*), sum(hashtextextended(row text, 0))

summed as numeric (no overflow) and hashed into one hex string.
hashtextextended is PostgreSQL's 64-bit hash (the one hash partitioning
relies on, so it is stable across versions); it is about three times faster
than md5, which made the checksums cost more than the dump itself. Backups
recording the older md5 method are still checked with md5. The row text
is taken with the fixed session settings of _postgres (UTC, ISO dates, hex
bytea, exact floats), so equal rows give equal text on any server. Sequences
are recorded with their last value, large objects by count (and a checksum
of their content when the user may read them all and they fit the limit).

At backup time these queries run inside the snapshot that pg_dump dumps, so
the figures describe exactly the dumped data.
"""

from __future__ import annotations

import hashlib
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._errors import VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres import (
    SYSTEM_SCHEMAS,
    expect_row,
    identifier,
    query,
    query_one,
    sql,
)

CHECKSUM_METHOD = "hash-row-sum-v1"
MD5_METHOD = "md5-row-sum-v1"
CHECKSUM_METHODS = (CHECKSUM_METHOD, MD5_METHOD)
# Schemas whose tables are never user data.
_EXCLUDED_SCHEMA_PATTERN = "^(pg_toast|pg_temp_|pg_toast_temp_)"

TABLES_QUERY = """
    SELECT n.nspname, c.relname, pg_table_size(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND c.relpersistence <> 't'
      AND n.nspname <> ALL(%s) AND n.nspname !~ %s
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY pg_table_size(c.oid) DESC, n.nspname, c.relname
"""


def user_tables(connection: t.Any) -> list[tuple[str, str, int]]:
    """(schema, table, size in bytes) of every table holding user data, largest first."""
    return [(row[0], row[1], int(row[2])) for row in query(connection, TABLES_QUERY, (list(SYSTEM_SCHEMAS), _EXCLUDED_SCHEMA_PATTERN))]


def qualified(schema: str, table: str) -> str:
    """schema.table as people write it (quoted only where needed is left to psql; this is for messages)."""
    return f"{schema}.{table}"


def table_fingerprint(connection: t.Any, schema: str, table: str, checksum: bool,
                      method: str = CHECKSUM_METHOD) -> dict[str, t.Any]:
    name = identifier(schema, table)
    if not checksum:
        row = query_one(connection, sql.SQL("SELECT count(*) FROM ONLY {}").format(name))
        return {"rows": int(row[0]) if row else 0, "checksum": None}
    if method == MD5_METHOD:
        row = expect_row(query_one(connection, sql.SQL(
            "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0), "
            "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0) "
            "FROM (SELECT md5(t::text) AS h FROM ONLY {} AS t) AS rows"
        ).format(name)))
        digest = hashlib.sha256(f"{row[0]}:{row[1]}:{row[2]}".encode("ascii")).hexdigest()[:32]
    else:
        row = expect_row(query_one(connection, sql.SQL(
            "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM ONLY {} AS t"
        ).format(name)))
        digest = hashlib.sha256(f"{method}:{row[0]}:{row[1]}".encode("ascii")).hexdigest()[:32]
    return {"rows": int(row[0]), "checksum": digest}


def sequences(connection: t.Any) -> dict[str, t.Any]:
    """{schema.sequence: {last_value, increment}}. Sequences are not transactional: pg_dump reads them
    later than this, so a restore is checked for having reached at least these values."""
    rows = query(connection, """
        SELECT schemaname, sequencename, last_value, increment_by FROM pg_sequences
        WHERE schemaname <> ALL(%s) ORDER BY 1, 2
    """, (list(SYSTEM_SCHEMAS),))
    return {
        qualified(row[0], row[1]): {"last_value": int(row[2]) if row[2] is not None else None, "increment": int(row[3])}
        for row in rows
    }


def sequence_behind(recorded: t.Mapping[str, t.Any], restored: t.Mapping[str, t.Any] | None) -> bool:
    """Whether a restored sequence is missing or behind the value recorded at backup time."""
    if restored is None:
        return True
    want, got = recorded.get("last_value"), restored.get("last_value")
    if want is None:
        return False
    if got is None:
        return True
    return got < want if (recorded.get("increment") or 1) > 0 else got > want


def large_objects(connection: t.Any, max_bytes: int) -> dict[str, t.Any]:
    """Count of large objects, and a checksum of their content when readable and small enough."""
    row = query_one(connection, "SELECT count(*), pg_relation_size('pg_largeobject') FROM pg_largeobject_metadata")
    count, size = (int(row[0]), int(row[1])) if row else (0, 0)
    result: dict[str, t.Any] = {"count": count, "checksum": None}
    superuser = query_one(connection, "SELECT current_setting('is_superuser') = 'on'")
    if count and size <= max_bytes and superuser and superuser[0]:
        row = query_one(connection, """
            SELECT coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0),
                   coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)
            FROM (SELECT md5(m.oid::text || ':' || md5(lo_get(m.oid))) AS h FROM pg_largeobject_metadata m) AS objects
        """)
        row = expect_row(row)
        result["checksum"] = hashlib.sha256(f"{count}:{row[0]}:{row[1]}".encode("ascii")).hexdigest()[:32]
    return result


class Fingerprinter:
    """Fingerprints tables with several connections at once (largest tables first).

    `connect` opens a connection already positioned where the figures must
    be taken (a restored database, or a transaction importing the backup's
    snapshot). cancel() interrupts the queries in flight, for when the work
    around it failed.
    """

    def __init__(self, connect: t.Callable[[], t.Any], workers: int) -> None:
        self._connect = connect
        self._workers = max(1, workers)
        self._local = threading.local()
        self._connections: list[t.Any] = []
        self._guard = threading.Lock()
        self._cancelled = False

    def _connection(self) -> t.Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._guard:
                self._connections.append(connection)
                if self._cancelled:
                    connection.cancel()
        return connection

    def cancel(self) -> None:
        with self._guard:
            self._cancelled = True
            for connection in self._connections:
                connection.cancel()

    def close(self) -> None:
        with self._guard:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def one(self, schema: str, table: str, checksum: bool, method: str = CHECKSUM_METHOD) -> dict[str, t.Any]:
        """{rows, checksum} of one table, on this thread's connection."""
        return table_fingerprint(self._connection(), schema, table, checksum, method)

    def tables(self, tables: t.Sequence[tuple[str, str, bool]],
               method: str = CHECKSUM_METHOD) -> dict[str, dict[str, t.Any]]:
        """{schema.table: {rows, checksum}} for (schema, table, with_checksum) triples."""
        def one(item: tuple[str, str, bool]) -> tuple[str, dict[str, t.Any]]:
            schema, table, checksum = item
            return qualified(schema, table), self.one(schema, table, checksum, method)

        if not tables:
            return {}
        with ThreadPoolExecutor(max_workers=min(self._workers, len(tables)), thread_name_prefix="fingerprint") as pool:
            return dict(pool.map(one, tables))


def collect(fingerprinter: Fingerprinter, connection: t.Any, checksum_max_bytes: int) -> dict[str, t.Any]:
    """The verification data of a database (the connection and the fingerprinter see the same data)."""
    tables = user_tables(connection)
    fingerprints = fingerprinter.tables([(schema, table, size <= checksum_max_bytes) for schema, table, size in tables])
    return {
        "checksum_method": CHECKSUM_METHOD,
        "checksum_max_bytes": checksum_max_bytes,
        "tables": fingerprints,
        "sequences": sequences(connection),
        "large_objects": large_objects(connection, checksum_max_bytes),
    }


def checksum_method(expected: t.Mapping[str, t.Any], where: str) -> str:
    """The checksum method a backup's verification data uses (refused when unknown)."""
    method = expected.get("checksum_method") or MD5_METHOD
    if method not in CHECKSUM_METHODS:
        raise VerificationFailed(f"{where}: the backup's checksums use {method}, which this version of the collection "
                                 "does not know; restore with the version that took the backup or a newer one")
    return method


def compare_table(name: str, want: t.Mapping[str, t.Any], got: t.Mapping[str, t.Any], where: str) -> None:
    """Fail naming the table when its row count or checksum differs from the recorded one."""
    if want.get("rows") != got["rows"]:
        raise VerificationFailed(
            f"{where}: table {name} has {got['rows']} rows after the restore, the backup recorded {want.get('rows')}",
            table=name,
        )
    if want.get("checksum") and want["checksum"] != got["checksum"]:
        raise VerificationFailed(
            f"{where}: the content of table {name} differs from the backup (checksum {got['checksum']} "
            f"where the backup recorded {want['checksum']}, {got['rows']} rows each)", table=name,
        )


def compare(expected: t.Mapping[str, t.Any], fingerprinter: Fingerprinter, connection: t.Any,
            where: str, measured: t.Mapping[str, t.Mapping[str, t.Any]] | None = None) -> dict[str, t.Any]:
    """Fingerprint the restored database as the backup did and fail on the first difference, naming it.

    `measured` holds fingerprints already taken of tables whose content can no
    longer change (a restore checks each table as soon as its data is loaded);
    they are not read again.
    """
    recorded: dict[str, dict[str, t.Any]] = expected.get("tables") or {}
    present = {qualified(schema, table): (schema, table) for schema, table, _size in user_tables(connection)}
    missing = sorted(set(recorded) - set(present))
    if missing:
        raise VerificationFailed(
            f"{where}: table {missing[0]} of the backup is missing after the restore"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    method = checksum_method(expected, where)
    measured = measured or {}
    actual = dict(measured)
    actual.update(fingerprinter.tables(
        [(*present[name], bool(recorded[name].get("checksum"))) for name in sorted(recorded) if name not in measured],
        method))
    checked = {"tables": len(recorded), "rows": 0, "checksums": 0}
    for name in sorted(recorded):
        want, got = recorded[name], actual[name]
        compare_table(name, want, got, where)
        checked["rows"] += got["rows"]
        checked["checksums"] += 1 if want.get("checksum") else 0
    recorded_sequences = expected.get("sequences") or {}
    restored_sequences = sequences(connection)
    for name, value in sorted(recorded_sequences.items()):
        restored = restored_sequences.get(name)
        if sequence_behind(value, restored):
            raise VerificationFailed(
                f"{where}: sequence {name} is at {restored.get('last_value') if restored else 'missing'} after the "
                f"restore, the backup recorded {value.get('last_value')}", sequence=name,
            )
    checked["sequences"] = len(recorded_sequences)
    want_objects = expected.get("large_objects") or {}
    if want_objects:
        got_objects = large_objects(connection, 2 ** 62 if want_objects.get("checksum") else -1)
        if want_objects.get("count") != got_objects["count"] or (
                want_objects.get("checksum") and got_objects["checksum"] and want_objects["checksum"] != got_objects["checksum"]):
            raise VerificationFailed(
                f"{where}: the large objects differ from the backup ({got_objects['count']} restored, "
                f"{want_objects.get('count')} recorded, checksum {got_objects['checksum']} vs {want_objects.get('checksum')})"
            )
        checked["large_objects"] = got_objects["count"]
    return checked
