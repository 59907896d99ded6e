# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RDB snapshots: where a server keeps its data files (CONFIG GET), having it
write a new snapshot (BGSAVE, waiting until it is on disk) and telling an RDB
file from anything else.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import (
    RedisTarget,
    config_get,
    persistence,
    redis_errors,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import wait_for

RDB_MAGIC = b"REDIS"
# Where a backup of method rdb keeps the snapshot and, with AOF on, the append-only directory's files.
RDB_FILE = "data/dump.rdb"
AOF_PREFIX = "aof/"


def data_layout(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    """The server's data directory, snapshot file name and, with AOF on, its append-only directory and files."""
    data_dir = config_get(target, client, "dir")
    layout = {"data_dir": data_dir, "dbfilename": config_get(target, client, "dbfilename"),
              "aof": config_get(target, client, "appendonly") == "yes"}
    if layout["aof"]:
        layout["appenddirname"] = config_get(target, client, "appenddirname")
        layout["appendfilename"] = config_get(target, client, "appendfilename")
    return layout


def bgsave(target: RedisTarget, client: t.Any, timeout: float) -> dict[str, t.Any]:
    """Have the server write a new RDB snapshot and wait until it is on disk.

    A save already running started before we were asked, so it is waited for
    and a new one started after it. Returns the save's facts (LASTSAVE, count).
    """
    def idle() -> dict[str, t.Any] | None:
        state = persistence(target, client)
        return state if not state.get("rdb_bgsave_in_progress") else None

    what = f"Redis at {target.address}: background save"
    state = wait_for(idle, timeout=timeout, what=f"{what} already running to finish", interval=0.1, max_interval=1)
    saves_before = int(state.get("rdb_saves", -1))
    last_before = int(state.get("rdb_last_save_time", 0))
    for _attempt in range(int(timeout * 10) + 1):
        try:
            client.bgsave(schedule=True)
            break
        except redis_errors() as error:
            if "already in progress" not in str(error):
                raise SourceUnavailable(f"{what} (BGSAVE) failed: {error}", server=target.address) from None
            wait_for(idle, timeout=timeout, what=f"{what} started by someone else to finish", interval=0.1,
                     max_interval=1)

    def finished() -> dict[str, t.Any] | None:
        state = persistence(target, client)
        if state.get("rdb_bgsave_in_progress"):
            return None
        if saves_before >= 0:
            done = int(state.get("rdb_saves", 0)) > saves_before
        else:  # servers before 7.0 only tell the second of the last save
            done = int(state.get("rdb_last_save_time", 0)) > last_before
        return state if done else None

    state = wait_for(finished, timeout=timeout, what=f"{what} we started to finish", interval=0.1, max_interval=1)
    if state.get("rdb_last_bgsave_status") != "ok":
        raise SourceUnavailable(
            f"{what} failed (rdb_last_bgsave_status {state.get('rdb_last_bgsave_status')}); the server log says why "
            f"(often a full disk or a data directory the server cannot write)", server=target.address,
        )
    return {"lastsave": int(state["rdb_last_save_time"]), "rdb_saves": int(state.get("rdb_saves", -1))}


def check_rdb_header(head: bytes, what: str) -> None:
    if not head.startswith(RDB_MAGIC):
        raise IntegrityError(f"{what} is not an RDB file (it starts with {head[:9]!r}, not REDIS0...)")
