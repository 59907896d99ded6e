# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_restore without Ansible.

The backup is the one asked for, else the newest verified (else complete)
one of the method (Repository.choose_backup). `rdb` swaps the snapshot in
with the server stopped (rdb_restore.py); `online` RESTOREs the keys into a
running server: every command of the stored stream is checked against what a
backup holds (commands.py) before it is sent (protocol.stream_restore).
"""

from __future__ import annotations

import contextlib
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    ConfigurationError,
    DrError,
    RepositoryError,
    SourceUnavailable,
    TargetNotEmpty,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import KIND, RedisTarget, keyspace, reachable
from ansible_collections.resilience.dr.plugins.module_utils._redis.commands import (
    AddReplace,
    CheckedCommands,
    CommandCounter,
    CommandReader,
    locate_command,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import (
    KEYS_FILE,
    LEGACY_KEYS_FILE,
    RecordReader,
    RecordsToCommands,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import stream_restore
from ansible_collections.resilience.dr.plugins.module_utils._redis.rdb_restore import restore_layout, restore_rdb
from ansible_collections.resilience.dr.plugins.module_utils._redis.service import NO_SERVICE, Service
from ansible_collections.resilience.dr.plugins.module_utils._redis.verify import (
    check_against,
    differences_from_records,
    expected_counts,
    require_verified,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import would_restore_message
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import NullSink
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_time


def redis_restore(repository: Repository, target: RedisTarget, runner: CommandRunner, *, component: str,
                  backup_id: str | None = None, target_time: str | None = None, method: str | None = None,
                  flush: bool = False,
                  replace: bool = False, data_dir: str | None = None, dbfilename: str | None = None,
                  service: Service | None = None, start_timeout: float = 300,
                  check_mode: bool = False) -> dict[str, t.Any]:
    moment = parse_time(target_time, "target_time") if target_time else None
    # Without a backup_id the method chooses the backup (rdb by default); with one, the backup gives the method.
    selection = repository.choose_backup(component, backup_id, target_time=moment, kind=KIND,
                                         method=method or (None if backup_id else "rdb"))
    entry = selection.entry
    manifest = entry.readable_manifest()
    method = manifest.method
    verification = repository.verification_data(entry)
    result: dict[str, t.Any] = {"changed": False, "component": component, "backup_id": entry.backup_id,
                                "method": method, "consistency_point": manifest.consistency_point,
                                "skipped_backups": selection.skipped_backups()}
    client = reachable(target)
    if client is not None:
        before = {str(db): value for db, value in keyspace(target, client).items()}
        result["diff"] = {"before": {"databases": before}, "after": {"databases": expected_counts(verification)}}
        if method == "online":
            # Key counts and samples first (cheap); when they match, every key of the dump is compared.
            exact = flush or not replace
            if not check_against(target, verification, exact=exact):
                with key_records(repository, entry) as records:
                    drift = differences_from_records(target, records, exact=exact)
                if not drift:
                    result["msg"] = (f"Redis at {target.address} already holds every key of {entry.label} "
                                     "with its value and expiry")
                    return result
                result["drift"] = drift
        elif not check_against(target, verification, exact=True):
            # An RDB backup keeps no per-key records: key counts and sampled values decide.
            result["msg"] = f"Redis at {target.address} already holds the data of {entry.label}"
            return result
    if method == "online":
        if client is None:
            raise SourceUnavailable(f"Redis at {target.address} does not answer; method online restores into a "
                                    "running server", server=target.address)
        return _restore_online(repository, entry, target, client, verification, result, flush=flush,
                               replace=replace, check_mode=check_mode)
    if service is None:
        raise ConfigurationError(NO_SERVICE)
    layout = restore_layout(target, client, data_dir, dbfilename)
    result.update(changed=True, data_dir=layout["data_dir"], server_was_running=client is not None)
    if check_mode:
        result["msg"] = would_restore_message(entry, f"Redis at {target.address} (data_dir {layout['data_dir']})")
        return result
    restore_rdb(repository, entry, target, service, layout, verification, start_timeout)
    result["databases"] = {str(db): value for db, value in keyspace(target, target.client()).items()}
    result["verified"] = True
    return result


def _restore_online(repository: Repository, entry: BackupEntry, target: RedisTarget, client: t.Any,
                    verification: dict[str, t.Any], result: dict[str, t.Any], *, flush: bool, replace: bool,
                    check_mode: bool) -> dict[str, t.Any]:
    present = keyspace(target, client)
    if any(value["keys"] for value in present.values()) and not (flush or replace):
        listed = ", ".join(f"db{db} {value['keys']} keys" for db, value in sorted(present.items()))
        raise TargetNotEmpty(
            f"Redis at {target.address} is not empty ({listed}); restoring {entry.label} there needs flush: true "
            "(empty it first) or replace: true (overwrite keys of the same name)", server=target.address)
    result["changed"] = True
    if check_mode:
        result["msg"] = would_restore_message(entry, f"Redis at {target.address}")
        return result
    name = keys_file(entry)
    what = f"{entry.label}: file {name}"
    # Read (and check) the whole dump before the target is touched: a damaged or forged backup changes nothing.
    # The commands are checked again while they are sent, in case the file changed in between.
    if name == LEGACY_KEYS_FILE:  # records: the commands are made here, from database numbers and keys
        repository.read_file(entry, name, NullSink())
    else:
        checker = CheckedCommands(None, what)
        repository.read_file(entry, name, checker)
        checker.close()
    if flush:
        target.call("FLUSHALL", client.flushall)
    produce = _key_commands(repository, entry, name, replace=replace)
    answered, error = stream_restore(target, produce)
    if error is not None:
        raise describe_reply_error(target, locate_command(produce, error[0], what), error[1])
    restored = _restored_keys(entry, name, produce, answered, what)
    require_verified(target, verification, entry.label, exact=flush or not replace)
    result.update(restored_keys=restored, verified=True,
                  databases={str(db): value for db, value in keyspace(target, client).items()})
    return result


def keys_file(entry: BackupEntry) -> str:
    """The key dump of an online backup: format 2 (keys.resp) or, in older backups, format 1 (keys.bin)."""
    names = {record.name for record in entry.manifest.files} if entry.manifest else set()
    for name in (KEYS_FILE, LEGACY_KEYS_FILE):
        if name in names:
            return name
    raise BackupNotFound(f"{entry.label} holds no key dump ({KEYS_FILE}); it is not an online Redis backup")


@contextlib.contextmanager
def key_records(repository: Repository, entry: BackupEntry) -> t.Iterator[t.Iterator[tuple[int, bytes, bytes, int]]]:
    """The keys of an online backup, either format: (db, key, DUMP payload, absolute expiry in ms or -1)."""
    name = keys_file(entry)
    what = f"{entry.label}: file {name}"
    with repository.open_file(entry, name) as stream:
        yield iter(RecordReader(stream, what) if name == LEGACY_KEYS_FILE else CommandReader(stream, what))


def _key_commands(repository: Repository, entry: BackupEntry, name: str, *,
                  replace: bool) -> t.Callable[[t.Any], None]:
    """A producer writing the backup's keys as RESTORE commands to a sink (as stored when possible)."""
    what = f"{entry.label}: file {name}"

    def produce(sink: t.Any) -> None:
        if name == LEGACY_KEYS_FILE:
            converter: t.Any = RecordsToCommands(sink, what, replace=replace)
        elif replace:
            converter = AddReplace(sink, what)
        else:
            converter = CheckedCommands(sink, what)  # the stored commands, checked, sent as they are
        repository.read_file(entry, name, converter)
        converter.close()
    return produce


