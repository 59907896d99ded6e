# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What redis_backup and redis_restore do, without Ansible.

Backups: `rdb` has the server write a snapshot (BGSAVE) and stores that file
(and the append-only directory when AOF is on); `online` stores every key's
DUMP and expiry. Restores: `rdb` stages the snapshot next to the data files,
stops the server, swaps the files, starts it and verifies; the previous files
stay aside until verification passed and come back if it did not. `online`
RESTOREs the keys into a running server; every command of the stored stream
is checked against what a backup holds (_redis_commands) before it is sent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils import _redis as rd
from ansible_collections.resilience.dr.plugins.module_utils import _redis_commands as rc
from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    ConfigurationError,
    DrError,
    RepositoryError,
    SourceUnavailable,
    TargetNotEmpty,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import (
    BackupEntry,
    Repository,
    Selection,
    would_restore_message,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, wait_for

RDB_FILE = "data/dump.rdb"
KEYS_FILE = "data/keys.resp"  # key dump format 2 (RESTORE commands)
LEGACY_KEYS_FILE = "data/keys.bin"  # key dump format 1 (records), restored still
AOF_PREFIX = "aof/"


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


# ---------------------------------------------------------------------- backup


def redis_backup(repository: Repository, target: rd.RedisTarget, *, component: str, method: str,
                 sample_keys: int = 100, save_timeout: float = 3600, retention_class: str = "standard",
                 check_mode: bool = False) -> dict[str, t.Any]:
    if sample_keys < 0:
        raise ConfigurationError("sample_keys must be 0 (key counts only) or more")
    client = target.client()
    facts = rd.server_facts(target, client)
    result: dict[str, t.Any] = {"changed": True, "component": component, "method": method,
                                "repository": repository.location, "source": facts}
    layout = _data_layout(target, client) if method == "rdb" else {}
    if method == "rdb" and not os.path.isdir(layout["data_dir"]):
        raise SourceUnavailable(
            f"Redis at {target.address} keeps its data in {layout['data_dir']}, which is not a directory on this "
            "host; run the task on the Redis host (delegate_to) or use method online", server=target.address)
    counts = rd.keyspace(target, client)
    result["databases"] = {str(db): value for db, value in counts.items()}
    if check_mode:
        result["backup_id"] = None
        return result

    probe = rd.VerificationProbe(target, sample_keys)
    with repository.new_backup(component, kind="redis", method=method, retention_class=retention_class) as backup:
        if method == "rdb":
            save = rd.bgsave(target, client, save_timeout)
            verification = probe.settle()
            _store_rdb(backup, layout, target)
            moment = datetime.fromtimestamp(save["lastsave"], timezone.utc)
            backup.consistency_point = {"time": format_time(moment), "lastsave": save["lastsave"]}
            backup.extra = {"aof": layout["aof"], "dbfilename": layout["dbfilename"]}
        else:
            started = format_time(datetime.now(timezone.utc))
            dumped: dict[str, int] = {}
            volatile: dict[str, int] = {}
            backup.add_from_producer(KEYS_FILE, lambda sink: rd.dump_keys(target, sorted(counts), sink, dumped,
                                                                          volatile))
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
            backup.extra = {"keys": dumped, "keys_format": rd.KEYS_FORMAT}
        backup.source = facts
        backup.tools = {"redis": facts["redis_version"]}
        backup.verification = verification
    result.update(backup_id=backup.backup_id, consistency_point=backup.consistency_point,
                  databases=_expected(verification),
                  files=[record.name for record in backup.manifest.files])
    return result


def _data_layout(target: rd.RedisTarget, client: t.Any) -> dict[str, t.Any]:
    data_dir = rd.config_get(target, client, "dir")
    layout = {"data_dir": data_dir, "dbfilename": rd.config_get(target, client, "dbfilename"),
              "aof": rd.config_get(target, client, "appendonly") == "yes"}
    if layout["aof"]:
        layout["appenddirname"] = rd.config_get(target, client, "appenddirname")
        layout["appendfilename"] = rd.config_get(target, client, "appendfilename")
    return layout


def _store_rdb(backup: t.Any, layout: dict[str, t.Any], target: rd.RedisTarget) -> None:
    path = os.path.join(layout["data_dir"], layout["dbfilename"])
    try:
        handle = open(path, "rb")  # the open file survives a newer save renamed over it
    except OSError as error:
        raise SourceUnavailable(f"Redis at {target.address}: cannot read the snapshot {path}: {error.strerror}",
                                path=path) from None
    with handle:
        rd.check_rdb_header(handle.read(9), path)
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


# ---------------------------------------------------------------------- restore


class Service:
    """Stops and starts the server by service name or by commands."""

    def __init__(self, runner: CommandRunner, *, service: str | None, stop_command: list[str],
                 start_command: list[str]) -> None:
        self.runner = runner
        if service:
            systemctl = runner.require("systemctl", "give stop_command and start_command instead of service")
            stop_command, start_command = [systemctl, "stop", service], [systemctl, "start", service]
        if not stop_command or not start_command:
            raise ConfigurationError("method rdb restores with the server stopped: give service, or both "
                                     "stop_command and start_command")
        self.stop_command, self.start_command = stop_command, start_command

    def stop(self) -> None:
        self.runner.run(self.stop_command, what="stopping Redis", timeout=300)

    def start(self) -> None:
        self.runner.run(self.start_command, what="starting Redis", timeout=300)


def _reachable(target: rd.RedisTarget) -> t.Any:
    """A client of the running server, or None when nothing answers."""
    client = target.client()
    try:
        client.ping()
    except rd.redis_errors() as error:
        refused = isinstance(error, OSError) or type(error).__name__ in ("ConnectionError", "TimeoutError",
                                                                         "BusyLoadingError")
        if refused:
            return None
        raise SourceUnavailable(f"Redis at {target.address} answered PING with an error: {error}") from None
    return client


def redis_restore(repository: Repository, target: rd.RedisTarget, runner: CommandRunner, *, component: str,
                  backup_id: str | None = None, target_time: str | None = None, method: str | None = None,
                  flush: bool = False,
                  replace: bool = False, data_dir: str | None = None, dbfilename: str | None = None,
                  service: Service | None = None, start_timeout: float = 300,
                  check_mode: bool = False) -> dict[str, t.Any]:
    moment = parse_time(target_time, "target_time") if target_time else None
    selection = _select(repository, component, backup_id, method or (None if backup_id else "rdb"), moment)
    entry = selection.entry
    manifest = entry.manifest
    if manifest is None:
        raise BackupNotFound(f"{entry.label} has no readable manifest ({entry.status}: {entry.error})")
    method = method or manifest.method
    if manifest.kind != "redis" or manifest.method != method:
        raise ConfigurationError(
            f"{entry.label} is a {manifest.kind} backup of method {manifest.method}; redis_restore method {method} "
            f"needs a redis backup taken with method {method}")
    verification = repository.verification_data(entry)
    result: dict[str, t.Any] = {"changed": False, "component": component, "backup_id": entry.backup_id,
                                "method": method, "consistency_point": manifest.consistency_point,
                                "skipped_backups": selection.skipped_backups()}
    client = _reachable(target)
    if client is not None:
        before = {str(db): value for db, value in rd.keyspace(target, client).items()}
        result["diff"] = {"before": {"databases": before}, "after": {"databases": _expected(verification)}}
        if method == "online":
            # Key counts and samples first (cheap); when they match, every key of the dump is compared.
            exact = flush or not replace
            if not rd.check_against(target, verification, exact=exact):
                with key_records(repository, entry) as records:
                    drift = rd.differences_from_records(target, records, exact=exact)
                if not drift:
                    result["msg"] = (f"Redis at {target.address} already holds every key of {entry.label} "
                                     "with its value and expiry")
                    return result
                result["drift"] = drift
        elif not rd.check_against(target, verification, exact=True):
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
        raise ConfigurationError("method rdb restores with the server stopped: give service, or both "
                                 "stop_command and start_command")
    layout = _restore_layout(target, client, data_dir, dbfilename)
    result.update(changed=True, data_dir=layout["data_dir"], server_was_running=client is not None)
    if check_mode:
        result["msg"] = would_restore_message(entry, f"Redis at {target.address} (data_dir {layout['data_dir']})")
        return result
    _restore_rdb(repository, entry, target, service, layout, verification, start_timeout)
    result["databases"] = {str(db): value for db, value in rd.keyspace(target, target.client()).items()}
    result["verified"] = True
    return result


def _select(repository: Repository, component: str, backup_id: str | None, method: str | None,
            target_time: datetime | None = None) -> Selection:
    """The backup asked for; else the newest verified (else complete) one taken with method, when given,
    consistent at or before target_time, when given."""
    if backup_id or not method:
        return repository.choose_backup(component, backup_id, target_time=target_time)
    return repository.choose_backup(component, accept=lambda entry: entry.manifest.method == method,
                                    wanted=f"Redis {method}", target_time=target_time)


def _expected(verification: dict[str, t.Any]) -> dict[str, t.Any]:
    return {db: {"keys": value["keys"], "expires": value.get("expires", 0)}
            for db, value in (verification.get("databases") or {}).items()}


def _restore_online(repository: Repository, entry: BackupEntry, target: rd.RedisTarget, client: t.Any,
                    verification: dict[str, t.Any], result: dict[str, t.Any], *, flush: bool, replace: bool,
                    check_mode: bool) -> dict[str, t.Any]:
    present = rd.keyspace(target, client)
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
        repository.read_file(entry, name, _NullSink())
    else:
        checker = rc.CheckedCommands(None, what)
        repository.read_file(entry, name, checker)
        checker.close()
    if flush:
        target.call("FLUSHALL", client.flushall)
    produce = _key_commands(repository, entry, name, replace=replace)
    answered, error = rd.stream_restore(target, produce)
    if error is not None:
        raise rd.describe_reply_error(target, rc.locate_command(produce, error[0], what), error[1])
    restored = _restored_keys(entry, name, produce, answered, what)
    rd.require_verified(target, verification, entry.label, exact=flush or not replace)
    result.update(restored_keys=restored, verified=True,
                  databases={str(db): value for db, value in rd.keyspace(target, client).items()})
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
        yield iter(rd.RecordReader(stream, what) if name == LEGACY_KEYS_FILE else rc.CommandReader(stream, what))


def _key_commands(repository: Repository, entry: BackupEntry, name: str, *,
                  replace: bool) -> t.Callable[[t.Any], None]:
    """A producer writing the backup's keys as RESTORE commands to a sink (as stored when possible)."""
    what = f"{entry.label}: file {name}"

    def produce(sink: t.Any) -> None:
        if name == LEGACY_KEYS_FILE:
            converter: t.Any = rd.RecordsToCommands(sink, what, replace=replace)
        elif replace:
            converter = rc.AddReplace(sink, what)
        else:
            converter = rc.CheckedCommands(sink, what)  # the stored commands, checked, sent as they are
        repository.read_file(entry, name, converter)
        converter.close()
    return produce


def _restored_keys(entry: BackupEntry, name: str, produce: t.Callable[[t.Any], None], answered: int,
                   what: str) -> dict[str, int]:
    """Keys restored per database: as the backup recorded, once every command was answered +OK."""
    recorded = {db: int(count) for db, count in ((entry.manifest.extra or {}).get("keys") or {}).items()}
    if not recorded:  # not recorded: count the commands
        counter = rc.CommandCounter(what)
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


def _restore_layout(target: rd.RedisTarget, client: t.Any, data_dir: str | None,
                    dbfilename: str | None) -> dict[str, t.Any]:
    if client is not None:
        try:
            layout = _data_layout(target, client)
        except SourceUnavailable:
            if not data_dir:
                raise
            client = None  # CONFIG is forbidden here: go by the options, as for a server that is down
    if client is not None:
        if data_dir and os.path.realpath(data_dir) != os.path.realpath(layout["data_dir"]):
            raise ConfigurationError(f"data_dir {data_dir} differs from the directory Redis at {target.address} "
                                     f"uses ({layout['data_dir']}); leave data_dir out or correct it")
        return layout
    if not data_dir:
        raise ConfigurationError(f"Redis at {target.address} does not answer, so its data directory is unknown; "
                                 "give data_dir (and dbfilename if it is not dump.rdb)")
    aof_dir = os.path.join(data_dir, "appendonlydir")
    return {"data_dir": data_dir, "dbfilename": dbfilename or "dump.rdb", "aof": os.path.isdir(aof_dir),
            "appenddirname": "appendonlydir", "appendfilename": "appendonly.aof"}


def _owner(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_uid, status.st_gid


def _chown(path: str, owner: tuple[int, int]) -> None:
    if os.geteuid() == 0:
        os.chown(path, *owner)


def _restore_rdb(repository: Repository, entry: BackupEntry, target: rd.RedisTarget, service: Service,
                 layout: dict[str, t.Any], verification: dict[str, t.Any], start_timeout: float) -> None:
    data_dir = layout["data_dir"]
    if not os.path.isdir(data_dir):
        raise ConfigurationError(f"the Redis data directory {data_dir} does not exist on this host")
    owner = _owner(data_dir)
    staging = os.path.join(data_dir, f".dr-restore-{entry.backup_id}")
    aside = os.path.join(data_dir, f".dr-previous-{entry.backup_id}")
    live_rdb = os.path.join(data_dir, layout["dbfilename"])
    live_aof = os.path.join(data_dir, layout.get("appenddirname") or "appendonlydir")
    for leftover in (staging, aside):
        if os.path.exists(leftover):
            raise ConfigurationError(f"{leftover} is left from an earlier restore of {entry.label}; check what it "
                                     "holds (a previous data set?) and move it away before restoring again")
    os.mkdir(staging, 0o700)
    _chown(staging, owner)
    try:
        staged = os.path.join(staging, layout["dbfilename"])
        _write_staged(repository, entry, staged, owner)
        if layout["aof"]:
            _make_aof_dir(staged, os.path.join(staging, "aof"), layout["appendfilename"], owner)
        service.stop()
        if _reachable(target) is not None:
            raise SourceUnavailable(f"Redis at {target.address} still answers after the stop command; "
                                    "nothing was changed", server=target.address)
        os.mkdir(aside, 0o700)
        moved = [(path, os.path.join(aside, os.path.basename(path))) for path in (live_rdb, live_aof)
                 if layout["aof"] or path == live_rdb]
        try:
            for live, kept in moved:
                if os.path.lexists(live):
                    os.replace(live, kept)
            os.replace(staged, live_rdb)
            if layout["aof"]:
                os.replace(os.path.join(staging, "aof"), live_aof)
            service.start()
            _wait_loaded(target, start_timeout)
            rd.require_verified(target, verification, entry.label, exact=True)
        except (DrError, OSError) as error:
            _roll_back(service, moved, aside, error, entry, target, start_timeout)
            raise  # _roll_back raises; this only satisfies readers of the code
        shutil.rmtree(aside)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_staged(repository: Repository, entry: BackupEntry, path: str, owner: tuple[int, int]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        repository.read_file(entry, RDB_FILE, handle)
        handle.flush()
        os.fsync(handle.fileno())
    _chown(path, owner)
    with open(path, "rb") as handle:
        rd.check_rdb_header(handle.read(9), f"{entry.label}: file {RDB_FILE}")


def _make_aof_dir(rdb: str, directory: str, appendfilename: str, owner: tuple[int, int]) -> None:
    """A multi-part AOF directory whose base is the snapshot: what Redis 7 loads when appendonly is on."""
    os.mkdir(directory, 0o750)
    _chown(directory, owner)
    base = f"{appendfilename}.1.base.rdb"
    os.link(rdb, os.path.join(directory, base))
    manifest = os.path.join(directory, f"{appendfilename}.manifest")
    descriptor = os.open(manifest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"file {base} seq 1 type b\n")
    _chown(manifest, owner)


def _wait_loaded(target: rd.RedisTarget, timeout: float) -> None:
    def loaded() -> bool | None:
        client = _reachable_or_loading(target)
        if client is None:
            return None
        state = rd.persistence(target, client)
        return True if not state.get("loading") else None
    wait_for(loaded, timeout=timeout, what=f"Redis at {target.address} to start and load its data",
             interval=0.05, max_interval=0.25)


def _reachable_or_loading(target: rd.RedisTarget) -> t.Any:
    try:
        return _reachable(target)
    except SourceUnavailable as error:
        if "LOADING" in str(error):
            return None
        raise


def _roll_back(service: Service, moved: list[tuple[str, str]], aside: str, error: BaseException,
               entry: BackupEntry, target: rd.RedisTarget, start_timeout: float) -> t.NoReturn:
    """Put the previous files back and start the server on them; raise what went wrong."""
    try:
        service.stop()
        for live, kept in moved:
            if os.path.lexists(live):
                if os.path.isdir(live) and not os.path.islink(live):
                    shutil.rmtree(live)
                else:
                    os.remove(live)
            if os.path.lexists(kept):
                os.replace(kept, live)
        os.rmdir(aside)
        service.start()
        _wait_loaded(target, start_timeout)
    except (DrError, OSError) as second:
        raise RepositoryError(
            f"restoring {entry.label} into Redis at {target.address} failed ({error}) and putting the previous "
            f"data back failed too ({second}); the previous files are in {aside}: move them back and start Redis",
            server=target.address, previous=aside) from None
    message = getattr(error, "message", str(error))
    kind = VerificationFailed if isinstance(error, VerificationFailed) else type(error)
    if not issubclass(kind, DrError):
        kind = RepositoryError
    raise kind(f"{message}; the previous data files are back in place and Redis at {target.address} was started "
               "on them", server=target.address, backup_id=entry.backup_id) from None
