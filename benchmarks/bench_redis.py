# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis restores on the lab's secondary Redis, 1M keys of ~1 KB (~1 GB):

- redis_restore method rdb (stage from the repository, stop, swap, start, wait
  for loading, verify) against a bare restart loading the same RDB (stop, copy
  the file in place, start, wait for loading); target <= 1.2x the time;
- redis_restore method online (read and check the dump, FLUSHALL, stream the
  stored RESTORE commands, verify) against a naive redis-py pipelined RESTORE
  loop fed from memory; target >= 150k keys/s;
- the same restore against `redis-cli --pipe` (C) sending the same commands
  from a local file: the server's own ceiling on this machine.

Each online row also gives the CPU time per key of the Redis server and of the
client side, which the machine's load distorts less than the wall clock.

BENCH_REDIS_KEYS changes the number of keys (for a quick try). The data set's
RDB is kept in .cache/bench/ and loaded by a restart on later runs. The lab's
secondary Redis is emptied at the end.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import CACHE, Comparison, lab_facts, timed

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._redis.backup import redis_backup
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, redis_errors
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import KEYS_FILE
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import RawConnection
from ansible_collections.resilience.dr.plugins.module_utils._redis.restore import key_records, redis_restore
from ansible_collections.resilience.dr.plugins.module_utils._redis.service import Service
from ansible_collections.resilience.dr.plugins.module_utils._redis.snapshot import bgsave
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

KEYS = int(os.environ.get("BENCH_REDIS_KEYS", "1000000"))
VALUE_SIZE = 1000
COMPONENT = "bench-redis"


def _ctl(facts: dict, action: str) -> None:
    subprocess.run([facts["ctl"], action], check=True, capture_output=True)


def _wait_loaded(target: RedisTarget) -> None:
    client = target.client()
    while True:
        try:
            if not client.info("persistence")["loading"]:
                return
        except redis_errors():
            pass
        time.sleep(0.05)


def _place_rdb(facts: dict, rdb: Path) -> None:
    """What an operator does by hand: the RDB as dump.rdb and as the base of a fresh AOF directory."""
    data = Path(facts["data_dir"])
    owner = data.stat()
    shutil.rmtree(data / "appendonlydir", ignore_errors=True)
    shutil.copyfile(rdb, data / "dump.rdb")
    (data / "appendonlydir").mkdir()
    os.link(data / "dump.rdb", data / "appendonlydir" / "appendonly.aof.1.base.rdb")
    (data / "appendonlydir" / "appendonly.aof.manifest").write_text("file appendonly.aof.1.base.rdb seq 1 type b\n")
    for path in (data / "dump.rdb", data / "appendonlydir", *(data / "appendonlydir").iterdir()):
        os.chown(path, owner.st_uid, owner.st_gid)


def _bare_restart(facts: dict, target: RedisTarget, rdb: Path) -> None:
    _ctl(facts, "stop")
    _place_rdb(facts, rdb)
    _ctl(facts, "start")
    _wait_loaded(target)


def _data_set(facts: dict, target: RedisTarget) -> Path:
    """The RDB of KEYS keys of VALUE_SIZE bytes, made once and cached."""
    path = CACHE / f"redis-{KEYS}-keys.rdb"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    target.client().flushall()
    rng = random.Random(20261123)
    block = rng.randbytes(1 << 16)
    with RawConnection(target) as connection:
        for start in range(0, KEYS, 1000):
            commands = []
            for number in range(start, min(start + 1000, KEYS)):
                offset = rng.randrange(len(block) - VALUE_SIZE)
                command = (b"SET", b"object:%d" % number, block[offset:offset + VALUE_SIZE])
                commands.append(command + (b"PX", b"%d" % 86_400_000) if number % 10 == 0 else command)
            connection.pipeline("SET", commands)
    bgsave(target, target.client(), 600)
    shutil.copyfile(Path(facts["data_dir"]) / "dump.rdb", path)
    return path


def _naive_restore(target: RedisTarget, records: list[tuple[int, bytes, bytes, int]]) -> None:
    client = target.client()
    pipe = client.pipeline(transaction=False)
    for _db, key, value, expire_at in records:
        if expire_at >= 0:
            pipe.restore(key, expire_at, value, absttl=True)
        else:
            pipe.restore(key, 0, value)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


