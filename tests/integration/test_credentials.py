# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_credential and redis_credential on the lab's servers: check mode changes
nothing, a rotation lets the new password in and the old one no longer, the
server never receives the password itself, odd role names are quoted."""

from __future__ import annotations

import secrets
import stat
import time
import typing as t
from pathlib import Path

import psycopg2
from psycopg2 import sql
import pytest
import redis

from .pg_fixtures import server_log

ROLE = 'Odd "Role"; DROP ROLE postgres; --'


def pg_admin(lab: dict) -> t.Any:
    primary = lab["sites"]["primary"]["postgresql"]
    connection = psycopg2.connect(host=primary["host"], port=primary["port"], dbname="postgres",
                                  user=primary["user"], password=primary["password"])
    connection.autocommit = True
    return connection


def pg_login(lab: dict, password: str) -> t.Any:
    primary = lab["sites"]["primary"]["postgresql"]
    try:
        return psycopg2.connect(host=primary["host"], port=primary["port"], dbname="postgres", user=ROLE,
                                password=password, connect_timeout=5)
    except psycopg2.OperationalError:
        return None


@pytest.fixture
def odd_role(lab) -> t.Iterator[str]:
    """A login role whose name needs quoting, with a known password; statements are logged meanwhile."""
    old = secrets.token_urlsafe(16)
    admin = pg_admin(lab)
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(ROLE)), (old,))
        cursor.execute("ALTER SYSTEM SET log_statement = 'ddl'")
        cursor.execute("SELECT pg_reload_conf()")
    # The server rereads its configuration when it gets to it: on a busy machine a session opened right after
    # pg_reload_conf() can still start without statement logging.
    deadline = time.monotonic() + 30
    while True:
        with pg_admin(lab) as fresh, fresh.cursor() as cursor:
            cursor.execute("SHOW log_statement")
            logging = cursor.fetchone()[0]
        fresh.close()
        if logging == "ddl":
            break
        assert time.monotonic() < deadline, f"log_statement is still {logging} 30 s after pg_reload_conf()"
        time.sleep(0.2)
    yield old
    with admin.cursor() as cursor:
        cursor.execute("ALTER SYSTEM RESET log_statement")
        cursor.execute("SELECT pg_reload_conf()")
        cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
    admin.close()


def test_pg_credential_rotates_an_odd_role_by_verifier_and_ends_its_sessions(ansible, lab, odd_role, tmp_path):
    primary = lab["sites"]["primary"]["postgresql"]
    connection = {"login_host": primary["host"], "login_port": primary["port"], "login_user": primary["user"],
                  "login_password": primary["password"]}
    new = secrets.token_urlsafe(24)
    session = pg_login(lab, odd_role)
    assert session is not None
    evidence = tmp_path / "sessions.csv"

    preview, applied, wrong = ansible.sequence([
        ("resilience.dr.pg_credential", {**connection, "user": ROLE, "password": new, "evidence_file": str(evidence)},
         {"check": True}),
        ("resilience.dr.pg_credential", {**connection, "user": ROLE, "password": new, "evidence_file": str(evidence)}),
        ("resilience.dr.pg_credential", {**connection, "user": "no_such_role", "password": new}),
    ])
    assert preview["changed"] and not preview["rotated"] and preview["sessions"] == 1, preview
    assert applied["changed"] and applied["rotated"] and applied["sessions_ended"] == 1, applied
    assert wrong["failed"] and "has no role no_such_role" in wrong["msg"]

    assert pg_login(lab, odd_role) is None, "the old password must be refused"
    assert pg_login(lab, new) is not None, "the new password must let the role in"
    with pytest.raises(psycopg2.Error):
        with session.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600 and ROLE.replace('"', '""') in evidence.read_text()
    admin = pg_admin(lab)
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'")
        assert cursor.fetchone(), "the role name must be quoted, not run"
    # The logging collector writes asynchronously: wait for the statement, a busy machine delays it.
    deadline = time.monotonic() + 30
    log_file = server_log(lab)
    log = log_file.read_text(errors="replace")
    while "SCRAM-SHA-256$4096:" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = log_file.read_text(errors="replace")
    assert "SCRAM-SHA-256$4096:" in log, "the statement log shows what the server received"
    assert new not in log, "the server must receive a verifier, never the password"


@pytest.fixture
def redis_user(lab) -> t.Iterator[tuple[t.Any, str, str]]:
    primary = lab["sites"]["primary"]["redis"]
    admin = redis.Redis(host=primary["host"], port=primary["port"], password=primary["password"])
    name, old = f"rotation-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    admin.acl_setuser(name, enabled=True, passwords=["+" + old], keys=["*"], commands=["+@read", "+@connection"])
    config = Path(primary["config"])
    original_config = config.read_text()
    yield admin, name, old
    admin.acl_deluser(name)
    config.write_text(original_config)
    config.chmod(0o600)


def test_redis_credential_sets_the_password_by_its_hash_and_ends_connections(ansible, lab, redis_user):
    admin, name, old = redis_user
    primary = lab["sites"]["primary"]["redis"]
    connection = {"login_host": primary["host"], "login_port": primary["port"], "login_password": primary["password"]}
    new = secrets.token_urlsafe(24)
    session = redis.Redis(host=primary["host"], port=primary["port"], username=name, password=old)
    assert session.ping()

    preview, applied = ansible.sequence([
        ("resilience.dr.redis_credential", {**connection, "user": name, "password": new}, {"check": True}),
        ("resilience.dr.redis_credential", {**connection, "user": name, "password": new}),
    ])
    assert preview["changed"] and not preview["rotated"] and preview["sessions"] == 1, preview
    assert applied["rotated"] and applied["sessions_ended"] == 1 and applied["config_file"] == primary["config"], applied

    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=primary["host"], port=primary["port"], username=name, password=old).ping()
    assert redis.Redis(host=primary["host"], port=primary["port"], username=name, password=new).ping()
    assert new not in Path(primary["config"]).read_text(), "only the password's hash is saved"
    assert name in Path(primary["config"]).read_text(), "the new ACL is kept across restarts"
