# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_backup without Ansible.

`rdb` has the server write a snapshot (BGSAVE) and stores that file (and the
append-only directory when AOF is on); `online` stores every key's DUMP and
expiry as the RESTORE commands of the key dump (keydump.py). Either way the
verification data is taken around the copy (verify.VerificationProbe).
"""

from __future__ import annotations

import os
import time
import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import BATCH, KIND, RedisTarget, keyspace, server_facts
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import (
    KEYS_FILE,
    KEYS_FORMAT,
    restore_command,
    select_command,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import RawConnection
from ansible_collections.resilience.dr.plugins.module_utils._redis.snapshot import (
    AOF_PREFIX,
    RDB_FILE,
    bgsave,
    check_rdb_header,
    data_layout,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.verify import VerificationProbe, expected_counts
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time


def redis_backup(repository: Repository, target: RedisTarget, *, component: str, method: str,
                 sample_keys: int = 100, save_timeout: float = 3600, retention_class: str = "standard",
                 check_mode: bool = False) -> dict[str, t.Any]:
    if sample_keys < 0:
        raise ConfigurationError("sample_keys must be 0 (key counts only) or more")
    client = target.client()
    facts = server_facts(target, client)
    result: dict[str, t.Any] = {"changed": True, "component": component, "method": method,
                                "repository": repository.location, "source": facts}
    layout = data_layout(target, client) if method == "rdb" else {}
    if method == "rdb" and not os.path.isdir(layout["data_dir"]):
        raise SourceUnavailable(
            f"Redis at {target.address} keeps its data in {layout['data_dir']}, which is not a directory on this "
            "host; run the task on the Redis host (delegate_to) or use method online", server=target.address)
    counts = keyspace(target, client)
    result["databases"] = {str(db): value for db, value in counts.items()}
    if check_mode:
        result["backup_id"] = None
        return result

    probe = VerificationProbe(target, sample_keys)
    with repository.new_backup(component, kind=KIND, method=method, retention_class=retention_class) as backup:
        if method == "rdb":
            save = bgsave(target, client, save_timeout)
            verification = probe.settle()
            _store_rdb(backup, layout, target)
            moment = datetime.fromtimestamp(save["lastsave"], timezone.utc)
            backup.consistency_point = {"time": format_time(moment), "lastsave": save["lastsave"]}
            backup.extra = {"aof": layout["aof"], "dbfilename": layout["dbfilename"]}
        else:
            started = format_time(datetime.now(timezone.utc))
            dumped: dict[str, int] = {}
            volatile: dict[str, int] = {}
            backup.add_from_producer(KEYS_FILE, lambda sink: dump_keys(target, sorted(counts), sink, dumped, volatile))
            verification = probe.settle()
            # The dump itself says how many keys a restore gives: all, less those whose expiry passes.
            for db, count in dumped.items():
                entry = verification["databases"].setdefault(db, {"samples": {}})
                entry.update(keys=count, expires=volatile[db], max_keys=count, min_keys=count - volatile[db])
            for db, entry in verification["databases"].items():
                if db not in dumped:
                    entry.update(keys=0, expires=0, max_keys=0, min_keys=0, samples={})
            # Keys come from a scan over time: the consistency point is when it started.
            backup.consistency_point = {"time": started, "scan": True}
            backup.extra = {"keys": dumped, "keys_format": KEYS_FORMAT}
        backup.source = facts
        backup.tools = {"redis": facts["redis_version"]}
        backup.verification = verification
    result.update(backup_id=backup.backup_id, consistency_point=backup.consistency_point,
                  databases=expected_counts(verification),
                  files=[record.name for record in backup.manifest.files])
    return result


def _store_rdb(backup: t.Any, layout: dict[str, t.Any], target: RedisTarget) -> None:
    path = os.path.join(layout["data_dir"], layout["dbfilename"])
    try:
        handle = open(path, "rb")  # the open file survives a newer save renamed over it
    except OSError as error:
        raise SourceUnavailable(f"Redis at {target.address}: cannot read the snapshot {path}: {error.strerror}",
                                path=path) from None
    with handle:
        check_rdb_header(handle.read(9), path)
        handle.seek(0)
        backup.add_stream(RDB_FILE, handle)
    if layout["aof"]:
        _store_aof(backup, os.path.join(layout["data_dir"], layout["appenddirname"]), layout["appendfilename"])


def _store_aof(backup: t.Any, directory: str, appendfilename: str) -> None:
    """The append-only directory as it is now, files listed by its manifest (retried if a rewrite swaps them)."""
    manifest_path = os.path.join(directory, f"{appendfilename}.manifest")
    for attempt in range(3):
        try:
            with open(manifest_path, "rb") as handle:
                manifest = handle.read()
            names = [line.split()[1].decode() for line in manifest.splitlines() if line.startswith(b"file ")]
            handles = [open(os.path.join(directory, name), "rb") for name in names]
        except OSError as error:
            if attempt == 2:
                raise SourceUnavailable(f"cannot read the append-only files in {directory}: {error}") from None
            continue
        try:
            backup.add_bytes(f"{AOF_PREFIX}{appendfilename}.manifest", manifest)
            for name, handle in zip(names, handles):
                backup.add_stream(f"{AOF_PREFIX}{name}", handle)
        finally:
            for handle in handles:
                handle.close()
        return


def dump_keys(target: RedisTarget, databases: t.Iterable[int], sink: t.Any, counts: dict[str, int],
              volatile: dict[str, int] | None = None) -> None:
    """SCAN every database and write the RESTORE command of each key to sink (format 2).

    counts (and volatile) receive the keys (and keys with a TTL) written per database.
    """
    for db in databases:
        sink.write(select_command(db))
        with RawConnection(target, db) as connection:
            cursor = b"0"
            written = expiring = 0
            while True:
                cursor, keys = connection.call(f"SCAN of db{db}", [b"SCAN", cursor, b"COUNT", b"%d" % BATCH])
                if keys:
                    done, timed = _dump_batch(connection, db, keys, sink)
                    written += done
                    expiring += timed
                if cursor == b"0":
                    break
        counts[str(db)] = written
        if volatile is not None:
            volatile[str(db)] = expiring


def _dump_batch(connection: RawConnection, db: int, keys: list[bytes], sink: t.Any) -> tuple[int, int]:
    commands = []
    for key in keys:
        commands.append((b"DUMP", key))
        commands.append((b"PTTL", key))
    answers = connection.pipeline(f"DUMP of db{db}", commands)
    now_ms = int(time.time() * 1000)
    parts = []
    written = expiring = 0
    for index, key in enumerate(keys):
        value, ttl = answers[2 * index], answers[2 * index + 1]
        if value is None or ttl == -2:
            continue  # deleted or expired since SCAN saw it
        if ttl >= 0:
            expire_at = now_ms + max(ttl, 1)
            expiring += 1
        else:
            expire_at = 0
        parts.append(restore_command(key, value, expire_at))
        written += 1
    sink.write(b"".join(parts))
    return written, expiring
