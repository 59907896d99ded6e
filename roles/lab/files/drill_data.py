# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data for disaster drills on the lab: load it, fingerprint it, keep a heartbeat.

    drill_data.py load --size small          # orders, pgbench tables, Redis keys, uploads
    drill_data.py fingerprint                # JSON digest of everything a restore must bring back
    drill_data.py fingerprint --only postgresql   # ... of PostgreSQL alone (a cluster recovered elsewhere)
    drill_data.py heartbeat --pidfile F      # a committed row, a Redis key and a file every second
    drill_data.py newest-heartbeat           # JSON: the newest heartbeat PostgreSQL, Redis and the uploads hold
    drill_data.py bad-write                  # a faulty release: overwrite some rows, Redis keys and uploads
    drill_data.py damage-left                # JSON: how many rows, keys and files still hold its values
    drill_data.py acked-writer --pidfile F --log L   # numbered writes every 0.25 s, each logged once the server
                                             # acknowledged it (or refused it)
    drill_data.py check-acked --log L        # JSON: which acknowledged writes the servers are missing

Connections come from the environment (DRILL_PG_HOST, DRILL_PG_PORT, DRILL_PG_USER,
DRILL_PG_DB, DRILL_REDIS_HOST, DRILL_REDIS_PORT, DRILL_UPLOADS), never from the command
line. The passwords come from files: libpq's PGPASSFILE, and DRILL_REDIS_PASSWORD_FILE
(DRILL_REDIS_PASSWORD and PGPASSWORD are still read when no file is given).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg2
import redis

# Rows, keys and files per size; "small" keeps a CI drill to a few minutes on 2 cores. "large" is the
# performance drill: PostgreSQL over 2 GiB on disk (pg_database_size), a million Redis keys and over 2 GiB of
# uploads (incompressible, as PDFs and images are). An upload is upload_bytes plus up to upload_spread more.
SIZES = {
    "small": {"pgbench_scale": 2, "orders": 5_000, "redis_keys": 20_000, "uploads": 50,
              "upload_bytes": 2_000, "upload_spread": 50_000},
    "medium": {"pgbench_scale": 20, "orders": 100_000, "redis_keys": 200_000, "uploads": 500,
               "upload_bytes": 2_000, "upload_spread": 50_000},
    "large": {"pgbench_scale": 140, "orders": 1_000_000, "redis_keys": 1_000_000, "uploads": 2_000,
              "upload_bytes": 1_048_576, "upload_spread": 262_144},
}
# Rows of a table hashed together: one block's text stays far below PostgreSQL's 1 GB limit of a value.
FINGERPRINT_BLOCK = 200_000
# Redis commands sent per round trip while loading.
REDIS_BATCH = 10_000
HEARTBEAT_KEY = "drill:heartbeat"
# What the faulty release of the bad_write drill writes: every tenth order, session and upload.
BAD_VALUE = "faulty-release"
BAD_SHARE = 10
HEARTBEAT_FILE = ".drill-heartbeat"
ACKED_TABLE = "drill_acked_writes"
ACKED_KEY = "drill:acked:"


def pg():
    connection = psycopg2.connect(
        host=os.environ["DRILL_PG_HOST"], port=int(os.environ["DRILL_PG_PORT"]), user=os.environ["DRILL_PG_USER"],
        dbname=os.environ["DRILL_PG_DB"], connect_timeout=5,
    )
    connection.autocommit = True
    return connection


