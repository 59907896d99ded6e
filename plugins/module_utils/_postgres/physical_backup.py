# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup method physical: a pgBackRest backup, recorded in this collection's repository.

The data lives in pgBackRest's own repository (with the archived WAL); this
collection's repository gets one small backup per pgBackRest backup,
recording its label, WAL positions and times (file `pgbackrest.json`), so
backup_info lists physical backups beside logical ones and restores can name
them by backup_id. A stanza configured with several pgBackRest repositories
(one per site) is backed up into each of them.
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    CommandFailed,
    ConfigurationError,
    SourceUnavailable,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    connected,
    query_one,
    server_info,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.pgbackrest import (
    PgBackRest,
    backup_record,
    describe_repositories,
    repo_key,
    repositories,
    stanza_missing,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

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
