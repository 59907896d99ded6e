# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_restore method rdb: swap a backup's snapshot in with the server stopped.

The snapshot is staged next to the data files (so the swap is a rename on the
same file system), the server stopped, the files swapped, the server started
and verified; the previous files stay aside until verification passed and come
back if it did not.
"""

from __future__ import annotations

import os
import shutil
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._atomic import private_file, write_private
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    RepositoryError,
    SourceUnavailable,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, reachable
from ansible_collections.resilience.dr.plugins.module_utils._redis.service import Service, wait_loaded
from ansible_collections.resilience.dr.plugins.module_utils._redis.snapshot import RDB_FILE, check_rdb_header, data_layout
from ansible_collections.resilience.dr.plugins.module_utils._redis.verify import require_verified
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import BackupEntry
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository


def restore_layout(target: RedisTarget, client: t.Any, data_dir: str | None,
                   dbfilename: str | None) -> dict[str, t.Any]:
    """Where the server (client, or None when it is down) keeps its files, checked against the options."""
    if client is not None:
        try:
            layout = data_layout(target, client)
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


def restore_rdb(repository: Repository, entry: BackupEntry, target: RedisTarget, service: Service,
                layout: dict[str, t.Any], verification: dict[str, t.Any], start_timeout: float) -> None:
    """Stage, stop, swap, start, verify; on any failure the previous files come back (see the module docstring)."""
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
        if reachable(target) is not None:
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
            wait_loaded(target, start_timeout)
            require_verified(target, verification, entry.label, exact=True)
        except (DrError, OSError) as error:
            _roll_back(service, moved, aside, error, entry, target, start_timeout)
            raise  # _roll_back raises; this only satisfies readers of the code
        shutil.rmtree(aside)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_staged(repository: Repository, entry: BackupEntry, path: str, owner: tuple[int, int]) -> None:
    with private_file(path) as handle:
        repository.read_file(entry, RDB_FILE, handle)
    _chown(path, owner)
    with open(path, "rb") as handle:
        check_rdb_header(handle.read(9), f"{entry.label}: file {RDB_FILE}")


def _make_aof_dir(rdb: str, directory: str, appendfilename: str, owner: tuple[int, int]) -> None:
    """A multi-part AOF directory whose base is the snapshot: what Redis 7 loads when appendonly is on."""
    os.mkdir(directory, 0o750)
    _chown(directory, owner)
    base = f"{appendfilename}.1.base.rdb"
    os.link(rdb, os.path.join(directory, base))
    manifest = os.path.join(directory, f"{appendfilename}.manifest")
    write_private(manifest, f"file {base} seq 1 type b\n")
    _chown(manifest, owner)


def _roll_back(service: Service, moved: list[tuple[str, str]], aside: str, error: BaseException,
               entry: BackupEntry, target: RedisTarget, start_timeout: float) -> t.NoReturn:
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
        wait_loaded(target, start_timeout)
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
