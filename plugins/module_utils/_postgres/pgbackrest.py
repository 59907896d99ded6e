# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest as a client: commands for one stanza, and what `info` says per repository.

A stanza may live in several pgBackRest repositories (repo1, repo2, ... of
its configuration, typically one per site). WAL is archived into every one;
backups are taken into each (`backup --repo=N`); a restore reads one. The
helpers here turn `pgbackrest info --output=json` into facts per repository:
whether it can be read (`available`), its backups and its newest archived WAL.
"""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import as_os_user
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

# pgBackRest's status codes of a stanza in one repository (`info`, repo[].status.code).
REPO_STATES = {
    0: "ok", 1: "missing", 2: "no_backups", 3: "missing", 4: "inconsistent", 5: "database_mismatch",
    6: "busy", 99: "unreachable",
}
# A repository that can be read for restores and archive-get.
READABLE_CODES = (0, 2, 6)


class PgBackRest:
    """Runs pgbackrest for one stanza, as the owner of the cluster's files."""

    def __init__(self, runner: CommandRunner, stanza: str, config: str | None, os_user: str | None) -> None:
        self.runner = runner
        self.stanza = stanza
        self.config = config
        self.os_user = os_user
        self.path = runner.require(
            "pgbackrest", "install pgBackRest (Debian: pgbackrest; RHEL: pgbackrest from the PostgreSQL project's common "
            "repository, with EPEL)")

    def argv(self, command: str, *options: str) -> list[str]:
        argv = [self.path]
        if self.config:
            argv.append(f"--config={self.config}")
        argv += [f"--stanza={self.stanza}", *options, command]
        return as_os_user(argv, self.os_user)

    def run(self, command: str, *options: str, what: str | None = None) -> str:
        completed = self.runner.run(self.argv(command, *options), what=what or f"pgbackrest {command} (stanza {self.stanza})")
        return completed.stdout.decode("utf-8", "replace")

    def info(self) -> dict[str, t.Any]:
        """The stanza's entry of `pgbackrest info --output=json` (status code 1: missing stanza)."""
        data = json.loads(self.run("info", "--output=json") or "[]")
        for stanza in data:
            if stanza.get("name") == self.stanza:
                return t.cast(dict, stanza)
        return {"name": self.stanza, "status": {"code": 1, "message": "missing stanza path"}, "backup": []}

    def restore_command(self, data_dir: str) -> str:
        """archive-get for recovery without --repo: pgBackRest then tries every repository in order, so a
        restored cluster or standby keeps fetching WAL when the repository it was restored from is lost."""
        parts = [self.path]
        if self.config:
            parts.append(f"--config={self.config}")
        parts += [f"--pg1-path={data_dir}", f"--stanza={self.stanza}", "archive-get", "%f", '"%p"']
        for part in parts[:-3]:
            if any(character in part for character in " '\"\\$`"):
                raise ConfigurationError(f"the path in {part!r} holds characters a restore_command cannot carry; "
                                         "use a pgBackRest configuration file and data directory without spaces or quotes")
        return " ".join(parts)

    def newest_wal_time(self, repo: int, archive_id: str, segment: str) -> str | None:
        """When `segment` was written into repository `repo` (the file's time in `repo-ls`), or None."""
        argv = self.argv("repo-ls", f"--repo={repo}", "--output=json") + [f"archive/{self.stanza}/{archive_id}/{segment[:16]}"]
        listing = self.runner.run(argv, what=f"pgbackrest repo-ls of the WAL archive in repo{repo} (stanza {self.stanza})")
        entries = json.loads(listing.stdout.decode("utf-8", "replace") or "{}")
        times: list[int] = [entry["time"] for name, entry in entries.items()
                            if name.startswith(segment) and isinstance(entry, dict) and entry.get("time") is not None]
        return epoch_time(max(times)) if times else None


def stanza_missing(info: t.Mapping[str, t.Any]) -> bool:
    status = info.get("status") or {}
    return status.get("code") == 1 or "missing stanza" in str(status.get("message", ""))


def epoch_time(value: int | None) -> str | None:
    """pgBackRest's epoch seconds as the collection's UTC time text."""
    if value is None:
        return None
    return format_time(datetime.fromtimestamp(int(value), tz=timezone.utc))


