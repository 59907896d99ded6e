# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup and pg_restore method physical: pgBackRest backups and point-in-time recovery.

The data lives in pgBackRest's own repository (with the archived WAL); this
collection's repository gets one small backup per pgBackRest backup,
recording its label, WAL positions and times (file `pgbackrest.json`), so
backup_info lists physical backups beside logical ones and restores can name
them by backup_id.

Restore: `pgbackrest restore` into a new, empty data directory (never over a
live one: a non-empty one is moved aside), start it, wait until recovery has
ended and the server accepts writes, and report the time of the last
transaction it replayed.

Archiving of the restored cluster: a copy (restored into another data
directory) runs with archiving off, as it must not push a new timeline into
the archive of the cluster it came from. The cluster itself rebuilt in place
(data_dir is the data directory the backup was taken from: a corrupted or lost
data directory) keeps the archiving its configuration sets, as
`pgbackrest restore --archive-mode=preserve` does: otherwise the restore
would silently end the point-in-time recovery of the cluster from then on.
`pgbackrest check` then proves that the new timeline reaches the archive, so
the next backup works. Rebuilding in place also salvages the WAL the damaged
directory still holds, as PostgreSQL's documentation of archive recovery
advises: complete segments not archived yet are pushed to the archive, and the
segment being written when the cluster stopped is copied into the restored
pg_wal, so recovery to the end replays up to the last commit before the
damage, not only to the last archived segment.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    DrError,
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
    server_info,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.pgbackrest import (
    PgBackRest,
    backup_record,
    choose_repository,
    describe_repositories,
    repo_key,
    repositories,
    stanza_missing,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import pid_alive
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, utc_now

INFO_FILE = "pgbackrest.json"


def backup_repositories(found: t.Sequence[t.Mapping[str, t.Any]], requested: t.Sequence[int] | None,
                        stanza: str, creating: bool) -> list[int | None]:
    """The repositories to back up into: `requested`, else every repository the stanza's configuration lists
    (None: pgBackRest's default, for a configuration it did not list). Each must be usable."""
    configured = [item["repo"] for item in found]
    if requested:
        unknown = [repo for repo in requested if configured and repo not in configured]
        if unknown:
            raise ConfigurationError(
                f"pgbackrest_repos {list(requested)} names repo{unknown[0]}, which the pgBackRest configuration of "
                f"stanza {stanza} does not have (it has {', '.join(f'repo{repo}' for repo in configured)})"
            )
        chosen: list[int | None] = list(dict.fromkeys(requested))
    else:
        chosen = list(configured) or [None]
    if creating:
        return chosen
    broken = [item for item in found if item["repo"] in chosen and item["state"] not in ("ok", "no_backups", "busy")]
    if broken:
        usable = [item["repo"] for item in found if item["available"]]
        raise SourceUnavailable(
            f"cannot back up stanza {stanza} into every repository: {describe_repositories(broken)}. "
            f"Set pgbackrest_repos to the reachable ones ({usable}) while the others are lost, or bring them back "
            "(pgbackrest stanza-create creates the stanza in a new, empty repository)"
        )
    return chosen


def physical_backup(
    repository: Repository,
    params: ConnectionParams,
    *,
    component: str,
    database: str,
    stanza: str,
    backup_type: str = "full",
    config: str | None = None,
    os_user: str | None = "postgres",
    repos: t.Sequence[int] | None = None,
    retention_class: str = "standard",
    check_mode: bool = False,
) -> dict[str, t.Any]:
    runner = CommandRunner(params.environment())
    with connected(params, database) as connection:
        info = server_info(connection)
        data_directory = query_one(connection, "SELECT current_setting('data_directory')")
    if info["in_recovery"]:
        raise ConfigurationError(
            f"the server at {params.where} is a standby; take physical backups on the primary (or configure "
            "backup-standby in pgBackRest and run this against the primary)"
        )
    pgbackrest = PgBackRest(runner, stanza, config, os_user)
    stanza_info = pgbackrest.info()
    missing = stanza_missing(stanza_info)
    found = repositories(stanza_info)
    targets = backup_repositories(found, repos, stanza, missing)
    plan = {
        "component": component, "method": "physical", "type": backup_type, "stanza": stanza,
        "server": params.where, "server_version": info["server_version"], "system_identifier": info["system_identifier"],
        "data_directory": data_directory[0] if data_directory else None, "stanza_created": missing,
        "backups_in_stanza": len(stanza_info.get("backup") or []), "pgbackrest_repos": targets,
    }
    if check_mode:
        return {**plan, "changed": True, "backup_id": None}
    if missing:
        pgbackrest.run("stanza-create", what=f"pgbackrest stanza-create (stanza {stanza})")
    if set(targets) >= {item["repo"] for item in found}:
        # check proves that WAL archiving reaches every repository: without it there is no PITR. With a
        # repository left out (lost), each backup's own archive check proves it for the repository backed up.
        pgbackrest.run("check", what=f"pgbackrest check (stanza {stanza}): WAL archiving must work for PITR")
    with repository.new_backup(component, kind="postgresql", method="physical",
                               retention_class=retention_class) as backup:
        taken: list[tuple[int | None, dict[str, t.Any]]] = []
        for repo in targets:
            before = {item.get("label") for item in stanza_info.get("backup") or [] if repo is None or repo_key(item) == repo}
            where = f" into repo{repo}" if repo is not None else ""
            options = [f"--repo={repo}"] if repo is not None else []
            pgbackrest.run("backup", *options, f"--type={backup_type}",
                           what=f"pgbackrest backup --type={backup_type}{where} (stanza {stanza})")
            stanza_info = pgbackrest.info()
            new = [item for item in stanza_info.get("backup") or []
                   if item.get("label") not in before and (repo is None or repo_key(item) == repo)]
            if not new:
                raise CommandFailed(f"pgbackrest backup{where} of stanza {stanza} ended without error but pgbackrest "
                                    "info lists no new backup; check the pgBackRest log")
            taken.append((repo, new[-1]))
        records = [{"repo": repo, **backup_record(item)} for repo, item in taken]
        # The backup is consistent in every repository once the last of them stopped.
        record = dict(records[0])
        newest = max(records, key=lambda item: item["stop_time"] or "")
        backup.add_bytes(INFO_FILE, json.dumps(taken[0][1], sort_keys=True, indent=1).encode("utf-8"))
        backup.source = {
            "host": params.where, "server_version": info["server_version"],
            "system_identifier": info["system_identifier"], "cluster_name": info["cluster_name"],
            "data_directory": plan["data_directory"], "stanza": stanza,
        }
        backup.consistency_point = {
            "time": newest["stop_time"], "lsn": newest["stop_lsn"], "label": record["label"],
            "start_time": record["start_time"], "start_lsn": record["start_lsn"],
        }
        backup.tools = {"pgbackrest": pgbackrest.run("version").strip().split()[-1]}
        backup.extra = {"pgbackrest": {**record, "stanza": stanza, "config": config, "repos": records}}
    return {
        **plan, "changed": True, "backup_id": backup.backup_id, "label": record["label"],
        "consistency_point": backup.consistency_point, "pgbackrest": record, "pgbackrest_backups": records,
        "size": sum(item.size for item in backup.manifest.files),
        "content_size": record["size"], "files": len(backup.manifest.files),
        "executed_commands": runner.executed_commands,
    }


MARKER_FILE = "resilience-dr-restore.json"
STARTUP_LOG = "resilience-dr-startup.log"


def recovery_target(target_time: str | None, target_lsn: str | None, target_name: str | None) -> dict[str, t.Any]:
    """pgBackRest's --type and --target for the options given (latest: the end of the archived WAL)."""
    if target_time:
        # In UTC with an explicit zone: PostgreSQL would read a time without one in the restored server's zone.
        moment = parse_time(target_time, "target_time")
        return {"type": "time", "target": moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")}
    if target_lsn:
        return {"type": "lsn", "target": target_lsn}
    if target_name:
        return {"type": "name", "target": target_name}
    return {"type": "latest", "target": None}


ARCHIVE_MODES = ("auto", "off", "preserve")


def archive_mode_for(requested: str, data_dir: str, source: t.Mapping[str, t.Any] | None) -> str:
    """off or preserve: auto keeps archiving only when the cluster is rebuilt in its own data directory."""
    if requested not in ARCHIVE_MODES:
        raise ConfigurationError(f"archive_mode {requested!r} is not one of {', '.join(ARCHIVE_MODES)}")
    if requested != "auto":
        return requested
    origin = (source or {}).get("data_directory")
    if origin and os.path.normpath(os.path.abspath(origin)) == os.path.normpath(os.path.abspath(data_dir)):
        return "preserve"
    return "off"


WAL_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


def next_segment(name: str, segment_size: int) -> str:
    """The name of the WAL segment after `name` on the same timeline."""
    per_log = 0x100000000 // segment_size
    number = int(name[8:16], 16) * per_log + int(name[16:], 16) + 1
    return f"{name[:8]}{number // per_log:08X}{number % per_log:08X}"


def unarchived_wal(wal_dir: str) -> dict[str, t.Any]:
    """WAL in a (damaged) cluster's pg_wal that its archive may lack.

    ready: complete segments still waiting for archive_command (status .ready);
    current: the segment being written when the server stopped, the one after
    the newest segment with a status (recycled segments ahead of it are not
    WAL of this cluster's history). Nothing when there is no archive status.
    """
    status_dir = os.path.join(wal_dir, "archive_status")
    try:
        segments = {name for name in os.listdir(wal_dir) if WAL_SEGMENT.match(name)}
        statuses = os.listdir(status_dir)
    except OSError:
        return {"ready": [], "current": None}
    ready, marked = [], []
    for entry in statuses:
        name, status = (entry.split(".", 1) + [""])[:2]
        if WAL_SEGMENT.match(name) and status in ("ready", "done"):
            marked.append(name)
            if status == "ready" and name in segments:
                ready.append(name)
    marked = sorted(name for name in marked if name in segments)
    if not marked:
        return {"ready": sorted(ready), "current": None}
    size = os.path.getsize(os.path.join(wal_dir, marked[-1]))
    if size <= 0:  # a truncated segment: its size does not tell the segment size
        return {"ready": sorted(ready), "current": None}
    current = next_segment(marked[-1], size)
    return {"ready": sorted(ready), "current": current if current in segments else None}


def read_marker(data_dir: str) -> dict[str, t.Any] | None:
    try:
        with open(os.path.join(data_dir, MARKER_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def directory_state(data_dir: str) -> dict[str, t.Any]:
    """What is at data_dir now: nothing, an empty directory, or files (and whether a server runs there)."""
    if not os.path.exists(data_dir):
        return {"exists": False, "empty": True, "running": False}
    if not os.path.isdir(data_dir):
        raise ConfigurationError(f"data_dir {data_dir} exists and is not a directory")
    entries = os.listdir(data_dir)
    return {"exists": True, "empty": not entries, "running": _postmaster_running(data_dir), "entries": len(entries)}


def _postmaster_running(data_dir: str) -> bool:
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


def _make_directory(path: str, os_user: str | None) -> None:
    os.makedirs(path, mode=0o700)
    if os_user and os.geteuid() == 0:
        account = pwd.getpwnam(os_user)
        os.chown(path, account.pw_uid, account.pw_gid)


def _append_setting(data_dir: str, lines: str, os_user: str | None) -> None:
    """Settings of the restored cluster, in postgresql.auto.conf (read last, kept on later starts)."""
    path = os.path.join(data_dir, "postgresql.auto.conf")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(lines)
    if os_user and os.geteuid() == 0:
        account = pwd.getpwnam(os_user)
        os.chown(path, account.pw_uid, account.pw_gid)


def _wait_promoted(params: ConnectionParams, deadline: float, data_dir: str) -> str | None:
    """Wait until the restored server accepts writes; the commit time of the last transaction replayed."""
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with connected(params, "postgres") as connection:
                row = query_one(connection, "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
                if row is not None and not row[0]:
                    return format_time(row[1]) if row[1] is not None else None
                last_error = "still in recovery"
        except SourceUnavailable as error:
            last_error = error.message
        time.sleep(0.5)
    raise WaitTimeout(
        f"the cluster restored into {data_dir} did not finish recovery in time ({last_error}); "
        f"see {os.path.join(data_dir, STARTUP_LOG)} and the server log, raise wait_timeout if it is still replaying WAL"
    )


def _wait_standby(params: ConnectionParams, deadline: float, data_dir: str) -> str | None:
    """Wait until the restored standby accepts connections in recovery; the commit time it replayed up to."""
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with connected(params, "postgres") as connection:
                row = query_one(connection, "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
                if row is not None and row[0]:
                    return format_time(row[1]) if row[1] is not None else None
                raise TargetNotEmpty(f"the cluster restored into {data_dir} as a standby left recovery on its own; "
                                     "it is no standby (was it promoted, or is standby.signal missing?)")
        except SourceUnavailable as error:
            last_error = error.message
        time.sleep(0.5)
    raise WaitTimeout(
        f"the standby restored into {data_dir} did not accept connections in time ({last_error}); "
        f"see {os.path.join(data_dir, STARTUP_LOG)} and the server log, raise wait_timeout if it is still replaying WAL"
    )


def _in_recovery(params: ConnectionParams) -> tuple[bool, str | None]:
    """(in recovery, commit time of the last transaction replayed) of the running cluster at params."""
    with connected(params, "postgres") as connection:
        row = query_one(connection, "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
    if row is None:
        raise SourceUnavailable(f"{params.where} did not say whether it is in recovery")
    return bool(row[0]), format_time(row[1]) if row[1] is not None else None


def _write_marker(data_dir: str, marker: t.Mapping[str, t.Any]) -> None:
    path = os.path.join(data_dir, MARKER_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(marker, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path + ".tmp", path)


def _start(runner: CommandRunner, pg_ctl: str, data_dir: str, wait_timeout: int, os_user: str | None) -> None:
    # The server must not inherit the connection's password (PGPASSWORD) nor any other client setting.
    runner.run(as_os_user([pg_ctl, "-D", data_dir, "-l", os.path.join(data_dir, STARTUP_LOG), "-w",
                           "-t", str(wait_timeout), "start"], os_user),
               what=f"starting the cluster restored into {data_dir}", own_environment=server_environment())


def recorded_labels(recorded: t.Mapping[str, t.Any]) -> dict[int | None, str | None]:
    """Repository -> pgBackRest label of the backup there (None -> the label of a single-repository record)."""
    labels: dict[int | None, str | None] = {}
    for item in recorded.get("repos") or []:
        if item.get("repo") is not None:
            labels[int(item["repo"])] = item.get("label")
    if not labels:
        labels[None] = recorded.get("label")
    return labels


def _existing_standby(
    runner: CommandRunner, local: ConnectionParams, marker: t.Mapping[str, t.Any], state: t.Mapping[str, t.Any], *,
    data_dir: str, promote: bool, result: dict[str, t.Any], pg_bin_dir: str | None, os_user: str | None,
    wait_timeout: int, archiving: str, pgbackrest: t.Callable[[], PgBackRest], check_mode: bool,
) -> dict[str, t.Any] | None:
    """A standby (or a cluster promoted from one) this module restored for the stanza into data_dir:
    keep it, start it, or promote it. None when data_dir holds no such cluster."""
    mode = marker.get("mode", "restored")
    result = {**result, "pgbackrest_repo": marker.get("pgbackrest_repo"), "backup_id": marker.get("backup_id"),
              "label": marker.get("label"), "archive_mode": marker.get("archive_mode", archiving)}
    before = {"data_dir": data_dir, "mode": mode, "running": state["running"]}
    running, replayed_to = _in_recovery(local) if state["running"] else (False, None)
    if state["running"] and not running:
        if promote:
            return {**result, "changed": False, "action": "none", "recovered_to": marker.get("recovered_to"),
                    "msg": f"{data_dir} already runs the cluster promoted from the standby (stanza {result['stanza']})",
                    "diff": {"before": before, "after": before}}
        raise TargetNotEmpty(
            f"data_dir {data_dir} runs a cluster of stanza {result['stanza']} that is out of recovery (promoted); "
            "it is no standby any more. Restore a new standby into another data_dir (or stop it and set replace: true)"
        )
    if not state["running"] and mode != "standby":
        return None
    if state["running"] and not promote:
        return {**result, "changed": False, "action": "none", "replayed_to": replayed_to,
                "msg": f"{data_dir} already runs a standby of stanza {result['stanza']}",
                "diff": {"before": before, "after": before}}
    action = "promoted" if promote else "started"
    after = {"data_dir": data_dir, "mode": "promoted" if promote else "standby", "running": True}
    if check_mode:
        return {**result, "changed": True, "action": action, "diff": {"before": before, "after": after}}
    pg_ctl = server_program("pg_ctl", data_dir, pg_bin_dir)
    deadline = time.monotonic() + wait_timeout
    if not state["running"]:
        _start(runner, pg_ctl, data_dir, wait_timeout, os_user)
        replayed_to = _wait_standby(local, deadline, data_dir)
    if not promote:
        _write_marker(data_dir, {**marker, "started_at": format_time(utc_now())})
        return {**result, "changed": True, "action": action, "replayed_to": replayed_to,
                "diff": {"before": before, "after": after}, "executed_commands": runner.executed_commands}
    # Before it leaves recovery the standby replays every WAL segment the archive holds (PostgreSQL's promotion).
    runner.run(as_os_user([pg_ctl, "-D", data_dir, "-w", "-t", str(wait_timeout), "promote"], os_user),
               what=f"promoting the standby in {data_dir}", own_environment=server_environment())
    recovered_to = _wait_promoted(local, deadline, data_dir)
    _write_marker(data_dir, {**marker, "mode": "promoted", "recovered_to": recovered_to,
                             "promoted_at": format_time(utc_now())})
    result.update(changed=True, action=action, recovered_to=recovered_to, diff={"before": before, "after": after},
                  executed_commands=runner.executed_commands)
    if result["archive_mode"] == "preserve":
        _check_archiving(pgbackrest(), data_dir, local.port, result)
    return result


def _check_archiving(pgbackrest: PgBackRest, data_dir: str, port: int, result: dict[str, t.Any]) -> None:
    """The restored cluster is the one pgBackRest backs up: its new timeline must reach the archive."""
    try:
        pgbackrest.run("check", f"--pg1-path={data_dir}", f"--pg1-port={int(port)}",
                       what=f"pgbackrest check (stanza {pgbackrest.stanza}) of the cluster restored into {data_dir}")
    except CommandFailed as error:
        error.message = (
            f"{data_dir} is restored from {result.get('backup_id')} and running on port {port}, but its WAL does not "
            f"reach the pgBackRest archive of stanza {pgbackrest.stanza}: {error.message}. Fix archive_command (see "
            "the server log) and run pgbackrest check, then take a new backup; until then there is no "
            "point-in-time recovery"
        )
        raise
    result["archiving_checked"] = True


def physical_restore(
    repository: Repository,
    params: ConnectionParams,
    *,
    component: str,
    backup_id: str | None = None,
    stanza: str | None = None,
    config: str | None = None,
    os_user: str | None = "postgres",
    data_dir: str,
    port: int,
    target_time: str | None = None,
    target_lsn: str | None = None,
    target_name: str | None = None,
    replace: bool = False,
    archive_mode: str = "auto",
    wait_timeout: int = 600,
    pg_bin_dir: str | None = None,
    repo: int | None = None,
    standby: bool = False,
    promote: bool = False,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (  # pylint: disable=import-outside-toplevel
        choose_pg_backup,
    )

    if standby and promote:
        raise ConfigurationError("standby and promote exclude each other: create the standby first, promote it later")
    if (standby or promote) and (target_time or target_lsn or target_name):
        raise ConfigurationError("a standby replays to the end of the archived WAL; standby and promote do not take "
                                 "target_time, target_lsn or target_name (restore to a point in time without them)")
    # The base backup must end at or before target_time for recovery to reach it.
    moment = parse_time(target_time, "target_time") if target_time else None
    selection = choose_pg_backup(repository, component, backup_id, "physical", moment)
    entry = selection.entry
    manifest = entry.manifest
    recorded = (manifest.extra or {}).get("pgbackrest") or {}
    stanza = stanza or recorded.get("stanza") or (manifest.source or {}).get("stanza")
    config = config or recorded.get("config")
    if not stanza:
        raise ConfigurationError(f"{entry.label} does not record its pgBackRest stanza; set stanza")
    label = recorded.get("label")
    target = {"type": "standby", "target": None} if standby else recovery_target(target_time, target_lsn, target_name)
    data_dir = os.path.abspath(data_dir)
    state = directory_state(data_dir)
    archiving = archive_mode_for(archive_mode, data_dir, manifest.source)
    result: dict[str, t.Any] = {
        "backup_id": entry.backup_id, "component": component, "method": "physical", "label": label, "stanza": stanza,
        "data_dir": data_dir, "port": port, "recovery_target": target, "consistency_point": manifest.consistency_point,
        "source": manifest.source, "previous_data_dir": None, "archive_mode": archiving, "archiving_checked": False,
        "salvaged_wal": [], "skipped_backups": selection.skipped_backups(), "pgbackrest_repo": None,
        "standby": standby, "action": "restored",
    }
    runner = CommandRunner(params.environment())
    local = params.with_port(port)
    marker = read_marker(data_dir) if state["exists"] else None
    if (standby or promote) and marker and marker.get("stanza") == stanza and not state["empty"]:
        kept = _existing_standby(
            runner, local, marker, state, data_dir=data_dir, promote=promote, result=result, pg_bin_dir=pg_bin_dir,
            os_user=os_user, wait_timeout=wait_timeout, archiving=archiving, check_mode=check_mode,
            pgbackrest=lambda: PgBackRest(runner, t.cast(str, stanza), config, os_user))
        if kept is not None:
            return kept
    # Only a running cluster counts as restored: a damaged directory keeps the marker of its last restore.
    if marker and marker.get("backup_id") == entry.backup_id and marker.get("recovery_target") == target \
            and state["running"] and not standby:
        return {**result, "changed": False, "action": "none", "recovered_to": marker.get("recovered_to"),
                "pgbackrest_repo": marker.get("pgbackrest_repo"),
                "msg": f"{data_dir} already holds {entry.label} recovered to {target['type']} {target['target'] or ''}".strip(),
                "diff": {"before": {"data_dir": data_dir, **marker}, "after": {"data_dir": data_dir, **marker}}}
    if state["running"]:
        raise TargetNotEmpty(f"a PostgreSQL server runs on data_dir {data_dir}; stop it before restoring into it "
                             "(or restore into another data_dir)")
    if state["exists"] and not state["empty"] and not replace:
        raise TargetNotEmpty(
            f"data_dir {data_dir} is not empty ({state['entries']} entries); refusing to restore {entry.label} over it. "
            "Choose a new data_dir, or set replace: true to move the old one aside (it is kept)"
        )
    previous = f"{data_dir}.before-{utc_now().strftime('%Y%m%dT%H%M%S')}" if state["exists"] and not state["empty"] else None
    result["previous_data_dir"] = previous
    pgbackrest = PgBackRest(runner, stanza, config, os_user)
    found = repositories(pgbackrest.info())
    chosen, label = choose_repository(found, recorded_labels(recorded), repo, stanza)
    result.update(pgbackrest_repo=chosen, label=label, repositories=found)
    result["diff"] = {
        "before": {"data_dir": data_dir, "exists": state["exists"], "empty": state["empty"],
                   "restored_backup_id": (marker or {}).get("backup_id")},
        "after": {"data_dir": data_dir, "exists": True, "restored_backup_id": entry.backup_id, "recovery_target": target,
                  "pgbackrest_repo": chosen},
    }
    if check_mode:
        return {**result, "changed": True}

    if previous:
        os.rename(data_dir, previous)
    created = False
    started = False
    pg_ctl = None
    try:
        if not os.path.exists(data_dir):
            _make_directory(data_dir, os_user)
            created = True
        options = [f"--pg1-path={data_dir}", f"--archive-mode={archiving}",
                   f"--recovery-option=restore_command={pgbackrest.restore_command(data_dir)}"]
        if chosen is not None:
            options.append(f"--repo={chosen}")
        if label:
            options.append(f"--set={label}")
        if standby:
            options.append("--type=standby")
        elif target["type"] != "latest":
            options += [f"--type={target['type']}", f"--target={target['target']}", "--target-action=promote"]
        where = f" from repo{chosen}" if chosen is not None else ""
        pgbackrest.run("restore", *options, what=f"pgbackrest restore of {entry.label} (label {label}){where} into {data_dir}")
        if previous and archive_mode_for("auto", data_dir, manifest.source) == "preserve" and archiving == "preserve":
            result["salvaged_wal"] = _salvage_wal(pgbackrest, previous, data_dir, os_user)
        _append_setting(data_dir, f"# resilience.dr pg_restore of {entry.backup_id}\nport = {int(port)}\n", os_user)
        pg_ctl = server_program("pg_ctl", data_dir, pg_bin_dir)
        started = True
        _start(runner, pg_ctl, data_dir, wait_timeout, os_user)
        deadline = time.monotonic() + wait_timeout
        if standby:
            recovered_to = _wait_standby(local, deadline, data_dir)
        else:
            recovered_to = _wait_promoted(local, deadline, data_dir)
        _write_marker(data_dir, {
            "backup_id": entry.backup_id, "component": component, "label": label, "recovery_target": target,
            "recovered_to": recovered_to, "restored_at": format_time(utc_now()), "stanza": stanza,
            "pgbackrest_repo": chosen, "mode": "standby" if standby else "restored", "archive_mode": archiving,
        })
    except BaseException as error:
        problem = _undo(runner, pg_ctl if started else None, data_dir, previous, os_user)
        if not created and previous is None and not os.path.exists(data_dir):
            _make_directory(data_dir, os_user)  # it was an empty directory: leave it so
        if problem and isinstance(error, DrError):
            error.message = f"{error.message}; {problem}"
        raise
    result["diff"]["after"]["recovered_to"] = recovered_to
    if standby:
        result.update(action="standby", replayed_to=recovered_to)
        return {**result, "changed": True, "recovered_to": None, "executed_commands": runner.executed_commands}
    if archiving == "preserve":
        _check_archiving(pgbackrest, data_dir, port, result)
    return {**result, "changed": True, "recovered_to": recovered_to, "executed_commands": runner.executed_commands}


def _salvage_wal(pgbackrest: PgBackRest, previous: str, data_dir: str, os_user: str | None) -> list[str]:
    """The damaged directory's unarchived WAL: complete segments into the archive, the last one into pg_wal."""
    old_wal = os.path.join(previous, "pg_wal")
    found = unarchived_wal(old_wal)
    for name in found["ready"]:
        path = os.path.join(old_wal, name)
        pgbackrest.runner.run(pgbackrest.argv("archive-push") + [path],
                              what=f"pgbackrest archive-push of {path} (WAL the damaged cluster had not archived)")
    salvaged = list(found["ready"])
    if found["current"]:
        target = os.path.join(data_dir, "pg_wal", found["current"])
        if not os.path.exists(target):
            shutil.copy2(os.path.join(old_wal, found["current"]), target + ".tmp")
            if os_user and os.geteuid() == 0:
                account = pwd.getpwnam(os_user)
                os.chown(target + ".tmp", account.pw_uid, account.pw_gid)
            os.replace(target + ".tmp", target)
        salvaged.append(found["current"])
    return salvaged


def _undo(runner: CommandRunner, pg_ctl: str | None, data_dir: str, previous: str | None,
          os_user: str | None) -> str | None:
    """After a failed restore: stop what was started, remove what was restored, put the old directory back."""
    problems = []
    log = os.path.join(data_dir, STARTUP_LOG)
    if os.path.exists(log):
        try:
            with open(log, encoding="utf-8", errors="replace") as handle:
                tail = " | ".join(line.strip() for line in handle.readlines()[-4:])
            problems.append(f"server log: {tail}")
        except OSError:
            pass
    stopped = True
    if pg_ctl and _postmaster_running(data_dir):
        try:
            runner.run(as_os_user([pg_ctl, "-D", data_dir, "-m", "fast", "-w", "stop"], os_user),
                       what=f"stopping the cluster restored into {data_dir}", own_environment=server_environment())
        except DrError as error:
            stopped = False
            problems.append(f"{error.message}; stop it and remove {data_dir} by hand")
    if stopped:
        shutil.rmtree(data_dir, ignore_errors=True)
    if previous and os.path.exists(previous) and not os.path.exists(data_dir):
        os.rename(previous, data_dir)
        problems.append(f"the previous data directory is back in {data_dir}")
    return "; ".join(problems) or None
