# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_write_freeze and redis_write_freeze on the lab's secondary servers: a
frozen datastore REFUSES writes with the server's own error (never holds them
back), still serves reads and its final backup, and a thaw puts back exactly
the settings it replaced; check mode and a second run change nothing."""

from __future__ import annotations

import contextlib
import typing as t

import psycopg2
import pytest
import redis

DATABASE = "freeze_drill"


def pg_connect(lab: dict, database: str = "postgres") -> t.Any:
    server = lab["sites"]["secondary"]["postgresql"]
    connection = psycopg2.connect(host=server["host"], port=server["port"], dbname=database, user=server["user"],
                                  password=server["password"], connect_timeout=5)
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def pg_session(lab: dict, database: str = "postgres") -> t.Iterator[t.Any]:
    """A connection closed at the end (psycopg2's own context manager only ends the transaction)."""
    connection = pg_connect(lab, database)
    try:
        yield connection
    finally:
        connection.close()


def database_settings(lab: dict) -> list[str]:
    with pg_session(lab) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                       "WHERE d.datname = %s AND s.setrole = 0", (DATABASE,))
        row = cursor.fetchone()
    return sorted(row[0]) if row and row[0] else []


@pytest.fixture
def freeze_database(lab) -> t.Iterator[dict]:
    """A scratch database on the secondary with a table and a setting of its own the thaw must keep."""
    admin = pg_connect(lab)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
        cursor.execute(f"ALTER DATABASE {DATABASE} SET work_mem = '5MB'")
    with pg_session(lab, DATABASE) as setup, setup.cursor() as cursor:
        cursor.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        cursor.execute("INSERT INTO orders VALUES (1, 'before the freeze')")
    server = lab["sites"]["secondary"]["postgresql"]
    yield {"login_host": server["host"], "login_port": server["port"], "login_user": server["user"],
           "login_password": server["password"], "db": DATABASE}
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.close()


def test_pg_write_freeze_refuses_writes_keeps_the_backup_and_thaws_to_the_settings_before(
        ansible, lab, freeze_database, tmp_path):
    settings_before = database_settings(lab)
    writer = pg_connect(lab, DATABASE)
    writer.autocommit = False
    with writer.cursor() as cursor:  # a transaction open when the freeze comes: it must not commit
        cursor.execute("INSERT INTO orders VALUES (2, 'open across the freeze')")

    preview, frozen, again, preview_again, backup = ansible.sequence([
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "frozen"}, {"check": True, "diff": True}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "frozen"}, {"diff": True}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "frozen"}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "frozen"}, {"check": True}),
        ("resilience.dr.pg_backup", {**freeze_database, "repository": str(tmp_path / "repo"),
                                     "component": "freeze-drill", "method": "logical"}),
    ])
    assert preview["changed"] and preview["sessions"] == 1 and preview["sessions_ended"] == 0, preview
    assert preview["after"] == {"frozen": True, "default_transaction_read_only": "on"}, preview
    assert not preview.get("failed") and frozen["changed"] and frozen["sessions_ended"] == 1, frozen
    assert frozen["before"] == {"frozen": False, "default_transaction_read_only": None}, frozen
    assert frozen["after"] == {"frozen": True, "default_transaction_read_only": "on"}, frozen
    assert frozen["previous"] is None and frozen["frozen_at"], frozen
    assert frozen["diff"]["before"] != frozen["diff"]["after"]
    assert not again["changed"] and again["frozen_at"] == frozen["frozen_at"], again
    assert not preview_again["changed"], preview_again
    assert not backup.get("failed") and backup["backup_id"], backup

    # The transaction open before the freeze was ended: its commit fails, its row is not there.
    with pytest.raises(psycopg2.Error):
        writer.commit()
    writer.close()
    # A new session is refused with the server's own error, and can still read.
    with pg_session(lab, DATABASE) as session, session.cursor() as cursor:
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction, match="read-only transaction"):
            cursor.execute("INSERT INTO orders VALUES (3, 'during the freeze')")
        cursor.execute("SELECT id FROM orders ORDER BY id")
        assert cursor.fetchall() == [(1,)]
    # A session opened during the freeze stays read-only until the thaw ends it.
    frozen_session = pg_connect(lab, DATABASE)

    preview_thaw, thawed, thawed_again, missing = ansible.sequence([
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "thawed"}, {"check": True}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "thawed"}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "thawed"}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "db": "no_such_database"}),
    ])
    assert preview_thaw["changed"] and preview_thaw["after"]["frozen"] is False, preview_thaw
    assert thawed["changed"] and thawed["sessions_ended"] == 1, thawed
    assert thawed["after"] == {"frozen": False, "default_transaction_read_only": None}, thawed
    assert not thawed_again["changed"], thawed_again
    assert missing["failed"] and "no_such_database" in missing["msg"], missing
    assert database_settings(lab) == settings_before == ["work_mem=5MB"]
    with pytest.raises(psycopg2.Error):
        with frozen_session.cursor() as cursor:
            cursor.execute("SELECT 1")
    with pg_session(lab, DATABASE) as session, session.cursor() as cursor:
        cursor.execute("INSERT INTO orders VALUES (4, 'after the thaw')")
        cursor.execute("SELECT id FROM orders ORDER BY id")
        assert cursor.fetchall() == [(1,), (4,)]


