# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the PostgreSQL tests: the lab's primary cluster, throwaway
databases and roles with unique names (dropped afterwards, whatever happened),
and a checksum of a database's content computed independently of the
collection's own verification.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import typing as t
import uuid
from pathlib import Path

import psycopg2
import pytest

PGBENCH_SCALE = 1


class Pg:
    """The lab's primary PostgreSQL: module options and direct connections for seeding and checking."""

    def __init__(self, facts: dict[str, t.Any]) -> None:
        self.facts = facts
        self.port = facts["port"]

    @property
    def login(self) -> dict[str, t.Any]:
        return {"login_host": self.facts["host"], "login_port": self.port, "login_user": self.facts["user"],
                "login_password": self.facts["password"]}

    def connect(self, database: str = "postgres", port: int | None = None) -> t.Any:
        connection = psycopg2.connect(host=self.facts["host"], port=port or self.port, user=self.facts["user"],
                                      password=self.facts["password"], dbname=database)
        connection.autocommit = True
        return connection

    def execute(self, database: str, statement: str, arguments: t.Any = None, port: int | None = None) -> list[tuple]:
        with contextlib.closing(self.connect(database, port)) as connection, connection.cursor() as cursor:
            cursor.execute(statement, arguments)
            return cursor.fetchall() if cursor.description else []

    def databases(self, prefix: str) -> list[str]:
        return [row[0] for row in self.execute("postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                                               (prefix + "%",))]

    def drop_database(self, name: str) -> None:
        self.execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_role(self, name: str) -> None:
        for database in self.execute("postgres", "SELECT datname FROM pg_database WHERE datallowconn"):
            with contextlib.suppress(psycopg2.Error):
                self.execute(database[0], f'DROP OWNED BY "{name}"')
        self.execute("postgres", f'DROP ROLE IF EXISTS "{name}"')

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PGHOST": self.facts["host"], "PGPORT": str(self.port), "PGUSER": self.facts["user"],
                "PGPASSWORD": self.facts["password"]}

    def content_checksum(self, database: str, port: int | None = None) -> dict[str, str]:
        """md5 of every user table's rows in a fixed order, every sequence, every large object."""
        result = {}
        tables = self.execute(database, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1""", port=port)
        for (table,) in tables:
            rows = self.execute(database, f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t",
                                port=port)
            result[table] = rows[0][0]
        for name, value in self.execute(database, "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1", port=port):
            result[f"sequence {name}"] = str(value)
        result["large objects"] = self.execute(
            database, "SELECT md5(coalesce(string_agg(md5(lo_get(oid)), ',' ORDER BY oid), '')) FROM pg_largeobject_metadata",
            port=port)[0][0]
        return result


class RowWriter(threading.Thread):
    """Commits one row (the table's defaults, a timestamp) every `interval` seconds until halted, as an
    application (or the drill's heartbeat) would; a database error ends it and is kept in `error`."""

    def __init__(self, pg: Pg, database: str, table: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.pg, self.database, self.table, self.interval = pg, database, table, interval
        self.halt = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with contextlib.closing(self.pg.connect(self.database)) as connection, connection.cursor() as cursor:
                while not self.halt.is_set():
                    cursor.execute(f"INSERT INTO {self.table} DEFAULT VALUES")
                    self.halt.wait(self.interval)
        except psycopg2.Error as error:
            self.error = error


@pytest.fixture(scope="session")
def pg(lab: dict[str, t.Any]) -> Pg:
    return Pg(lab["sites"]["primary"]["postgresql"])


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cleanup_databases(pg: Pg) -> t.Iterator[list[str]]:
    """Prefixes of database names to drop after the test (every database starting with one)."""
    prefixes: list[str] = []
    yield prefixes
    for prefix in prefixes:
        for name in pg.databases(prefix):
            pg.drop_database(name)


@pytest.fixture
def cleanup_roles(pg: Pg) -> t.Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        pg.drop_role(name)


def seed_database(pg: Pg, name: str, reader_role: str) -> None:
    """A pgbench database plus a table of every common type, a large object, a view, a function,
    an extra sequence, and a role with grants."""
    pg.execute("postgres", f'CREATE DATABASE "{name}"')
    subprocess.run(["pgbench", "-i", "-q", "-s", str(PGBENCH_SCALE), "-n", name], env=pg.environment(), check=True,
                   capture_output=True)
    pg.execute("postgres", f'CREATE ROLE "{reader_role}" LOGIN PASSWORD %s', (uuid.uuid4().hex,))
    pg.execute(name, f"""
        CREATE TABLE every_type (
            id bigserial PRIMARY KEY, label text, amount numeric(12, 3), ratio double precision, born date,
            at timestamptz, span interval, flags boolean[], tags text[], doc json, attrs jsonb, blob bytea,
            ident uuid, addr inet, big bigint, small smallint, ch char(3));
        INSERT INTO every_type (label, amount, ratio, born, at, span, flags, tags, doc, attrs, blob, ident, addr,
                                big, small, ch)
        SELECT 'row ' || i || ' é ✓', i * 1.125, i / 7.0, date '2000-01-01' + i, timestamptz '2026-01-01 00:00+02' + i * interval '1 minute',
               i * interval '1 second', ARRAY[i % 2 = 0, NULL], ARRAY['a' || i, 'b'], ('{{"i": ' || i || '}}')::json,
               jsonb_build_object('i', i, 'nested', jsonb_build_array(i, 'x')), decode(md5(i::text), 'hex'),
               md5(i::text)::uuid, ('10.0.' || (i % 255) || '.1')::inet, i::bigint * 1000000007, (i % 1000)::smallint,
               'c' || (i % 10)
        FROM generate_series(1, 2000) AS i;
        INSERT INTO every_type (label) VALUES (NULL);
        CREATE SEQUENCE invoice_numbers START 1000;
        SELECT nextval('invoice_numbers') FROM generate_series(1, 5);
        CREATE VIEW big_accounts AS SELECT aid, abalance FROM pgbench_accounts WHERE abalance > 0;
        CREATE FUNCTION label_length(text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT length($1)';
        SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));
        GRANT SELECT ON every_type TO "{reader_role}";
        GRANT USAGE ON SEQUENCE invoice_numbers TO "{reader_role}";
    """)
    # Some history in pgbench's tables, so that balances and the history table are not uniform.
    subprocess.run(["pgbench", "-n", "-t", "200", "-c", "2", name], env=pg.environment(), check=True, capture_output=True)


def pg_dump_pids(database: str) -> list[int]:
    """The leading pg_dump processes dumping `database` (found by PGDATABASE in their environment)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="utf-8") as handle:
                if handle.read().strip() != "pg_dump":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if b"--format=directory" not in handle.read():
                    continue
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environment = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{parent}/comm", encoding="utf-8") as handle:
                parent_name = handle.read().strip()
        except (OSError, ValueError):
            continue
        if f"PGDATABASE={database}".encode() in environment and parent_name != "pg_dump":
            found.append(int(entry))
    return found


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def server_log(lab: dict) -> Path:
    """The file the primary's server writes its log to now: the lab starts it with its log_file, but a physical
    restore (a drill) restarts it with a log of its own."""
    data_dir = Path(lab["sites"]["primary"]["postgresql"]["data_dir"])
    postmaster = (data_dir / "postmaster.pid").read_text().split()[0]
    return Path(os.readlink(f"/proc/{postmaster}/fd/2"))
