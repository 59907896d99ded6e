# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_rpo_info: how much committed data a disaster would lose right now.

Everything up to the end of the last archived WAL segment is safe in the
archive. The RPO exposure is 0 when nothing was written after that segment,
else the time since that segment was archived (the oldest change that is not
archived yet happened at most that long ago). Archive failures newer than
the last success mean archiving is broken: the exposure then grows with every
second.

With pgBackRest archiving (several repositories, typically one per site),
the same is reported per repository from `pgbackrest info` and `repo-ls`:
its newest archived segment and when it arrived, and whether the repository
can be read at all. The stanza and configuration come from the options, or
from the cluster's archive_command when it runs pgbackrest.
"""

from __future__ import annotations

import os
import re
import shlex
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    connected,
    expect_row,
    query_one,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.pgbackrest import PgBackRest, repositories
from ansible_collections.resilience.dr.plugins.module_utils._postgres.wal import parse_lsn, segment_after, segment_end
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time


def exposure(*, now: datetime, current_lsn: int, last_archived_wal: str | None, last_archived_time: datetime | None,
             segment_size: int) -> tuple[int | None, int | None]:
    """(RPO exposure in whole seconds, bytes of WAL not archived yet); None when nothing was ever archived."""
    end = segment_end(last_archived_wal, segment_size)
    if end is None or last_archived_time is None:
        return None, None
    pending = max(0, current_lsn - end)
    if pending == 0:
        return 0, 0
    return max(0, int((now - last_archived_time).total_seconds())), pending


def pgbackrest_of(archive_command: str | None) -> tuple[str | None, str | None] | None:
    """(config, stanza) of an archive_command running `pgbackrest ... archive-push`, else None."""
    try:
        words = shlex.split(archive_command or "")
    except ValueError:
        return None
    if not any(os.path.basename(word) == "pgbackrest" for word in words) or "archive-push" not in words:
        return None
    options = dict(word[2:].split("=", 1) for word in words if word.startswith("--") and "=" in word)
    return options.get("config"), options.get("stanza")


def repository_exposure(pgbackrest: t.Any, *, now: datetime, current_lsn: int | None, segment_size: int,
                        cluster_last_wal: str | None) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Each pgBackRest repository of the stanza with its newest archived WAL, its time and the RPO exposure
    it alone would leave (plus warnings for what could not be read)."""
    warnings = []
    found = repositories(pgbackrest.info())
    for item in found:
        item.pop("labels", None)
        arrived = None
        if item["available"] and item["newest_wal"] and item["archive_id"]:
            try:
                arrived = pgbackrest.newest_wal_time(item["repo"], item["archive_id"], item["newest_wal"])
            except (DrError, ValueError) as error:
                warnings.append(f"repo{item['repo']}: the time of WAL segment {item['newest_wal']} is unknown ({error})")
        item["newest_wal_time"] = arrived
        rpo_seconds, pending = None, None
        if current_lsn is not None and arrived:
            rpo_seconds, pending = exposure(now=now, current_lsn=current_lsn, last_archived_wal=item["newest_wal"],
                                            last_archived_time=parse_time(arrived), segment_size=segment_size)
        item["rpo_seconds"], item["unarchived_bytes"] = rpo_seconds, pending
        # Behind the cluster's archiver: segments PostgreSQL counts as archived are missing here.
        item["behind"] = bool(item["available"] and cluster_last_wal and (
            not item["newest_wal"] or segment_after(cluster_last_wal, item["newest_wal"])))
        item["unreachable"] = not item["available"]
        if item["unreachable"]:
            warnings.append(f"pgBackRest repo{item['repo']} of stanza {pgbackrest.stanza} cannot be read: "
                            f"{item['state']} ({item['status']})")
    return found, warnings


