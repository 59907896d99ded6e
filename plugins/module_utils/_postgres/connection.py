# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connecting to PostgreSQL the way community.postgresql does, for queries
(psycopg2) and for the client programs (pg_dump, pg_restore, psql).

The password reaches libpq through PGPASSWORD in the environment of each
program, never through argv. Queries run with fixed output settings (UTC,
ISO dates, hex bytea, exact floats) so that the text of a row, and therefore
a table's checksum, is the same on the server that was backed up and on the
one restored to.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    SourceUnavailable,
    missing_library_message,
)

try:
    import psycopg2
    import psycopg2.errors
    import psycopg2.extensions
    from psycopg2 import sql

    HAS_PSYCOPG2 = True
except ImportError:  # reported by require_psycopg2, before any work
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False

APPLICATION_NAME = "resilience.dr"
# Output settings of every session: a row's text (and its checksum) must not
# depend on the server's or the client's defaults.
SESSION_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def session_options() -> str:
    """SESSION_SETTINGS as libpq's PGOPTIONS, for pg_dump: the data it writes is then the text a check reads back."""
    return " ".join(f"-c {name}={value.replace(' ', chr(92) + ' ')}" for name, value in SESSION_SETTINGS)


def postgres_connection_argument_spec() -> dict[str, t.Any]:
    """Connection options (documented by the doc fragment resilience.dr.postgres)."""
    return dict(
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_unix_socket=dict(type="str", default=""),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


def postgres_tools_argument_spec() -> dict[str, t.Any]:
    """Where the client programs are and where they may write (resilience.dr.postgres.tools)."""
    return dict(
        pg_bin_dir=dict(type="path"),
        temp_dir=dict(type="path"),
    )


@dataclass(frozen=True)
class ConnectionParams:
    """How to reach one server; `port` may differ from login_port (a restored cluster)."""

    host: str = ""
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    unix_socket: str = ""
    ssl_mode: str = "prefer"
    ca_cert: str | None = None
    connect_timeout: int = 10

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], port: int | None = None) -> ConnectionParams:
        return cls(
            host=params.get("login_host") or "",
            port=port or params.get("login_port") or 5432,
            user=params.get("login_user") or "postgres",
            password=params.get("login_password") or "",
            unix_socket=params.get("login_unix_socket") or "",
            ssl_mode=params.get("ssl_mode") or "prefer",
            ca_cert=params.get("ca_cert"),
            connect_timeout=params.get("connect_timeout") or 10,
        )

    def with_port(self, port: int) -> ConnectionParams:
        return ConnectionParams(self.host, port, self.user, self.password, self.unix_socket, self.ssl_mode,
                                self.ca_cert, self.connect_timeout)

    @property
    def where(self) -> str:
        """host:port (or the socket directory) for messages."""
        if self.unix_socket:
            return f"{self.unix_socket}/.s.PGSQL.{self.port}"
        return f"{self.host or 'localhost'}:{self.port}"

    def libpq(self, database: str) -> dict[str, t.Any]:
        """Keyword arguments for psycopg2.connect."""
        options: dict[str, t.Any] = {
            "dbname": database, "user": self.user, "port": self.port, "sslmode": self.ssl_mode,
            "connect_timeout": self.connect_timeout, "application_name": APPLICATION_NAME,
        }
        host = self.unix_socket or self.host
        if host:
            options["host"] = host
        if self.password:
            options["password"] = self.password
        if self.ca_cert:
            options["sslrootcert"] = self.ca_cert
        return options

    def environment(self) -> dict[str, str]:
        """libpq environment for pg_dump, pg_restore and psql: the password never goes into argv."""
        env = {
            "PGPORT": str(self.port), "PGUSER": self.user, "PGCONNECT_TIMEOUT": str(self.connect_timeout),
            "PGAPPNAME": APPLICATION_NAME,
        }
        if self.ssl_mode != "prefer":  # libpq's default
            env["PGSSLMODE"] = self.ssl_mode
        host = self.unix_socket or self.host
        if host:
            env["PGHOST"] = host
        if self.password:
            env["PGPASSWORD"] = self.password
        if self.ca_cert:
            env["PGSSLROOTCERT"] = self.ca_cert
        return env