def _server_cpu(facts: dict) -> float:
    """CPU seconds used by the Redis server (and its reaped children: AOF rewrites, saves)."""
    pid = Path(facts["pidfile"]).read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _own_cpu(children: bool = False) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measured(facts: dict, function, children: bool = False) -> tuple[float, dict]:
    """Wall time and CPU microseconds per key of the server and of the client doing function."""
    server, client = _server_cpu(facts), _own_cpu(children)
    seconds, _value = timed(function)
    return seconds, {"keys_per_s": round(KEYS / seconds),
                     "server_cpu_us_per_key": round((_server_cpu(facts) - server) / KEYS * 1e6, 1),
                     "client_cpu_us_per_key": round((_own_cpu(children) - client) / KEYS * 1e6, 1)}


def _redis_cli_pipe(facts: dict, commands: Path) -> None:
    with open(commands, "rb") as handle:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(facts["port"]), "--pipe"], stdin=handle,
                              env={**os.environ, "REDISCLI_AUTH": facts["password"]}, check=True,
                              capture_output=True)
    if b"errors: 0" not in done.stdout:
        raise RuntimeError(f"redis-cli --pipe: {done.stdout[-300:]!r}")


def run() -> list[Comparison]:
    facts = lab_facts()["sites"]["secondary"]["redis"]
    target = RedisTarget(host="127.0.0.1", port=int(facts["port"]), password=facts["password"])
    service = Service(CommandRunner(), service=None, stop_command=[facts["ctl"], "stop"],
                      start_command=[facts["ctl"], "start"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    results = []
    try:
        rdb = _data_set(facts, target)
        size = rdb.stat().st_size
        _bare_restart(facts, target, rdb)
        repository = open_repository({"repository": str(workdir / "repository"), "compression_level": 1})
        backup_s, _result = timed(lambda: redis_backup(repository, target, component=COMPONENT, method="rdb"))

        # rdb: both sides start from the same running server holding one extra key.
        target.client().set("bench:changed", "1")
        bare_s, _value = timed(lambda: _bare_restart(facts, target, rdb))
        target.client().set("bench:changed", "1")
        ours_s, _result = timed(lambda: redis_restore(repository, target, service.runner, component=COMPONENT,
                                                      method="rdb", service=service))
        results.append(Comparison(
            name=f"redis_restore rdb, {KEYS} keys", ours_s=ours_s, bare_s=bare_s, size_bytes=size,
            target="<= 1.2x a bare restart loading the same RDB", passed=ours_s <= 1.2 * bare_s,
            details={"bare": "stop, copy the RDB in place (and as AOF base), start, wait for loading",
                     "backup_rdb_s": round(backup_s, 2)},
        ))

        online_backup_s, result = timed(lambda: redis_backup(repository, target, component=COMPONENT,
                                                             method="online"))
        entry = repository.find(COMPONENT, result["backup_id"])
        with key_records(repository, entry) as stored:
            records = list(stored)
        target.client().flushall()
        naive_s, naive = _measured(facts, lambda: _naive_restore(target, records))
        del records
        commands = workdir / "keys.resp"
        with open(commands, "wb") as handle:
            repository.read_file(entry, KEYS_FILE, handle)
        target.client().flushall()
        pipe_s, pipe = _measured(facts, lambda: _redis_cli_pipe(facts, commands), children=True)
        commands.unlink()
        target.client().set("bench:changed", "1")
        ours_s, ours = _measured(facts, lambda: redis_restore(
            repository, target, service.runner, component=COMPONENT, backup_id=entry.backup_id, method="online",
            flush=True))
        load = os.getloadavg()[0]
        results.append(Comparison(
            name=f"redis_restore online, {KEYS} keys", ours_s=ours_s, bare_s=naive_s, size_bytes=size,
            target=">= 150k keys/s on 2 cores", passed=ours["keys_per_s"] >= 150_000,
            details={"ours": ours, "bare": naive, "load_average_1min": round(load, 1),
                     "bare_is": "redis-py pipelined RESTORE, 1000 per batch, records already in memory",
                     "ours_is": "check the dump, FLUSHALL, stream the stored commands, verify",
                     "backup_online_s": round(online_backup_s, 2)},
        ))
        results.append(Comparison(
            name=f"online vs redis-cli --pipe, {KEYS} keys", ours_s=ours_s, bare_s=pipe_s, size_bytes=size,
            target="the server's ceiling: redis-cli --pipe of the same commands from a local file",
            passed=ours_s <= 1.2 * pipe_s,
            details={"ours": ours, "bare": pipe, "load_average_1min": round(load, 1)},
        ))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        target.client().flushall()
    return results