def redis_password() -> str | None:
    path = os.environ.get("DRILL_REDIS_PASSWORD_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get("DRILL_REDIS_PASSWORD")


def cache() -> redis.Redis:
    return redis.Redis(host=os.environ["DRILL_REDIS_HOST"], port=int(os.environ["DRILL_REDIS_PORT"]),
                       password=redis_password(), socket_timeout=10)


def uploads() -> Path:
    return Path(os.environ["DRILL_UPLOADS"])


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def load(size: str) -> dict:
    """Load the data set of `size` and say how long each store took (seconds) and how big it is."""
    settings = SIZES[size]
    started = time.monotonic()
    environment = dict(os.environ, PGHOST=os.environ["DRILL_PG_HOST"], PGPORT=os.environ["DRILL_PG_PORT"],
                       PGUSER=os.environ["DRILL_PG_USER"])
    # Server-side generation (G): the rows never travel through the client, which keeps "large" to minutes.
    subprocess.run(["/usr/lib/postgresql/15/bin/pgbench", "--initialize", "--quiet", "--init-steps=dtGvp",
                    f"--scale={settings['pgbench_scale']}", os.environ["DRILL_PG_DB"]],
                   env=environment, check=True, capture_output=True)
    with pg() as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, customer_id integer NOT NULL,"
                       " total numeric(12, 2) NOT NULL, status text NOT NULL,"
                       " created_at timestamptz NOT NULL DEFAULT now())")
        cursor.execute("TRUNCATE orders")
        cursor.execute(
            "INSERT INTO orders (customer_id, total, status) SELECT (g %% 997) + 1, round((g %% 10007) / 7.0, 2),"
            " (ARRAY['new', 'paid', 'shipped'])[(g %% 3) + 1] FROM generate_series(1, %s) AS g", (settings["orders"],))
        cursor.execute("CREATE TABLE IF NOT EXISTS drill_heartbeat (beat timestamptz PRIMARY KEY)")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC")
        cursor.execute("SELECT pg_database_size(current_database())")
        database_bytes = cursor.fetchone()[0]
    postgresql_done = time.monotonic()
    load_redis(settings["redis_keys"])
    redis_done = time.monotonic()
    upload_bytes = load_uploads(settings)
    return {"size": size, **settings, "seconds": round(time.monotonic() - started, 1),
            "postgresql_seconds": round(postgresql_done - started, 1), "postgresql_bytes": database_bytes,
            "redis_seconds": round(redis_done - postgresql_done, 1),
            "uploads_seconds": round(time.monotonic() - redis_done, 1), "uploads_bytes": upload_bytes}


def load_redis(keys: int) -> None:
    """The sessions: one key per session, every tenth with a day's TTL, sent in large pipelines."""
    randomness = random.Random(42)
    client = cache()
    client.flushdb()
    pipeline = client.pipeline(transaction=False)
    for number in range(keys):
        key = f"session:{number:08d}"
        value = f"user={number % 5000};cart={randomness.randrange(1_000_000)}"
        if number % 10 == 0:
            pipeline.set(key, value, ex=86_400)
        else:
            pipeline.set(key, value)
        if number % REDIS_BATCH == REDIS_BATCH - 1:
            pipeline.execute()
    pipeline.execute()


def load_uploads(settings: dict) -> int:
    """The uploads, random bytes written in one call per file; returns their total size."""
    randomness = random.Random(42)
    root = uploads()
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    # A smaller data set after a larger one: the receipts beyond this size's count go.
    for stale in root.glob("[0-9][0-9]/receipt-*.pdf"):
        if int(stale.stem.split("-")[1]) >= settings["uploads"]:
            stale.unlink()
    for number in range(settings["uploads"]):
        folder = root / f"{number % 10:02d}"
        folder.mkdir(exist_ok=True)
        size = settings["upload_bytes"] + number * 37 % settings["upload_spread"]
        (folder / f"receipt-{number:05d}.pdf").write_bytes(randomness.randbytes(size))
        total += size
    return total


STORES = ("postgresql", "redis", "files")


def fingerprint(stores: tuple[str, ...] = STORES) -> dict:
    """What a restore must bring back, excluding the heartbeat (which keeps moving)."""
    digest: dict = {}
    if "postgresql" in stores:
        digest.update(pg_fingerprint())
    if "redis" in stores:
        digest.update(redis_fingerprint())
    if "files" in stores:
        digest.update(files_fingerprint())
    return digest


def pg_fingerprint() -> dict:
    """Row count and an MD5 over every row of each table, in key order, hashed in blocks of keys."""
    digest = {}
    with pg() as connection, connection.cursor() as cursor:
        for table, order in (("orders", "id"), ("pgbench_accounts", "aid"), ("pgbench_branches", "bid"),
                             ("pgbench_tellers", "tid")):
            cursor.execute(
                f"SELECT coalesce(sum(rows), 0), md5(coalesce(string_agg(block, ',' ORDER BY number), ''))"
                f" FROM (SELECT {order} / %s AS number, count(*) AS rows,"
                f" md5(string_agg(t::text, ',' ORDER BY {order})) AS block FROM {table} AS t GROUP BY 1) AS blocks",
                (FINGERPRINT_BLOCK,))
            count, checksum = cursor.fetchone()
            digest[f"postgresql.{table}"] = {"rows": int(count), "md5": checksum}
    return digest