def _restored_keys(entry: BackupEntry, name: str, produce: t.Callable[[t.Any], None], answered: int,
                   what: str) -> dict[str, int]:
    """Keys restored per database: as the backup recorded, once every command was answered +OK."""
    extra = entry.manifest.extra if entry.manifest is not None else None
    recorded = {db: int(count) for db, count in ((extra or {}).get("keys") or {}).items()}
    if not recorded:  # not recorded: count the commands
        counter = CommandCounter(what)
        produce(counter)
        counter.close()
        recorded = counter.keys
        selects = counter.commands - sum(recorded.values())
    else:  # format 2 selects every database dumped, format 1 those holding keys
        selects = len([count for count in recorded.values() if count or name == KEYS_FILE])
    if answered != sum(recorded.values()) + selects:
        raise RepositoryError(f"{what}: the server acknowledged {answered} commands where the backup records "
                              f"{sum(recorded.values())} keys in {len(recorded)} databases; the backup is unusable")
    return recorded


def describe_reply_error(target: RedisTarget, command: tuple[int, bytes | None], answer: str) -> DrError:
    db, key = command
    if key is None:
        hint = " (the target has fewer databases than the source)" if "out of range" in answer else ""
        return DrError(f"Redis at {target.address}: SELECT {db} failed: {answer}{hint}", server=target.address)
    hint = " (the key exists: use replace or flush)" if "BUSYKEY" in answer else ""
    return DrError(f"Redis at {target.address}: RESTORE of key {key!r} in db{db} failed: {answer}{hint}",
                   server=target.address, key=repr(key)[2:-1], db=db)
