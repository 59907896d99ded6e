# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throwaway places a restore test restores into: a temporary PostgreSQL cluster, a temporary
redis-server or a temporary directory, each in a new directory of its own (mode 0700) that shares
nothing writable with production; or a scratch database on a PostgreSQL server kept for restore
tests (database_name, drop_database).

    sandbox = create(kind="postgresql", base_dir="/var/tmp", os_user="postgres", ...)
    ...  # restore into sandbox.port / sandbox.socket_dir
    remove(sandbox.path)

Every sandbox directory carries a marker file; remove() refuses a directory without it, so a
mistyped path never deletes anything else. remove() stops what runs there first: the PostgreSQL
clusters (a physical restore test starts one in <path>/data) and the redis-server.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import time
import typing as t
from dataclasses import asdict, dataclass, field
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import CommandFailed, ConfigurationError, DependencyMissing, WaitTimeout
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._postgres.cluster import server_program
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import as_os_user, identifier, program, query
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import pid_alive

MARKER = ".resilience-dr-sandbox"
PREFIX = "resilience-dr-sandbox-"
KINDS = ("postgresql", "redis", "directory", "database")
# A scratch database on a server named in the plan (restore_test.server) carries this in its name; only such a
# database is ever dropped.
DATABASE_MARK = "_restore_test_"
PG_SUPERUSER = "postgres"
REDIS_CONFIG = "redis.conf"
REDIS_PID = "redis.pid"


@dataclass
class Sandbox:
    """Where a restore test restores to, as the module returns it."""

    kind: str
    path: str
    host: str = "127.0.0.1"
    port: int | None = None
    data_dir: str | None = None
    socket_dir: str | None = None
    login_user: str | None = None
    start_command: list[str] = field(default_factory=list)
    stop_command: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, t.Any]:
        return asdict(self)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice; the server started next takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def pg_bin_dir_default() -> str | None:
    """The newest Debian-style /usr/lib/postgresql/<major>/bin holding initdb, else None (PATH)."""
    root = "/usr/lib/postgresql"
    majors = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        if name.isdigit() and os.access(os.path.join(root, name, "bin", "initdb"), os.X_OK):
            majors.append(int(name))
    return os.path.join(root, str(max(majors)), "bin") if majors else None


def _owner(os_user: str | None) -> tuple[int, int] | None:
    if not os_user or os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(os_user)
    except KeyError:
        raise ConfigurationError(f"os_user {os_user} does not exist on this host") from None
    return account.pw_uid, account.pw_gid


def _write_private(path: str, text: str, owner: tuple[int, int] | None) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    if owner:
        os.chown(path, *owner)


def _unreachable_by(path: str, owner: tuple[int, int], os_user: str) -> str | None:
    """The first directory of path (from /) that os_user may not enter, or None."""
    groups = set(os.getgrouplist(os_user, owner[1]))
    current = os.path.sep
    for part in [""] + os.path.abspath(path).strip(os.path.sep).split(os.path.sep):
        current = os.path.join(current, part)
        mode = os.stat(current)
        if mode.st_uid == owner[0]:
            allowed = mode.st_mode & stat.S_IXUSR
        elif mode.st_gid in groups:
            allowed = mode.st_mode & stat.S_IXGRP
        else:
            allowed = mode.st_mode & stat.S_IXOTH
        if not allowed:
            return current
    return None


def make_directory(base_dir: str | None, os_user: str | None) -> str:
    """A new directory (0700, owned by os_user) with the sandbox marker."""
    base = base_dir or tempfile.gettempdir()
    if not os.path.isdir(base):
        raise ConfigurationError(f"base_dir {base} is not a directory; create it or choose another")
    owner = _owner(os_user)
    blocked = _unreachable_by(base, owner, str(os_user)) if owner else None
    if blocked:
        raise ConfigurationError(
            f"the sandbox's user {os_user} may not enter {blocked}, so it cannot reach a sandbox in {base}; choose a "
            "base_dir it can reach (restore_test.base_dir in the plan), such as /var/tmp"
        )
    path = tempfile.mkdtemp(prefix=PREFIX, dir=base)
    if owner:
        os.chown(path, *owner)
    _write_private(os.path.join(path, MARKER), "a restore test sandbox: removed with everything in it\n", owner)
    return path