def redis_fingerprint() -> dict:
    client = cache()
    keys = sorted(key for key in client.scan_iter(match="session:*", count=5_000))
    hasher = hashlib.sha256()
    for start in range(0, len(keys), 5_000):
        for key, value in zip(keys[start:start + 5_000], client.mget(keys[start:start + 5_000])):
            hasher.update(key + b"=" + (value or b"") + b"\n")
    return {"redis.sessions": {"keys": len(keys), "sha256": hasher.hexdigest()}}


def files_fingerprint() -> dict:
    files = sorted(path for path in uploads().rglob("*") if path.is_file() and not path.name.startswith("."))
    hasher = hashlib.sha256()
    for path in files:
        content = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content.update(block)
        hasher.update(str(path.relative_to(uploads())).encode() + b"\0" + content.digest())
    return {"files.uploads": {"files": len(files), "sha256": hasher.hexdigest()}}


def heartbeat(pidfile: Path, limit: float) -> None:
    pidfile.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + limit
    connection = client = None
    while time.monotonic() < deadline:
        beat = now_iso()
        try:
            connection = connection or pg()
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO drill_heartbeat (beat) VALUES (%s) ON CONFLICT DO NOTHING", (beat,))
        except psycopg2.Error:
            connection = None  # the disaster took the database away; keep beating for Redis
        try:
            client = client or cache()
            client.set(HEARTBEAT_KEY, beat)
        except redis.RedisError:
            client = None
        try:
            marker = uploads() / HEARTBEAT_FILE
            partial = marker.with_suffix(".partial")
            partial.write_text(beat)
            partial.replace(marker)
        except OSError:
            pass  # the uploads are gone (the disaster); the other heartbeats go on
        time.sleep(1 - time.time() % 1)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def acked_writer(pidfile: Path, log: Path, interval: float, limit: float) -> None:
    """Write numbered rows and Redis keys, and log each one only once its server acknowledged it.

    A line of the log is "<store> ack <n> <time>" after the commit (or SET) returned, and "<store> refused <n>
    <time> <error>" when it failed: a write whose outcome is unknown (the connection broke) is not acknowledged.
    The log is flushed after every line, so whatever the writer acknowledged is in it when it is stopped.
    """
    pidfile.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + limit
    connection = client = None
    with pg() as setup, setup.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {ACKED_TABLE} (id text PRIMARY KEY, written timestamptz NOT NULL)")
    setup.close()
    # Each run numbers its writes under its own prefix: the tables and keys of earlier drills stay.
    run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    with log.open("a", encoding="utf-8") as out:
        count = 0
        while time.monotonic() < deadline:
            count += 1
            number = f"{run}-{count}"
            moment = now_iso()
            try:
                connection = connection or pg()
                with connection.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {ACKED_TABLE} (id, written) VALUES (%s, %s)", (number, moment))
                out.write(f"postgresql ack {number} {moment}\n")
            except psycopg2.Error as error:
                out.write(f"postgresql refused {number} {moment} {_first_line(error)}\n")
                connection = None
            try:
                client = client or cache()
                client.set(f"{ACKED_KEY}{number}", moment)
                out.write(f"redis ack {number} {moment}\n")
            except redis.RedisError as error:
                out.write(f"redis refused {number} {moment} {_first_line(error)}\n")
                if not isinstance(error, redis.ResponseError):
                    client = None
            out.flush()
            time.sleep(interval)


def check_acked(log: Path) -> dict:
    """Every write the log says was acknowledged, looked up on the servers; the missing ones named."""
    acknowledged: dict[str, list[str]] = {"postgresql": [], "redis": []}
    refused: dict[str, int] = {"postgresql": 0, "redis": 0}
    refusals: dict[str, dict[str, int]] = {"postgresql": {}, "redis": {}}
    for line in log.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ", 4)
        if len(parts) < 4 or parts[0] not in acknowledged:
            continue
        if parts[1] == "ack":
            acknowledged[parts[0]].append(parts[2])
        else:
            refused[parts[0]] += 1
            reason = parts[4] if len(parts) > 4 else ""
            refusals[parts[0]][reason] = refusals[parts[0]].get(reason, 0) + 1
    with pg() as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {ACKED_TABLE} WHERE id = ANY(%s)", (acknowledged["postgresql"],))
        present = {row[0] for row in cursor.fetchall()}
    connection.close()
    missing = {"postgresql": sorted(set(acknowledged["postgresql"]) - present)}
    pipeline = cache().pipeline(transaction=False)
    for number in acknowledged["redis"]:
        pipeline.exists(f"{ACKED_KEY}{number}")
    found = pipeline.execute() if acknowledged["redis"] else []
    missing["redis"] = [number for number, exists in zip(acknowledged["redis"], found) if not exists]
    return {
        "acknowledged": {store: len(numbers) for store, numbers in acknowledged.items()},
        "refused": refused, "refusals": refusals, "missing": missing,
        "lost": sum(len(numbers) for numbers in missing.values()),
    }


