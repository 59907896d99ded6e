# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore method physical: point-in-time recovery from a pgBackRest backup, and standbys.

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

import os
import shutil
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    DrError,
    TargetNotEmpty,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.cluster import (
    STARTUP_LOG,
    append_setting,
    directory_state,
    give_to,
    in_recovery,
    make_directory,
    postmaster_running,
    read_marker,
    server_program,
    start,
    wait_promoted,
    wait_standby,
    write_marker,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    as_os_user,
    server_environment,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.pgbackrest import (
    PgBackRest,
    choose_repository,
    repositories,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.selection import choose_pg_backup
from ansible_collections.resilience.dr.plugins.module_utils._postgres.wal import unarchived_wal
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, utc_now


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
    running, replayed_to = in_recovery(local) if state["running"] else (False, None)
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
        start(runner, pg_ctl, data_dir, wait_timeout, os_user)
        replayed_to = wait_standby(local, deadline, data_dir)
    if not promote:
        write_marker(data_dir, {**marker, "started_at": format_time(utc_now())})
        return {**result, "changed": True, "action": action, "replayed_to": replayed_to,
                "diff": {"before": before, "after": after}, "executed_commands": runner.executed_commands}
    # Before it leaves recovery the standby replays every WAL segment the archive holds (PostgreSQL's promotion).
    runner.run(as_os_user([pg_ctl, "-D", data_dir, "-w", "-t", str(wait_timeout), "promote"], os_user),
               what=f"promoting the standby in {data_dir}", own_environment=server_environment())
    recovered_to = wait_promoted(local, deadline, data_dir)
    write_marker(data_dir, {**marker, "mode": "promoted", "recovered_to": recovered_to,
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
        raise CommandFailed(
            f"{data_dir} is restored from {result.get('backup_id')} and running on port {port}, but its WAL does not "
            f"reach the pgBackRest archive of stanza {pgbackrest.stanza}: {error.message}. Fix archive_command (see "
            "the server log) and run pgbackrest check, then take a new backup; until then there is no "
            "point-in-time recovery",
            **error.details,
        ) from error
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
    if standby and promote:
        raise ConfigurationError("standby and promote exclude each other: create the standby first, promote it later")
    if (standby or promote) and (target_time or target_lsn or target_name):
        raise ConfigurationError("a standby replays to the end of the archived WAL; standby and promote do not take "
                                 "target_time, target_lsn or target_name (restore to a point in time without them)")
    # The base backup must end at or before target_time for recovery to reach it.
    moment = parse_time(target_time, "target_time") if target_time else None
    selection = choose_pg_backup(repository, component, backup_id, "physical", moment)
    entry = selection.entry
    manifest = entry.readable_manifest()
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
            make_directory(data_dir, os_user)
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
        append_setting(data_dir, f"# resilience.dr pg_restore of {entry.backup_id}\nport = {int(port)}\n", os_user)
        pg_ctl = server_program("pg_ctl", data_dir, pg_bin_dir)
        started = True
        start(runner, pg_ctl, data_dir, wait_timeout, os_user)
        deadline = time.monotonic() + wait_timeout
        if standby:
            recovered_to = wait_standby(local, deadline, data_dir)
        else:
            recovered_to = wait_promoted(local, deadline, data_dir)
        write_marker(data_dir, {
            "backup_id": entry.backup_id, "component": component, "label": label, "recovery_target": target,
            "recovered_to": recovered_to, "restored_at": format_time(utc_now()), "stanza": stanza,
            "pgbackrest_repo": chosen, "mode": "standby" if standby else "restored", "archive_mode": archiving,
        })
    except BaseException as error:
        problem = _undo(runner, pg_ctl if started else None, data_dir, previous, os_user)
        if not created and previous is None and not os.path.exists(data_dir):
            make_directory(data_dir, os_user)  # it was an empty directory: leave it so
        if problem and isinstance(error, DrError):
            raise error.with_context(problem) from error
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
            give_to(target + ".tmp", os_user)
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
    if pg_ctl and postmaster_running(data_dir):
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