def server_environment() -> dict[str, str]:
    """The environment to start a PostgreSQL server with: this process's, without any libpq variable (PG*).

    A postmaster keeps its environment for its lifetime, readable in /proc/<pid>/environ by its user and
    inherited by every backend, archive_command and restore_command: a client password (PGPASSWORD) or other
    client setting has no business there. The data directory and port come from the command line and the
    configuration.
    """
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def require_psycopg2() -> None:
    if not HAS_PSYCOPG2:
        raise DependencyMissing(missing_library_message("psycopg2", "to connect to PostgreSQL"))


def connection_error(error: Exception, params: ConnectionParams, database: str) -> SourceUnavailable:
    """An error that says which server, database and user, and what to check."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    detail = detail.replace("FATAL:  ", "")
    if "password authentication failed" in detail or "no password supplied" in detail:
        hint = "check login_user and login_password"
    elif "does not exist" in detail and "database" in detail:
        hint = f"check that the database {database} exists (db option) on this server"
    elif "Connection refused" in detail or "could not connect" in detail or "timeout expired" in detail:
        hint = "check that the server runs and listens there (login_host, login_port, login_unix_socket)"
    else:
        hint = "check the connection options"
    return SourceUnavailable(
        f"cannot connect to PostgreSQL at {params.where} as {params.user} (database {database}): {detail}; {hint}",
        host=params.where, database=database,
    )


def connect(params: ConnectionParams, database: str, *, autocommit: bool = True) -> t.Any:
    """An open psycopg2 connection with the fixed session settings."""
    require_psycopg2()
    try:
        connection = psycopg2.connect(**params.libpq(database))
    except psycopg2.Error as error:
        raise connection_error(error, params, database) from None
    connection.autocommit = True
    with connection.cursor() as cursor:
        for name, value in SESSION_SETTINGS:
            cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
    connection.autocommit = autocommit
    return connection


@contextlib.contextmanager
def connected(params: ConnectionParams, database: str, *, autocommit: bool = True) -> t.Iterator[t.Any]:
    connection = connect(params, database, autocommit=autocommit)
    try:
        yield connection
    finally:
        connection.close()


def query(connection: t.Any, statement: t.Any, arguments: t.Sequence[t.Any] | None = None) -> list[tuple[t.Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, arguments)
        return cursor.fetchall() if cursor.description else []


def query_one(connection: t.Any, statement: t.Any, arguments: t.Sequence[t.Any] | None = None) -> tuple[t.Any, ...] | None:
    rows = query(connection, statement, arguments)
    return rows[0] if rows else None


def expect_row(row: tuple[t.Any, ...] | None) -> tuple[t.Any, ...]:
    """The row of a query that always returns one (an aggregate, a settings query)."""
    if row is None:
        raise SourceUnavailable("PostgreSQL returned no row for a query that always returns one; "
                                "the connection may have been redirected to another kind of server")
    return row


def identifier(*names: str) -> t.Any:
    """A safely quoted (schema-qualified) name for psycopg2.sql statements."""
    return sql.Identifier(*names)


def server_info(connection: t.Any) -> dict[str, t.Any]:
    """Version, identity and role of the server, as the manifest and results record them."""
    row = query_one(connection, """
        SELECT current_setting('server_version'), current_setting('server_version_num')::int,
               (SELECT system_identifier::text FROM pg_control_system()), pg_is_in_recovery(),
               current_setting('is_superuser') = 'on', current_user, current_database(),
               current_setting('cluster_name')
    """)
    row = expect_row(row)
    return {
        "server_version": row[0].split()[0], "server_version_num": row[1], "system_identifier": row[2],
        "in_recovery": row[3], "superuser": row[4], "user": row[5], "database": row[6], "cluster_name": row[7] or None,
    }


def database_properties(connection: t.Any, name: str) -> dict[str, t.Any] | None:
    """Owner, encoding, locale, ACL, comment and settings of a database, or None if it does not exist."""
    row = query_one(connection, """
        SELECT d.oid, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
               d.datacl::text[], shobj_description(d.oid, 'pg_database'), d.datallowconn, d.datconnlimit,
               pg_database_size(d.oid),
               (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0)
        FROM pg_database d WHERE d.datname = %s
    """, (name,))
    if row is None:
        return None
    return {
        "oid": row[0], "owner": row[1], "encoding": row[2], "collate": row[3], "ctype": row[4], "acl": row[5] or [],
        "comment": row[6], "allow_connections": row[7], "connection_limit": row[8], "size": row[9],
        "settings": row[10] or [],
    }


def role_exists(connection: t.Any, name: str) -> bool:
    return query_one(connection, "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)) is not None


# Where the client that reads every supported server comes from (bindep.txt names the packages).
CLIENT_PACKAGES = (
    "the PostgreSQL project's packages: postgresql-client-17 from apt.postgresql.org (Debian, Ubuntu) or "
    "postgresql17 from download.postgresql.org/pub/repos/yum (RHEL)"
)


def program(name: str, bin_dir: str | None) -> str:
    """Path of a PostgreSQL client program, from pg_bin_dir or PATH."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not os.access(path, os.X_OK):
            raise DependencyMissing(f"{path} does not exist or is not executable; check pg_bin_dir")
        return path
    found = shutil.which(name)
    if found is None:
        raise DependencyMissing(
            f"the PostgreSQL program {name} is not on PATH; install the PostgreSQL client ({CLIENT_PACKAGES}) "
            "or set pg_bin_dir to the directory holding it"
        )
    return found


