# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PostgreSQL cluster in a data directory on this host, as a physical restore handles it.

What is at the data directory (nothing, an empty directory, files, a running
server), the server programs of its major version, its settings, starting it
and waiting until it is a standby or accepts writes, and the marker a
restore leaves in it (`resilience-dr-restore.json`: which backup, which
recovery target, standby or promoted), which makes a second run idempotent.
"""

from __future__ import annotations

import json
import os
import pwd
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._atomic import write_private
from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    SourceUnavailable,
    TargetNotEmpty,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    as_os_user,
    connected,
    program,
    query_one,
    server_environment,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import pid_alive
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

MARKER_FILE = "resilience-dr-restore.json"
STARTUP_LOG = "resilience-dr-startup.log"
RECOVERY_QUERY = "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()"


def read_marker(data_dir: str) -> dict[str, t.Any] | None:
    try:
        with open(os.path.join(data_dir, MARKER_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(data_dir: str, marker: t.Mapping[str, t.Any]) -> None:
    """The restore marker, 0600 and owned like the data directory: pgBackRest, running as the cluster's user,
    backs up every file in it and fails on one it cannot read."""
    path = os.path.join(data_dir, MARKER_FILE)
    write_private(path, json.dumps(marker))
    if os.geteuid() == 0:
        owner = os.stat(data_dir)
        os.chown(path, owner.st_uid, owner.st_gid)


def directory_state(data_dir: str) -> dict[str, t.Any]:
    """What is at data_dir now: nothing, an empty directory, or files (and whether a server runs there)."""
    if not os.path.exists(data_dir):
        return {"exists": False, "empty": True, "running": False}
    if not os.path.isdir(data_dir):
        raise ConfigurationError(f"data_dir {data_dir} exists and is not a directory")
    entries = os.listdir(data_dir)
    return {"exists": True, "empty": not entries, "running": postmaster_running(data_dir), "entries": len(entries)}


def postmaster_running(data_dir: str) -> bool:
    try:
        with open(os.path.join(data_dir, "postmaster.pid"), encoding="utf-8") as handle:
            pid = int(handle.readline().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


def server_program(name: str, data_dir: str, pg_bin_dir: str | None) -> str:
    """pg_ctl of the restored cluster's major version (Debian keeps it off PATH)."""
    if pg_bin_dir:
        return program(name, pg_bin_dir)
    try:
        with open(os.path.join(data_dir, "PG_VERSION"), encoding="utf-8") as handle:
            major = handle.read().strip()
    except OSError:
        major = ""
    candidate = f"/usr/lib/postgresql/{major}/bin"
    if major and os.access(os.path.join(candidate, name), os.X_OK):
        return os.path.join(candidate, name)
    return program(name, None)


def give_to(path: str, os_user: str | None) -> None:
    """Make os_user (the owner of the cluster's files) own path, when we run as root."""
    if os_user and os.geteuid() == 0:
        account = pwd.getpwnam(os_user)
        os.chown(path, account.pw_uid, account.pw_gid)


def make_directory(path: str, os_user: str | None) -> None:
    os.makedirs(path, mode=0o700)
    give_to(path, os_user)


def append_setting(data_dir: str, lines: str, os_user: str | None) -> None:
    """Settings of the restored cluster, in postgresql.auto.conf (read last, kept on later starts)."""
    path = os.path.join(data_dir, "postgresql.auto.conf")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(lines)
    give_to(path, os_user)


def start(runner: CommandRunner, pg_ctl: str, data_dir: str, wait_timeout: int, os_user: str | None) -> None:
    # The server must not inherit the connection's password (PGPASSWORD) nor any other client setting.
    runner.run(as_os_user([pg_ctl, "-D", data_dir, "-l", os.path.join(data_dir, STARTUP_LOG), "-w",
                           "-t", str(wait_timeout), "start"], os_user),
               what=f"starting the cluster restored into {data_dir}", own_environment=server_environment())


def wait_promoted(params: ConnectionParams, deadline: float, data_dir: str) -> str | None:
    """Wait until the restored server accepts writes; the commit time of the last transaction replayed."""
    return _wait_recovery(params, deadline, data_dir, standby=False,
                          late=f"the cluster restored into {data_dir} did not finish recovery in time")


def wait_standby(params: ConnectionParams, deadline: float, data_dir: str) -> str | None:
    """Wait until the restored standby accepts connections in recovery; the commit time it replayed up to."""
    return _wait_recovery(params, deadline, data_dir, standby=True,
                          late=f"the standby restored into {data_dir} did not accept connections in time")


def _wait_recovery(params: ConnectionParams, deadline: float, data_dir: str, *, standby: bool, late: str) -> str | None:
    """Wait until the server accepts connections in recovery (standby) or out of it; the commit time replayed."""
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with connected(params, "postgres") as connection:
                row = query_one(connection, RECOVERY_QUERY)
                if row is not None and bool(row[0]) == standby:
                    return format_time(row[1]) if row[1] is not None else None
                if standby:
                    raise TargetNotEmpty(f"the cluster restored into {data_dir} as a standby left recovery on its own; "
                                         "it is no standby (was it promoted, or is standby.signal missing?)")
                last_error = "still in recovery"
        except SourceUnavailable as error:
            last_error = error.message
        time.sleep(0.5)
    raise WaitTimeout(
        f"{late} ({last_error}); "
        f"see {os.path.join(data_dir, STARTUP_LOG)} and the server log, raise wait_timeout if it is still replaying WAL"
    )


def in_recovery(params: ConnectionParams) -> tuple[bool, str | None]:
    """(in recovery, commit time of the last transaction replayed) of the running cluster at params."""
    with connected(params, "postgres") as connection:
        row = query_one(connection, RECOVERY_QUERY)
    if row is None:
        raise SourceUnavailable(f"{params.where} did not say whether it is in recovery")
    return bool(row[0]), format_time(row[1]) if row[1] is not None else None