def _pg_settings(port: int, socket_dir: str) -> str:
    # No TCP at all: the sandbox is reached through its socket in a directory only os_user (and root) can enter.
    # Archiving off: a restored copy must never push WAL anywhere.
    return (
        "\n# resilience.dr restore test sandbox\n"
        "listen_addresses = ''\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "archive_mode = off\n"
        "logging_collector = off\n"
    )


def create_postgresql(runner: CommandRunner, path: str, *, os_user: str | None, pg_bin_dir: str | None,
                      port: int | None, start_timeout: int) -> Sandbox:
    """initdb a cluster in <path>/data and start it on a free port, reachable only through <path>."""
    data_dir = os.path.join(path, "data")
    initdb = program("initdb", pg_bin_dir)
    pg_ctl = program("pg_ctl", pg_bin_dir)
    runner.run(as_os_user([initdb, "-D", data_dir, "-U", PG_SUPERUSER, "--auth=trust", "--encoding=UTF8",
                           "--no-sync"], os_user), what="initdb of the sandbox cluster")
    chosen = port or free_port()
    with open(os.path.join(data_dir, "postgresql.conf"), "a", encoding="utf-8") as handle:
        handle.write(_pg_settings(chosen, path))
    runner.run(as_os_user([pg_ctl, "-D", data_dir, "-l", os.path.join(path, "server.log"), "-w", "-t",
                           str(start_timeout), "start"], os_user), what="start of the sandbox cluster")
    return Sandbox("postgresql", path, host=path, port=chosen, data_dir=data_dir, socket_dir=path,
                   login_user=PG_SUPERUSER)


def _redis_config(path: str, port: int, password: str | None) -> str:
    lines = [
        f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {path}", 'save ""', "appendonly no",
        "daemonize yes", f"pidfile {os.path.join(path, REDIS_PID)}", f"logfile {os.path.join(path, 'redis.log')}",
    ]
    if password:
        lines.append(f"requirepass {password}")
    return "\n".join(lines) + "\n"


def _redis_answers(port: int) -> bool:
    """Whether a server answers PING on the port (with PONG, or NOAUTH when it wants a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-LOADING"))


def create_redis(runner: CommandRunner, path: str, *, os_user: str | None, redis_server: str | None,
                 port: int | None, password: str | None, started: bool, start_timeout: int,
                 clock: t.Callable[[], float] = time.monotonic) -> Sandbox:
    """A redis-server on 127.0.0.1 and a free port, data in <path>, nothing saved on its own."""
    server = redis_server or shutil.which("redis-server")
    if not server:
        raise DependencyMissing("redis-server is not installed or not on PATH; install it (Debian: redis-server) "
                                "or set redis_server to its path")
    chosen = port or free_port()
    config = os.path.join(path, REDIS_CONFIG)
    _write_private(config, _redis_config(path, chosen, password), _owner(os_user))
    start = as_os_user([server, config], os_user)
    # A stop command that succeeds on a stopped server: an rdb restore stops the server itself (here it never ran).
    sandbox = Sandbox("redis", path, port=chosen, data_dir=path, start_command=start,
                      stop_command=[shutil.which("true") or "/bin/true"])
    if started:
        runner.run(start, what="start of the sandbox redis-server")
        deadline = clock() + start_timeout
        while not _redis_answers(chosen):
            if clock() > deadline:
                raise WaitTimeout(f"the sandbox redis-server on port {chosen} did not answer within {start_timeout}s; "
                                  f"see {os.path.join(path, 'redis.log')}")
            time.sleep(0.1)
    return sandbox


def _running_clusters(path: str) -> list[str]:
    """Data directories under path (one level down) with a postmaster.pid."""
    found = []
    for name in sorted(os.listdir(path)):
        candidate = os.path.join(path, name)
        if os.path.isfile(os.path.join(candidate, "postmaster.pid")):
            found.append(candidate)
    return found


def _directory_owner(path: str) -> str | None:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except KeyError:
        return None


def _stop_cluster(runner: CommandRunner, data_dir: str, pg_bin_dir: str | None) -> None:
    owner = _directory_owner(data_dir) if os.geteuid() == 0 else None
    # Immediate: the sandbox is thrown away, nothing in it needs a clean shutdown.
    runner.run(as_os_user([server_program("pg_ctl", data_dir, pg_bin_dir), "-D", data_dir, "-m", "immediate", "-w", "stop"],
                          owner), what=f"stop of the sandbox cluster in {data_dir}", check=False)


def _stop_redis(path: str, wait: float, clock: t.Callable[[], float] = time.monotonic) -> bool:
    """Stop the redis-server whose pid file is in path; True when one was running."""
    try:
        with open(os.path.join(path, REDIS_PID), encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return False
    if not _is_sandbox_redis(pid, path):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = clock() + wait
    while pid_alive(pid):
        if clock() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    return True


def _is_sandbox_redis(pid: int, path: str) -> bool:
    """The pid is a redis-server started with this sandbox's configuration (pid files outlive processes)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            arguments = handle.read().split(b"\0")
    except OSError:
        return False
    return os.path.join(path, REDIS_CONFIG).encode() in arguments or b"redis-server" in arguments[0]