def program_version(runner: t.Any, path: str) -> str:
    """15.20 from 'pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'."""
    output = runner.run([path, "--version"]).stdout.decode("utf-8", "replace").split()
    return output[2] if len(output) > 2 else " ".join(output)


def major_version(version: str) -> int | None:
    """17 from '17.2', '17beta1' or '17'; None when version does not start with one."""
    found = re.match(r"(\d+)", version.strip())
    return int(found.group(1)) if found else None


def check_client_version(tool_version: str, server_version_num: int, tool: str, *, path: str | None = None,
                         where: str | None = None, dumped_by: str | None = None) -> None:
    """A client program must not be older than the server it talks to: pg_dump and pg_dumpall refuse a newer
    server, and what an older pg_restore writes may not be what the newer server expects. pg_restore must also
    be at least the pg_dump that made the archive (dumped_by), or it cannot read the archive's header."""
    tool_major = major_version(tool_version)
    if tool_major is None:
        return  # a version we cannot read: let the program speak for itself
    server_major = server_version_num // 10000
    needed = server_major
    reasons = [f"the server{f' {where}' if where else ''} is PostgreSQL {server_major}"]
    dumped_major = major_version(dumped_by) if dumped_by else None
    if dumped_major is not None:
        needed = max(needed, dumped_major)
        reasons.append(f"the backup was dumped by pg_dump {dumped_by}")
    if tool_major < needed:
        raise DependencyMissing(
            f"{tool} {tool_version}{f' ({path})' if path else ''} is older than PostgreSQL {needed}: "
            f"{' and '.join(reasons)}. Nothing was changed. Install the PostgreSQL client {needed} or newer "
            f"(17 reads servers 13 to 17; {CLIENT_PACKAGES}) and set pg_bin_dir to its directory if it is not "
            "the first on PATH"
        )


def as_os_user(argv: t.Sequence[str], os_user: str | None) -> list[str]:
    """Run argv as os_user (the owner of a cluster's files): directly when we are that user,
    through setpriv when we are root; anything else needs become_user."""
    argv = [str(argument) for argument in argv]
    if not os_user:
        return argv
    try:
        account = pwd.getpwnam(os_user)
    except KeyError:
        raise ConfigurationError(f"os_user {os_user} does not exist on this host") from None
    if os.geteuid() == account.pw_uid:
        return argv
    if os.geteuid() != 0:
        current = pwd.getpwuid(os.geteuid()).pw_name
        raise ConfigurationError(
            f"this task runs as {current} but must run {argv[0]} as {os_user}; run it as root (become: true) "
            f"or as {os_user} (become_user: {os_user})"
        )
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise DependencyMissing("the program setpriv (util-linux) is needed to run commands as os_user; install util-linux")
    return [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", "--", *argv]
