# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Realistic PostgreSQL databases for the benchmarks, in two data sets:

text            customers, orders and events with varied text (Zipf-distributed
                words), numbers, timestamps and jsonb — not pgbench's blank
                padding, which compresses to nothing and hides the cost of
                compression;
incompressible  what compresses poorly: API tokens and signatures in random hex,
                UUIDs, and attachments (bytea) of random and of already
                compressed bytes; about as large a dump as the text set at the
                same scale.

Generated once by COPY from Python (two tables at a time, one per core) and
kept between runs: the database carries a comment naming its data set,
version and scale, and is rebuilt only when they change.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import multiprocessing
import random
import typing as t
import uuid
import zlib
from dataclasses import dataclass

VERSION = "bench-data-v1"
TABLES = """
CREATE TABLE customers (
  id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, country char(2) NOT NULL,
  signup_at timestamptz NOT NULL, tier text NOT NULL, lifetime_value numeric(12,2) NOT NULL,
  notes text, preferences jsonb NOT NULL);
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id bigint NOT NULL, placed_at timestamptz NOT NULL, status text NOT NULL,
  amount numeric(10,2) NOT NULL, currency char(3) NOT NULL, shipping_address text NOT NULL, items jsonb NOT NULL,
  note text);
CREATE TABLE events (
  id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, customer_id bigint, kind text NOT NULL,
  payload jsonb NOT NULL, message text);
"""
INDEXES = """
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_placed_at ON orders (placed_at);
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX customers_email ON customers (email);
ANALYZE;
"""
# Rows per table at scale 1.0: about 1.1 GB of tables and indexes.
ROWS = {"customers": 500_000, "orders": 1_900_000, "events": 1_700_000}


class _Words:
    def __init__(self, rng: random.Random) -> None:
        syllables = ["ka", "lo", "mi", "ne", "ra", "tu", "shi", "po", "ve", "den", "mar", "sol", "tri", "an", "el",
                     "or", "ust", "qua", "bri", "zen", "ba", "co", "di", "fe", "gu", "ha", "jo", "ki", "lu", "mo"]
        endings = ["", "s", "er", "ing", "ed", "ly", "ion", "t", "a", "en"]
        vocabulary = sorted({"".join(rng.choice(syllables) for _syllable in range(rng.randint(1, 4))) + rng.choice(endings)
                             for _word in range(40000)})
        rng.shuffle(vocabulary)
        self.vocabulary = vocabulary[:20000]
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(self.vocabulary))))
        self.rng = rng

    def __call__(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=self.rng.randint(low, high)))


def _time(rng: random.Random, year_from: int, years: int) -> str:
    return (f"{rng.randint(year_from, year_from + years - 1)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}+00")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def rows(table: str, count: int, seed: int) -> t.Iterator[str]:
    """COPY text lines of one table of the text data set."""
    rng = random.Random(seed)
    words = _Words(rng)
    customers = ROWS["customers"]
    for number in range(1, count + 1):
        if table == "customers":
            notes = words(3, 25) if rng.random() < 0.6 else "\\N"
            preferences = json.dumps({"newsletter": rng.random() < 0.3, "language": rng.choice(["en", "de", "fr", "es"]),
                                      "theme": rng.choice(["light", "dark", "auto"]), "score": rng.randint(0, 999)})
            yield (f"{number}\t{words(2, 3).title()}\tuser{number}@{rng.choice(['example.com', 'mail.test', 'corp.example'])}\t"
                   f"{rng.choice(['DE', 'US', 'FR', 'GB', 'NL', 'SE', 'ES', 'IT', 'PL', 'CA'])}\t{_time(rng, 2019, 7)}\t"
                   f"{rng.choice(['free', 'free', 'basic', 'pro', 'enterprise'])}\t{rng.random() * rng.random() * 20000:.2f}\t"
                   f"{notes}\t{_escape(preferences)}\n")
        elif table == "orders":
            items = json.dumps([{"sku": f"SKU-{rng.randint(1, 50000):05d}", "qty": rng.randint(1, 5),
                                 "price": round(rng.random() * 200, 2)} for _item in range(rng.randint(1, 4))])
            note = words(2, 12) if rng.random() < 0.25 else "\\N"
            yield (f"{number}\t{rng.randint(1, customers)}\t{_time(rng, 2022, 5)}\t"
                   f"{rng.choice(['paid', 'paid', 'pending', 'shipped', 'delivered', 'refunded', 'cancelled'])}\t"
                   f"{5 + rng.random() * rng.random() * 900:.2f}\t{rng.choice(['EUR', 'USD', 'GBP'])}\t"
                   f"{rng.randint(1, 300)} {words(1, 2).title()} Street, {rng.randint(1, 99999):05d} {words(1, 1).title()}\t"
                   f"{_escape(items)}\t{note}\n")
        else:
            payload = json.dumps({
                "path": "/" + words(1, 3).replace(" ", "/"), "ms": int(rng.random() * rng.random() * 3000),
                "status": rng.choice([200, 200, 200, 200, 201, 204, 301, 404, 500]),
                "agent": rng.choice(["Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1)",
                                     "curl/8.4.0", "okhttp/4.12"]),
                "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
            })
            customer = rng.randint(1, customers) if rng.random() < 0.9 else "\\N"
            message = words(4, 20) if rng.random() < 0.5 else "\\N"
            yield (f"{number}\t{_time(rng, 2025, 2)}\t{customer}\t"
                   f"{rng.choice(['page_view', 'page_view', 'page_view', 'search', 'add_to_cart', 'checkout', 'login', 'api_call', 'error'])}\t"
                   f"{_escape(payload)}\t{message}\n")


