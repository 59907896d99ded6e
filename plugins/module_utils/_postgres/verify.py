# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a logical backup records to check a restore against, and the check.

For every user table: its row count and, up to `checksum_max_bytes` of table
size, a content checksum (method copy-sha256-v1): the SHA-256 of the table's
rows exactly as pg_dump wrote them, i.e. the text of

    COPY schema.table (columns pg_dump dumps) TO STDOUT

in the fixed session settings of connection.py (UTC, ISO dates, hex bytea, exact
floats), which pg_dump also runs with (connection.session_options). The backup
hashes the data files while storing them, so checksums cost the backup no
second read of the tables. A restore loads each table with one COPY in that
order, and the check reads it back the same way (synchronize_seqscans off,
so a scan starts at the table's first block).

Stored generated columns are not dumped (the restore computes them again), so
tables with such columns also get the order-independent row checksum of
every column, taken in the backup's snapshot:

    count(*), sum(hashtextextended(row text, 0))

summed as numeric and hashed into one hex string (hash-row-sum-v1: also the
table checksum of older backups, and the one of tables a dump has no data
file for). Backups recording the still older md5 method are checked with
md5. Sequences are recorded with their last value, large objects by count
(and a checksum of their content when the user may read them all and they
fit the limit).

At backup time every query runs inside the snapshot that pg_dump dumps, so
the figures describe exactly the dumped data.
"""

from __future__ import annotations

import hashlib
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._errors import VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    SYSTEM_SCHEMAS,
    expect_row,
    identifier,
    query,
    query_one,
    sql,
)

COPY_METHOD = "copy-sha256-v1"
ROW_SUM_METHOD = "hash-row-sum-v1"
MD5_METHOD = "md5-row-sum-v1"
CHECKSUM_METHODS = (COPY_METHOD, ROW_SUM_METHOD, MD5_METHOD)
# Hex digits kept of a table's SHA-256, by the backup's scan of its data file and by the restore's check alike.
DIGEST_LENGTH = 32
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


def table_oids(connection: t.Any) -> dict[int, tuple[str, str]]:
    """{oid: (schema, table)} of every table holding user data (pg_dump's table of contents names tables by oid)."""
    return {int(row[0]): (row[1], row[2]) for row in query(connection, TABLES_QUERY.replace(
        "SELECT n.nspname, c.relname, pg_table_size(c.oid)", "SELECT c.oid, n.nspname, c.relname"),
        (list(SYSTEM_SCHEMAS), _EXCLUDED_SCHEMA_PATTERN))}


def with_generated_columns(connection: t.Any) -> set[str]:
    """schema.table of every table with stored generated columns (their values are not in a dump)."""
    return {qualified(row[0], row[1]) for row in query(connection, """
        SELECT DISTINCT n.nspname, c.relname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attgenerated <> '' AND NOT a.attisdropped AND a.attnum > 0 AND c.relkind = 'r'
    """)}


def dumped_columns(connection: t.Any, schema: str, table: str) -> list[str]:
    """The columns pg_dump writes for a table, in its order: every column but dropped and generated ones."""
    return [row[0] for row in query(connection, """
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = %s AND c.relname = %s)
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum
    """, (schema, table))]


class RowsDigest:
    """SHA-256 and line count of COPY text rows, fed in pieces (each row ends with a newline)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.rows = 0

    def write(self, data: bytes) -> None:
        """Add whole rows."""
        self._digest.update(data)
        self.rows += data.count(b"\n")

    def add(self, buffer: bytearray, length: int) -> None:
        """Add the first `length` bytes of a buffer (read from a data file), without copying them."""
        with memoryview(buffer) as view:
            self._digest.update(view[:length])
        self.rows += buffer.count(b"\n", 0, length)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()[:DIGEST_LENGTH]


def qualified(schema: str, table: str) -> str:
    """schema.table as people write it (quoted only where needed is left to psql; this is for messages)."""
    return f"{schema}.{table}"


def _row_sum(connection: t.Any, name: t.Any, method: str) -> tuple[int, str]:
    """(rows, order-independent checksum of every column) of one table."""
    if method == MD5_METHOD:
        row = expect_row(query_one(connection, sql.SQL(
            "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0), "
            "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0) "
            "FROM (SELECT md5(t::text) AS h FROM ONLY {} AS t) AS rows"
        ).format(name)))
        return int(row[0]), hashlib.sha256(f"{row[0]}:{row[1]}:{row[2]}".encode("ascii")).hexdigest()[:32]
    row = expect_row(query_one(connection, sql.SQL(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM ONLY {} AS t"
    ).format(name)))
    return int(row[0]), hashlib.sha256(f"{ROW_SUM_METHOD}:{row[0]}:{row[1]}".encode("ascii")).hexdigest()[:32]


class _CopySink:
    """What psycopg2's copy_expert writes each row to: straight into a hash (a C call, no Python frame per row)."""

    def __init__(self, write: t.Callable[[bytes], None]) -> None:
        self.write = write


def _copy_digest(connection: t.Any, schema: str, table: str) -> tuple[int, str]:
    """(rows, SHA-256) of a table's rows as pg_dump writes them (COPY text of the dumped columns)."""
    columns = dumped_columns(connection, schema, table)
    statement = sql.SQL("COPY {} ({}) TO STDOUT").format(identifier(schema, table), sql.SQL(", ").join(map(identifier, columns)))
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        # As pg_dump reads: from the first block on (the order the restore's COPY loaded), in the database's
        # encoding, and every row or an error (row security off).
        cursor.execute("SELECT set_config('synchronize_seqscans', 'off', false), set_config('row_security', 'off', false), "
                       "set_config('client_encoding', current_setting('server_encoding'), false)")
        cursor.copy_expert(statement.as_string(connection), _CopySink(digest.update))
        rows = cursor.rowcount  # COPY's own count of the rows it sent
    return rows, digest.hexdigest()[:DIGEST_LENGTH]


def table_fingerprint(connection: t.Any, schema: str, table: str, wanted: t.Mapping[str, t.Any],
                      method: str = COPY_METHOD) -> dict[str, t.Any]:
    """{rows, checksum, row_checksum} of one table; the checksums only where `wanted` (a table's
    verification data, or {"checksum": True} ...) has them, checksum by `method`."""
    name = identifier(schema, table)
    result: dict[str, t.Any] = {"rows": None, "checksum": None}
    if wanted.get("row_checksum"):
        result["rows"], result["row_checksum"] = _row_sum(connection, name, ROW_SUM_METHOD)
    if wanted.get("checksum"):
        if method == COPY_METHOD:
            result["rows"], result["checksum"] = _copy_digest(connection, schema, table)
        else:
            result["rows"], result["checksum"] = _row_sum(connection, name, method)
    if result["rows"] is None:
        row = query_one(connection, sql.SQL("SELECT count(*) FROM ONLY {}").format(name))
        result["rows"] = int(row[0]) if row else 0
    return result


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

    def one(self, schema: str, table: str, wanted: t.Mapping[str, t.Any], method: str = COPY_METHOD) -> dict[str, t.Any]:
        """{rows, checksum, ...} of one table (see table_fingerprint), on this thread's connection."""
        return table_fingerprint(self._connection(), schema, table, wanted, method)

    def tables(self, tables: t.Sequence[tuple[str, str, t.Mapping[str, t.Any]]],
               method: str = COPY_METHOD) -> dict[str, dict[str, t.Any]]:
        """{schema.table: {rows, checksum, ...}} for (schema, table, wanted) triples."""
        def one(item: tuple[str, str, t.Mapping[str, t.Any]]) -> tuple[str, dict[str, t.Any]]:
            schema, table, wanted = item
            return qualified(schema, table), self.one(schema, table, wanted, method)

        if not tables:
            return {}
        with ThreadPoolExecutor(max_workers=min(self._workers, len(tables)), thread_name_prefix="fingerprint") as pool:
            return dict(pool.map(one, tables))


def generated_fingerprints(fingerprinter: Fingerprinter, connection: t.Any, checksum_max_bytes: int) -> dict[str, t.Any]:
    """Row checksums of the tables with stored generated columns (values a dump does not hold), in the snapshot."""
    generated = with_generated_columns(connection)
    return fingerprinter.tables([(schema, table, {"row_checksum": True}) for schema, table, size in user_tables(connection)
                                 if qualified(schema, table) in generated and size <= checksum_max_bytes])


def collect(fingerprinter: Fingerprinter, connection: t.Any, checksum_max_bytes: int,
            dumped: t.Mapping[str, tuple[int | None, str | None]], generated: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The verification data of a database (the connection and the fingerprinter see the same data).

    `dumped` holds (rows, digest) of every table pg_dump wrote a data file for,
    measured while the file was stored (digest None when the file's end was not
    as expected); `generated` the result of generated_fingerprints. Tables
    without a usable data file are fingerprinted in the snapshot now.
    """
    recorded: dict[str, dict[str, t.Any]] = {}
    missing = []
    for schema, table, size in user_tables(connection):
        name = qualified(schema, table)
        checksum = size <= checksum_max_bytes
        rows, digest = dumped.get(name, (None, None))
        if rows is None or (checksum and digest is None):
            missing.append((schema, table, {"row_checksum": checksum}))
            continue
        recorded[name] = {"rows": rows, "checksum": digest if checksum else None}
        if name in generated:
            recorded[name]["row_checksum"] = generated[name]["row_checksum"]
    for name, fingerprint in fingerprinter.tables(missing).items():
        recorded[name] = {"rows": fingerprint["rows"], "checksum": None, "row_checksum": fingerprint.get("row_checksum")}
    return {
        "checksum_method": COPY_METHOD,
        "checksum_max_bytes": checksum_max_bytes,
        "tables": recorded,
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
    for key in ("checksum", "row_checksum"):
        if want.get(key) and want[key] != got.get(key):
            raise VerificationFailed(
                f"{where}: the content of table {name} differs from the backup ({key} {got.get(key)} "
                f"where the backup recorded {want[key]}, {got['rows']} rows each)", table=name,
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
        [(*present[name], recorded[name]) for name in sorted(recorded) if name not in measured], method))
    checked = {"tables": len(recorded), "rows": 0, "checksums": 0}
    for name in sorted(recorded):
        want, got = recorded[name], actual[name]
        compare_table(name, want, got, where)
        checked["rows"] += got["rows"]
        checked["checksums"] += 1 if want.get("checksum") or want.get("row_checksum") else 0
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