def remove(runner: CommandRunner, path: str, *, pg_bin_dir: str | None = None, check_mode: bool = False) -> dict[str, t.Any]:
    """Stop what runs in the sandbox at path and delete it; refuses a directory that is not a sandbox."""
    if not os.path.lexists(path):
        return {"changed": False, "path": path, "stopped": [], "msg": f"{path} does not exist: nothing to remove"}
    if os.path.islink(path) or not os.path.isdir(path) or not os.path.isfile(os.path.join(path, MARKER)):
        raise ConfigurationError(
            f"{path} is not a restore test sandbox (it has no {MARKER}); nothing was removed. Give the path "
            "restore_sandbox returned"
        )
    stopped = [f"postgresql {data_dir}" for data_dir in _running_clusters(path)]
    if os.path.isfile(os.path.join(path, REDIS_PID)):
        stopped.append(f"redis-server {os.path.join(path, REDIS_PID)}")
    if not check_mode:
        for data_dir in _running_clusters(path):
            _stop_cluster(runner, data_dir, pg_bin_dir)
        _stop_redis(path, wait=10)
        shutil.rmtree(path)
    return {"changed": True, "path": path, "stopped": stopped}


def create(runner: CommandRunner, *, kind: str, base_dir: str | None, os_user: str | None, port: int | None,
           pg_bin_dir: str | None, redis_server: str | None, password: str | None, started: bool,
           start_timeout: int) -> Sandbox:
    """A new sandbox of kind; on a failure to start, nothing is left behind."""
    path = make_directory(base_dir, os_user)
    try:
        if kind == "postgresql":
            return create_postgresql(runner, path, os_user=os_user, pg_bin_dir=pg_bin_dir or pg_bin_dir_default(),
                                     port=port, start_timeout=start_timeout)
        if kind == "redis":
            return create_redis(runner, path, os_user=os_user, redis_server=redis_server, port=port,
                                password=password, started=started, start_timeout=start_timeout)
        return Sandbox("directory", path, port=port or free_port(), data_dir=os.path.join(path, "data"))
    except (CommandFailed, DependencyMissing, ConfigurationError, WaitTimeout, OSError):
        remove(runner, path, pg_bin_dir=pg_bin_dir)
        raise


def database_name(base: str, now: datetime) -> str:
    """<base>_restore_test_<UTC time>_<random>, within PostgreSQL's 63 bytes."""
    suffix = f"{DATABASE_MARK}{now.strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_hex(3)}"
    return base[:63 - len(suffix)] + suffix


def drop_database(connection: t.Any, name: str, where: str, check_mode: bool = False) -> dict[str, t.Any]:
    """Drop a scratch database of a restore test (and the sessions on it); refuses any other name."""
    if DATABASE_MARK not in name:
        raise ConfigurationError(
            f"{name} is not a restore test database (its name has no {DATABASE_MARK}); nothing was dropped. "
            "Give the database restore_sandbox returned"
        )
    exists = bool(query(connection, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))
    if exists and not check_mode:
        query(connection, _postgres.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier(name)))
    return {"changed": exists, "database": name, "stopped": [],
            "msg": f"dropped database {name} on {where}" if exists else f"{where} has no database {name}: nothing to drop"}
