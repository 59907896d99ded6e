# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials of a security incident: the sessions a user has (evidence),
a new password, and the end of the sessions that used the old one.

Everything goes over the client libraries' own connections (psycopg2,
redis-py), so no password is ever in a process's argv or environment. The
new password does not travel either: PostgreSQL gets a SCRAM-SHA-256
verifier (RFC 5802 / RFC 7677, the format PostgreSQL itself stores) and
Redis the SHA-256 of the password (`ACL SETUSER ... #<hex>`), so a
statement log, a slow log or a MONITOR session never shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    SourceUnavailable,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, redis_errors
from ansible_collections.resilience.dr.plugins.module_utils._atomic import write_private

# PostgreSQL's defaults (scram_iterations, the salt length of pg_be_scram_build_secret).
SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16

SESSIONS_QUERY = (
    "COPY (SELECT now() AS taken, pid, usename, datname, client_addr, backend_start, state, query "
    "FROM pg_stat_activity) TO STDOUT WITH CSV HEADER"
)


def scram_sha256_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for password (what ALTER ROLE ... PASSWORD accepts as is).

    SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations); StoredKey = SHA-256(HMAC(SaltedPassword,
    "Client Key")); ServerKey = HMAC(SaltedPassword, "Server Key"). PostgreSQL normalises the password with
    SASLprep first; for the ASCII passwords the security_incident role generates that changes nothing, so a
    password with other characters is refused rather than stored under a different normalisation.
    """
    if not password.isascii():
        raise ConfigurationError("the new password must be ASCII (SASLprep is not applied to other characters)")
    salt = salt if salt is not None else os.urandom(SCRAM_SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def redis_password_hash(password: str) -> str:
    """The form of ACL SETUSER that sets a password by its SHA-256 (#<hex>)."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_sessions(connection: t.Any, where: str) -> str:
    """pg_stat_activity as CSV with a header (every user's sessions, as evidence)."""
    buffer = io.StringIO()
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(SESSIONS_QUERY, buffer)
    except _postgres.psycopg2.Error as error:
        raise CommandFailed(f"PostgreSQL at {where}: reading pg_stat_activity failed: {_first_line(error)}",
                            server=where) from None
    return buffer.getvalue()


def pg_require_role(connection: t.Any, params: _postgres.ConnectionParams, user: str) -> None:
    if not _postgres.role_exists(connection, user):
        raise ConfigurationError(
            f"PostgreSQL at {params.where} has no role {user}; check the credential's user in dr_plan.security.credentials"
        )


def pg_user_sessions(connection: t.Any, user: str) -> int:
    row = _postgres.query_one(
        connection, "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()", (user,))
    return int(row[0]) if row else 0


def pg_rotate(connection: t.Any, where: str, user: str, password: str, terminate: bool) -> int:
    """Give the role the new password (as a SCRAM verifier) and end its sessions; the number of sessions ended."""
    statement = _postgres.sql.SQL("ALTER ROLE {} PASSWORD %s").format(_postgres.identifier(user))
    try:
        _postgres.query(connection, statement, (scram_sha256_verifier(password),))
    except _postgres.psycopg2.Error as error:
        raise CommandFailed(
            f"PostgreSQL at {where}: the password of role {user} was not changed: {_first_line(error)}; the "
            "connection's user needs CREATEROLE (or to be a superuser)", server=where) from None
    if not terminate:
        return 0
    try:
        row = _postgres.query_one(connection, """
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
            FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()
        """, (user,))
    except _postgres.psycopg2.Error as error:
        raise CommandFailed(
            f"PostgreSQL at {where}: the password of role {user} is changed, but its sessions were not ended: "
            f"{_first_line(error)}; end them by hand (pg_terminate_backend) with a superuser", server=where) from None
    return int(row[0]) if row else 0


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- Redis -------------------------------------------------------------------------------------


def redis_sessions(target: RedisTarget, client: t.Any) -> str:
    """CLIENT LIST as Redis prints it (one client a line, key=value fields)."""
    clients = target.call("CLIENT LIST", client.client_list)
    return "".join(" ".join(f"{key}={value}" for key, value in entry.items()) + "\n" for entry in clients)


def redis_require_user(target: RedisTarget, client: t.Any, user: str) -> None:
    found = target.call(f"ACL GETUSER {user}", lambda: client.acl_getuser(user))
    if not found:
        raise ConfigurationError(
            f"Redis at {target.address} has no ACL user {user}; check the credential's user in dr_plan.security.credentials"
        )


def redis_user_sessions(target: RedisTarget, client: t.Any, user: str) -> int:
    clients = target.call("CLIENT LIST", client.client_list)
    return sum(1 for entry in clients if entry.get("user") == user)


def redis_rotate(target: RedisTarget, client: t.Any, user: str, password: str, terminate: bool,
                 persist: bool) -> dict[str, t.Any]:
    """Replace the ACL user's passwords by the new one, keep it across restarts, end its connections."""
    answer = target.call(f"ACL SETUSER {user}", lambda: client.execute_command(
        "ACL", "SETUSER", user, "resetpass", redis_password_hash(password)))
    if answer not in (True, b"OK", "OK"):
        raise SourceUnavailable(f"Redis at {target.address}: ACL SETUSER {user} answered {answer!r}",
                                server=target.address)
    config_file = redis_persist_acl(target, client, f"the new password of {user}") if persist else ""
    ended = 0
    if terminate:
        ended = int(target.call(f"CLIENT KILL USER {user}",
                                lambda: client.execute_command("CLIENT", "KILL", "USER", user)) or 0)
    return {"sessions_ended": ended, "config_file": config_file}


def redis_persist_acl(target: RedisTarget, client: t.Any, what: str) -> str:
    """Keep the server's ACL users across restarts (ACL SAVE with an aclfile, else CONFIG REWRITE); the file written.

    what names the change for the message when the server has no configuration file to keep it in.
    """
    info = target.call("INFO server", lambda: client.info("server"))
    config_file = str(info.get("config_file") or "")
    if not config_file:
        raise SourceUnavailable(
            f"Redis at {target.address} runs without a configuration file: {what} is set but "
            "is lost at the next restart; write it into the server's ACL configuration by hand, or set persist=false",
            server=target.address)
    # An aclfile keeps the users apart from redis.conf: ACL SAVE writes it, CONFIG REWRITE would not.
    aclfile = ""
    try:
        aclfile = str(client.config_get("aclfile").get("aclfile") or "")
    except redis_errors():
        aclfile = ""
    if aclfile:
        target.call("ACL SAVE", lambda: client.execute_command("ACL", "SAVE"))
    else:
        target.call("CONFIG REWRITE", client.config_rewrite)
    return aclfile or config_file


def write_evidence(path: str, text: str) -> None:
    """Write an evidence file, mode 0600 from the start, atomically."""
    try:
        write_private(path, text)
    except OSError as error:
        raise ConfigurationError(f"cannot write the evidence file {path}: {error.strerror}; check that its directory "
                                 "exists and is writable") from None
