#!/usr/bin/env python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""shopfront: the lab's application, an API and a worker.

Both serve GET /health, answering 200 only while the site's PostgreSQL,
Redis and uploads directory work, so the recovery playbooks have real
services to stop, start in order and health-check. The API also serves
GET /orders/count; the worker moves jobs from the Redis list shopfront:jobs
into the table jobs_done.

    shopfront.py api|worker --listen 127.0.0.1:24340 --db-port 24300 --redis-port 24310 --uploads DIR

Passwords come from the environment (SHOPFRONT_DB_PASSWORD,
SHOPFRONT_REDIS_PASSWORD), never from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer_id integer NOT NULL,
    total numeric(12, 2) NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS jobs_done (id bigserial PRIMARY KEY, job text NOT NULL, done_at timestamptz NOT NULL DEFAULT now());
"""


class App:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options

    def database(self):
        return psycopg2.connect(
            host=self.options.db_host, port=self.options.db_port, dbname=self.options.db_name,
            user=self.options.db_user, password=os.environ.get("SHOPFRONT_DB_PASSWORD"), connect_timeout=3,
        )

    def cache(self) -> redis.Redis:
        return redis.Redis(
            host=self.options.redis_host, port=self.options.redis_port,
            username=os.environ.get("SHOPFRONT_REDIS_USER") or None,
            password=os.environ.get("SHOPFRONT_REDIS_PASSWORD"), socket_timeout=3,
        )

    def health(self) -> tuple[bool, dict[str, str]]:
        checks = {}
        try:
            with self.database() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM orders")
                checks["postgresql"] = f"ok ({cursor.fetchone()[0]} orders)"
        except psycopg2.Error as error:
            checks["postgresql"] = f"error: {str(error).strip()}"
        try:
            self.cache().ping()
            checks["redis"] = "ok"
        except redis.RedisError as error:
            checks["redis"] = f"error: {error}"
        checks["uploads"] = "ok" if os.path.isdir(self.options.uploads) else f"error: {self.options.uploads} is missing"
        return all(value.startswith("ok") for value in checks.values()), checks

    def order_count(self) -> int:
        with self.database() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            return cursor.fetchone()[0]

    def work_forever(self) -> None:
        while True:
            try:
                cache = self.cache()
                while True:
                    item = cache.brpop("shopfront:jobs", timeout=1)
                    if item:
                        with self.database() as connection, connection.cursor() as cursor:
                            cursor.execute("INSERT INTO jobs_done (job) VALUES (%s)", (item[1].decode(),))
            except (redis.RedisError, psycopg2.Error) as error:
                print(f"worker: {error}; retrying in 1s", file=sys.stderr, flush=True)
                time.sleep(1)


def handler_for(app: App, role: str) -> type:
    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            if self.path == "/health":
                healthy, checks = app.health()
                self.reply(200 if healthy else 503, {"service": role, "site": app.options.site, **checks})
            elif self.path == "/orders/count" and role == "api":
                try:
                    self.reply(200, {"orders": app.order_count()})
                except psycopg2.Error as error:
                    self.reply(503, {"error": str(error).strip()})
            else:
                self.reply(404, {"error": "not found"})

        def log_message(self, format: str, *args: object) -> None:  # pylint: disable=redefined-builtin
            pass  # health checks every second would flood the log

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["api", "worker"])
    parser.add_argument("--listen", required=True, help="address:port")
    parser.add_argument("--site", default="primary")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", type=int, required=True)
    parser.add_argument("--db-name", default="shopfront")
    parser.add_argument("--db-user", default="shopfront")
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--uploads", required=True)
    options = parser.parse_args()
    app = App(options)
    if options.role == "api":
        # Create the schema if the database is new; a restored database already has it.
        try:
            with app.database() as connection, connection.cursor() as cursor:
                cursor.execute(SCHEMA)
        except psycopg2.Error as error:
            print(f"api: cannot prepare the schema yet: {error}", file=sys.stderr, flush=True)
    else:
        threading.Thread(target=app.work_forever, daemon=True).start()
    host, _separator, port = options.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), handler_for(app, options.role))
    print(f"{options.role}: serving {options.site} on {options.listen}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