def rpo_info(params: ConnectionParams, *, database: str, repository: t.Any = None,
             component: str | None = None, stanza: str | None = None, pgbackrest_config: str | None = None,
             os_user: str | None = "postgres") -> dict[str, t.Any]:
    with connected(params, database) as connection:
        row = query_one(connection, """
            SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
                   last_failed_time, stats_reset, current_setting('archive_mode'),
                   current_setting('archive_timeout'), current_setting('wal_segment_size'),
                   pg_is_in_recovery(), clock_timestamp(),
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END,
                   (SELECT system_identifier::text FROM pg_control_system()),
                   current_setting('archive_command')
            FROM pg_stat_archiver
        """)
    row = expect_row(row)
    (archived_count, last_wal, last_time, failed_count, failed_wal, failed_time, stats_reset, archive_mode,
     archive_timeout, segment_size, in_recovery, now, current_lsn, current_wal, system_identifier,
     archive_command) = row
    if archive_mode == "off":
        raise ConfigurationError(
            f"WAL archiving is off on {params.where} (archive_mode = off): there is no point-in-time recovery and "
            "the RPO is the age of the newest backup; turn archive_mode on and set archive_command"
        )
    size = _size_bytes(segment_size)
    rpo_seconds, pending = (None, None)
    if current_lsn is not None:
        rpo_seconds, pending = exposure(now=now, current_lsn=parse_lsn(current_lsn), last_archived_wal=last_wal,
                                        last_archived_time=last_time, segment_size=size)
    failing = bool(failed_time and (last_time is None or failed_time > last_time))
    result: dict[str, t.Any] = {
        "changed": False, "server": params.where, "system_identifier": system_identifier, "in_recovery": in_recovery,
        "archive_mode": archive_mode, "archive_timeout": archive_timeout, "checked_at": format_time(now),
        "current_lsn": current_lsn, "current_wal": current_wal,
        "archived_count": archived_count, "last_archived_wal": last_wal,
        "last_archived_time": format_time(last_time) if last_time else None,
        "failed_count": failed_count, "last_failed_wal": failed_wal,
        "last_failed_time": format_time(failed_time) if failed_time else None,
        "stats_reset": format_time(stats_reset) if stats_reset else None,
        "archive_failing": failing, "unarchived_bytes": pending, "rpo_seconds": rpo_seconds,
        "newest_backup": None, "newest_backup_age_s": None,
        "pgbackrest_stanza": None, "repositories": [], "unreachable_repositories": [],
    }
    warnings = []
    if in_recovery:
        warnings.append(f"{params.where} is a standby: its own archiver is idle; ask the primary")
    elif rpo_seconds is None:
        warnings.append(f"{params.where} has not archived any WAL segment yet; the RPO exposure is unknown")
    detected = pgbackrest_of(archive_command)
    if stanza or detected:
        explicit = bool(stanza or pgbackrest_config)
        config = pgbackrest_config or (detected[0] if detected else None)
        stanza = stanza or (detected[1] if detected else None)
        try:
            if not stanza:
                raise ConfigurationError(f"the archive_command of {params.where} runs pgbackrest without --stanza; "
                                         "set stanza")
            found, problems = repository_exposure(
                PgBackRest(CommandRunner(), stanza, config, os_user), now=now,
                current_lsn=parse_lsn(current_lsn) if current_lsn else None, segment_size=size,
                cluster_last_wal=last_wal)
        except DrError as error:
            if explicit:
                raise
            # Found in archive_command only: the repositories may be out of reach from here.
            warnings.append(f"the pgBackRest repositories of stanza {stanza} could not be read: {error.message}")
        else:
            warnings += problems
            result.update(pgbackrest_stanza=stanza, repositories=found,
                          unreachable_repositories=[item["repo"] for item in found if item["unreachable"]])
    if warnings:
        result["warnings"] = warnings
    if repository is not None and component:
        result.update(_newest_backup(repository, component, repository.clock()))
    return result


def _size_bytes(setting: str) -> int:
    """'16MB' (current_setting('wal_segment_size')) in bytes."""
    match = re.match(r"^(\d+)\s*(kB|MB|GB)?$", setting.strip())
    if not match:
        return 16 * 1024 * 1024
    factor = {"kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, None: 1}[match.group(2)]
    return int(match.group(1)) * factor


def _newest_backup(repository: t.Any, component: str, now: datetime) -> dict[str, t.Any]:
    usable = [entry for entry in repository.list_backups(component) if entry.usable and entry.manifest is not None]
    if not usable:
        return {"newest_backup": None, "newest_backup_age_s": None}
    entry = usable[-1]
    summary = entry.summary(now)
    return {
        "newest_backup": {key: summary.get(key) for key in (
            "backup_id", "method", "status", "finished_at", "consistency_point")},
        "newest_backup_age_s": summary["age_s"],
    }