def backup_record(backup: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The facts of one pgBackRest backup as results and the manifest show them."""
    timestamp = backup.get("timestamp") or {}
    lsn = backup.get("lsn") or {}
    archive = backup.get("archive") or {}
    return {
        "label": backup.get("label"), "type": backup.get("type"), "prior": backup.get("prior"),
        "start_time": epoch_time(timestamp.get("start")), "stop_time": epoch_time(timestamp.get("stop")),
        "start_lsn": lsn.get("start"), "stop_lsn": lsn.get("stop"),
        "wal_start": archive.get("start"), "wal_stop": archive.get("stop"),
        "size": (backup.get("info") or {}).get("size"),
        "repository_size": ((backup.get("info") or {}).get("repository") or {}).get("delta"),
    }


def repo_key(item: t.Mapping[str, t.Any]) -> int | None:
    """The repository (its number N of repoN) an info entry (backup, archive) belongs to."""
    key = (item.get("database") or {}).get("repo-key")
    return int(key) if key is not None else None


def repositories(info: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """Each configured repository of the stanza: number, state, pgBackRest's message, backups, archived WAL."""
    found = []
    for repo in sorted(info.get("repo") or [], key=lambda item: int(item.get("key", 0))):
        key = int(repo.get("key", 0))
        status = repo.get("status") or {}
        code = status.get("code")
        backups = [item for item in info.get("backup") or [] if repo_key(item) == key]
        archives = [item for item in info.get("archive") or [] if repo_key(item) == key and item.get("max")]
        newest_archive = max(archives, key=lambda item: (item.get("max") or "", (item.get("database") or {}).get("id", 0)),
                             default=None)
        newest_backup = backups[-1] if backups else None
        found.append({
            "repo": key,
            "state": REPO_STATES.get(code, "error") if isinstance(code, int) else "error",
            "status_code": code,
            "status": status.get("message"),
            "available": code in READABLE_CODES,
            "backups": len(backups),
            "labels": [item.get("label") for item in backups],
            "newest_backup": newest_backup.get("label") if newest_backup else None,
            "newest_backup_time": epoch_time((newest_backup.get("timestamp") or {}).get("stop")) if newest_backup else None,
            "archive_id": newest_archive.get("id") if newest_archive else None,
            "oldest_wal": newest_archive.get("min") if newest_archive else None,
            "newest_wal": newest_archive.get("max") if newest_archive else None,
        })
    return found


def describe_repositories(found: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """'repo1 missing (missing stanza path), repo2 ok' for messages."""
    return ", ".join(f"repo{item['repo']} {item['state']} ({item['status']})" for item in found) or "no repository listed"


def choose_repository(found: t.Sequence[t.Mapping[str, t.Any]], labels: t.Mapping[int | None, str | None],
                      requested: int | None, stanza: str) -> tuple[int | None, str | None]:
    """(repository, backup label) to restore from: `requested`, else the first readable repository holding the
    backup (its label there, from `labels`: repository -> label, None -> a label of any repository)."""
    candidates = [item for item in found if requested is None or item["repo"] == requested]
    if requested is not None and not candidates:
        raise ConfigurationError(f"pgbackrest_repo {requested} is not a repository of stanza {stanza} "
                                 f"(its configuration lists: {describe_repositories(found) or 'none'})")
    reasons = []
    for item in candidates:
        label = labels.get(item["repo"], labels.get(None))
        if not item["available"]:
            reasons.append(f"repo{item['repo']} is {item['state']} ({item['status']})")
        elif label and label not in item["labels"]:
            reasons.append(f"repo{item['repo']} holds no backup labelled {label} "
                           f"(it holds {', '.join(item['labels']) or 'none'})")
        elif not label and not item["labels"]:
            reasons.append(f"repo{item['repo']} holds no backup")
        else:
            return item["repo"], label
    raise SourceUnavailable(
        f"no pgBackRest repository of stanza {stanza} can restore this backup: {'; '.join(reasons) or 'none is configured'}. "
        "Restore from another backup_id, or make a repository reachable again"
    )