def test_pg_write_freeze_thaw_restores_a_read_only_setting_that_was_there_before(ansible, lab, freeze_database):
    with pg_session(lab) as admin, admin.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {DATABASE} SET default_transaction_read_only = off")
    frozen, thawed = ansible.sequence([
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "frozen"}),
        ("resilience.dr.pg_write_freeze", {**freeze_database, "state": "thawed"}),
    ])
    assert frozen["changed"] and frozen["previous"] == "off", frozen
    assert thawed["after"] == {"frozen": False, "default_transaction_read_only": "off"}, thawed
    assert database_settings(lab) == ["default_transaction_read_only=off", "work_mem=5MB"]


@pytest.fixture
def secondary_redis(lab) -> t.Iterator[tuple[dict, t.Any]]:
    server = lab["sites"]["secondary"]["redis"]
    client = redis.Redis(host=server["host"], port=server["port"], password=server["password"])
    before = client.config_get("min-replicas-*")
    client.config_set("min-replicas-max-lag", 0)  # the replica check off: the freeze must turn it on
    client.set("freeze:kept", "before the freeze")
    yield ({"login_host": server["host"], "login_port": server["port"], "login_password": server["password"]}, client)
    client.config_set("min-replicas-to-write", before["min-replicas-to-write"])
    client.config_set("min-replicas-max-lag", before["min-replicas-max-lag"])
    client.delete("freeze:kept", "freeze:after")
    client.close()


def test_redis_write_freeze_refuses_writes_at_once_and_thaws_to_the_settings_before(ansible, secondary_redis):
    connection, client = secondary_redis
    open_connection = redis.Redis(**{"host": connection["login_host"], "port": connection["login_port"],
                                     "password": connection["login_password"]})
    open_connection.ping()  # a client connected before the freeze

    preview, frozen, again, preview_again = ansible.sequence([
        ("resilience.dr.redis_write_freeze", {**connection, "state": "frozen"}, {"check": True, "diff": True}),
        ("resilience.dr.redis_write_freeze", {**connection, "state": "frozen"}, {"diff": True}),
        ("resilience.dr.redis_write_freeze", {**connection, "state": "frozen"}),
        ("resilience.dr.redis_write_freeze", {**connection, "state": "frozen"}, {"check": True}),
    ])
    assert preview["changed"] and preview["after"]["frozen"], preview
    assert frozen["changed"] and frozen["before"] == {"frozen": False, "min_replicas_to_write": 0,
                                                      "min_replicas_max_lag": 0}, frozen
    assert frozen["after"] == {"frozen": True, "min_replicas_to_write": 1_000_000_001, "min_replicas_max_lag": 10}
    assert frozen["previous"] == {"min_replicas_to_write": 0, "min_replicas_max_lag": 0}, frozen
    assert not again["changed"] and again["previous"] == frozen["previous"], again
    assert not preview_again["changed"], preview_again

    # Refused at once (not held back) on the open connection and on a new one; reads still work.
    for writer in (open_connection, client):
        with pytest.raises(redis.exceptions.ResponseError, match="NOREPLICAS"):
            writer.set("freeze:during", "refused")
    assert client.get("freeze:kept") == b"before the freeze"
    assert client.exists("freeze:during") == 0

    preview_thaw, thawed, thawed_again = ansible.sequence([
        ("resilience.dr.redis_write_freeze", {**connection, "state": "thawed"}, {"check": True}),
        ("resilience.dr.redis_write_freeze", {**connection, "state": "thawed"}),
        ("resilience.dr.redis_write_freeze", {**connection, "state": "thawed"}),
    ])
    # Each check mode run changed nothing: the run after it still found what it had found.
    assert preview_thaw["changed"] and preview_thaw["after"]["frozen"] is False, preview_thaw
    assert thawed["changed"] and thawed["after"] == {"frozen": False, "min_replicas_to_write": 0,
                                                     "min_replicas_max_lag": 0}, thawed
    assert not thawed_again["changed"], thawed_again
    assert client.config_get("min-replicas-*") == {"min-replicas-to-write": "0", "min-replicas-max-lag": "0"}
    assert open_connection.set("freeze:after", "written again")
    open_connection.close()


def test_redis_write_freeze_reports_an_unreachable_server(ansible, lab):
    result = ansible.module("resilience.dr.redis_write_freeze",
                            {"login_host": "127.0.0.1", "login_port": lab["port_base"] + 99, "connect_timeout": 2})
    assert result["failed"] and f"127.0.0.1:{lab['port_base'] + 99}" in result["msg"], result


def test_a_thaw_of_a_database_that_does_not_exist_changes_nothing_and_says_so(ansible, lab):
    server = lab["sites"]["secondary"]["postgresql"]
    result = ansible.module("resilience.dr.pg_write_freeze", {
        "login_host": server["host"], "login_port": server["port"], "login_user": server["user"],
        "login_password": server["password"], "db": "never_created_here", "state": "thawed"})
    assert not result["failed"] and not result["changed"], result
    assert "has no database never_created_here: nothing to thaw" in result["msg"]