def newest_heartbeat(stores: tuple[str, ...] = STORES) -> dict:
    newest: dict = {store: None for store in stores}
    if "postgresql" in stores:
        with pg() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT max(beat) FROM drill_heartbeat")
            value = cursor.fetchone()[0]
            newest["postgresql"] = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None
    if "redis" in stores:
        value = cache().get(HEARTBEAT_KEY)
        newest["redis"] = value.decode() if value else None
    if "files" in stores:
        marker = uploads() / HEARTBEAT_FILE
        newest["files"] = marker.read_text().strip() if marker.is_file() else None
    return newest


def bad_write() -> dict:
    """A faulty release overwrites data in every store: what a restore to before it must undo."""
    with pg() as connection, connection.cursor() as cursor:
        cursor.execute("UPDATE orders SET status = %s, total = -1 WHERE id %% %s = 0", (BAD_VALUE, BAD_SHARE))
        rows = cursor.rowcount
    client = cache()
    keys = sorted(key for key in client.scan_iter(match="session:*", count=5_000))[::BAD_SHARE]
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.set(key, BAD_VALUE, keepttl=True)
    pipeline.execute()
    files = sorted(path for path in uploads().rglob("*") if path.is_file() and not path.name.startswith("."))
    for path in files[::BAD_SHARE]:
        path.write_bytes(BAD_VALUE.encode())
    return {"rows": rows, "keys": len(keys), "files": len(files[::BAD_SHARE])}


def damage_left() -> dict:
    """How many rows, keys and files hold a value of the faulty release (bad_write)."""
    with pg() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders WHERE status = %s", (BAD_VALUE,))
        rows = cursor.fetchone()[0]
    client = cache()
    keys = 0
    batch = list(client.scan_iter(match="session:*", count=5_000))
    for start in range(0, len(batch), 5_000):
        keys += sum(value == BAD_VALUE.encode() for value in client.mget(batch[start:start + 5_000]))
    bad = BAD_VALUE.encode()
    # Only a file of the faulty value's size can hold it: the others (up to 2 GiB in all) are not read.
    files = sum(path.stat().st_size == len(bad) and path.read_bytes() == bad
                for path in uploads().rglob("*") if path.is_file())
    return {"rows": rows, "keys": keys, "files": files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load").add_argument("--size", choices=sorted(SIZES), default="small")
    for name in ("fingerprint", "newest-heartbeat"):
        commands.add_parser(name).add_argument("--only", choices=STORES, action="append",
                                               help="only this store (repeatable); default all")
    commands.add_parser("bad-write")
    commands.add_parser("damage-left")
    beating = commands.add_parser("heartbeat")
    beating.add_argument("--pidfile", type=Path, required=True)
    beating.add_argument("--limit", type=float, default=3_600, help="stop after this many seconds at the latest")
    writer = commands.add_parser("acked-writer")
    writer.add_argument("--pidfile", type=Path, required=True)
    writer.add_argument("--log", type=Path, required=True)
    writer.add_argument("--interval", type=float, default=0.25)
    writer.add_argument("--limit", type=float, default=3_600, help="stop after this many seconds at the latest")
    commands.add_parser("check-acked").add_argument("--log", type=Path, required=True)
    options = parser.parse_args()
    if options.command == "load":
        print(json.dumps(load(options.size)))
    elif options.command == "fingerprint":
        print(json.dumps(fingerprint(tuple(options.only or STORES)), sort_keys=True))
    elif options.command == "heartbeat":
        heartbeat(options.pidfile, options.limit)
    elif options.command == "bad-write":
        print(json.dumps(bad_write()))
    elif options.command == "damage-left":
        print(json.dumps(damage_left()))
    elif options.command == "acked-writer":
        acked_writer(options.pidfile, options.log, options.interval, options.limit)
    elif options.command == "check-acked":
        print(json.dumps(check_acked(options.log)))
    else:
        print(json.dumps(newest_heartbeat(tuple(options.only or STORES))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