INCOMPRESSIBLE_VERSION = "bench-data-incompressible-v1"
INCOMPRESSIBLE_TABLES = """
CREATE TABLE api_tokens (
  id bigint PRIMARY KEY, token_uuid uuid NOT NULL, account_uuid uuid NOT NULL, token_hash text NOT NULL,
  signature text NOT NULL, issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE attachments (
  id bigint PRIMARY KEY, attachment_uuid uuid NOT NULL, media_type text NOT NULL, sha256 text NOT NULL,
  body bytea NOT NULL);
"""
INCOMPRESSIBLE_INDEXES = """
CREATE INDEX api_tokens_account_uuid ON api_tokens (account_uuid);
CREATE UNIQUE INDEX attachments_attachment_uuid ON attachments (attachment_uuid);
ANALYZE;
"""
# Rows per table at scale 1.0: a dump of about 1 GB, half each (api_tokens about 330 bytes a row, attachments
# about 6.3 kB: bytea is dumped as hex, two characters a byte).
INCOMPRESSIBLE_ROWS = {"api_tokens": 1_450_000, "attachments": 75_000}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(bytes=rng.randbytes(16), version=4))


def _attachment_body(rng: random.Random, words: _Words) -> tuple[str, bytes]:
    """(media type, content): random bytes (encrypted or media files) or deflated text (PDF, docx, gzip)."""
    if rng.random() < 0.5:
        return rng.choice(["image/jpeg", "video/mp4", "application/octet-stream"]), rng.randbytes(rng.randint(512, 6144))
    return rng.choice(["application/pdf", "application/gzip", "application/vnd.openxmlformats"]), \
        zlib.compress(words(200, 1600).encode("utf-8"), 6)


def incompressible_rows(table: str, count: int, seed: int) -> t.Iterator[str]:
    """COPY text lines of one table of the incompressible data set."""
    rng = random.Random(seed)
    words = _Words(rng)
    for number in range(1, count + 1):
        if table == "api_tokens":
            yield (f"{number}\t{_uuid(rng)}\t{_uuid(rng)}\t{rng.randbytes(32).hex()}\t{rng.randbytes(64).hex()}\t"
                   f"{_time(rng, 2024, 2)}\t{_time(rng, 2026, 2)}\n")
        else:
            media_type, body = _attachment_body(rng, words)
            yield (f"{number}\t{_uuid(rng)}\t{media_type}\t{hashlib.sha256(body).hexdigest()}\t"
                   f"\\\\x{body.hex()}\n")


@dataclass(frozen=True)
class DataSet:
    """One benchmark data set: its schema, rows per table at scale 1.0, and the generator of their COPY lines."""

    version: str
    tables: str
    indexes: str
    rows: dict[str, int]
    generate: t.Callable[[str, int, int], t.Iterator[str]]


DATA_SETS = {
    "text": DataSet(VERSION, TABLES, INDEXES, ROWS, rows),
    "incompressible": DataSet(INCOMPRESSIBLE_VERSION, INCOMPRESSIBLE_TABLES, INCOMPRESSIBLE_INDEXES,
                              INCOMPRESSIBLE_ROWS, incompressible_rows),
}


class _LineReader(io.RawIOBase):
    """A file-like view of an iterator of lines, for copy_expert."""

    def __init__(self, lines: t.Iterator[str]) -> None:
        self._lines = lines
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        while size < 0 or len(self._buffer) < size:
            chunk = "".join(itertools.islice(self._lines, 2000))
            if not chunk:
                break
            self._buffer += chunk.encode("utf-8")
        data, self._buffer = (self._buffer, b"") if size < 0 else (self._buffer[:size], self._buffer[size:])
        return data


def _load(arguments: tuple[dict[str, t.Any], str, str, str, int, int]) -> None:
    import psycopg2  # pylint: disable=import-outside-toplevel

    libpq, database, data_set, table, count, seed = arguments
    lines = DATA_SETS[data_set].generate(table, count, seed)
    connection = psycopg2.connect(dbname=database, **libpq)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} FROM STDIN", _LineReader(lines), size=1 << 20)
        connection.commit()
    finally:
        connection.close()


def ensure_database(libpq: dict[str, t.Any], database: str, scale: float = 1.0, data_set: str = "text") -> int:
    """Create (once) the benchmark database of a data set (DATA_SETS); returns its size in bytes."""
    import psycopg2  # pylint: disable=import-outside-toplevel

    chosen = DATA_SETS[data_set]
    tag = f"{chosen.version} scale {scale}"
    admin = psycopg2.connect(dbname="postgres", **libpq)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (database,))
        found = cursor.fetchone()
        if found is None or found[0] != tag:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
            connection = psycopg2.connect(dbname=database, **libpq)
            with connection, connection.cursor() as tables:
                tables.execute(chosen.tables)
            connection.close()
            work = [(libpq, database, data_set, table, int(count * scale), seed)
                    for seed, (table, count) in enumerate(chosen.rows.items())]
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                pool.map(_load, work)
            connection = psycopg2.connect(dbname=database, **libpq)
            connection.autocommit = True
            with connection.cursor() as indexes:
                indexes.execute(chosen.indexes)
            connection.close()
            cursor.execute(f"COMMENT ON DATABASE \"{database}\" IS %s", (tag,))
        cursor.execute("SELECT pg_database_size(%s)", (database,))
        size = int(cursor.fetchone()[0])
    admin.close()
    return size
