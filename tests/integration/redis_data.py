# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test data for the Redis modules: 100k keys of every type in several
databases, some with TTLs and binary names and values, and a way to compare a
server's content with what was seeded."""

from __future__ import annotations

import random
import time
import typing as t

import pytest
import redis

# Keys per database; every type, binary names and values, a TTL on every tenth key.
LAYOUT = {0: 60_000, 1: 30_000, 5: 10_000}
TTL_MS = 3_600_000


def key_name(db: int, number: int) -> bytes:
    return f"k:{db}:{number}".encode() + (b"\xff\x00" if number % 97 == 0 else b"")


def seed(connect: t.Callable[[int], t.Any], layout: dict[int, int] | None = None) -> None:
    generator = random.Random(6)
    for db, count in (layout or LAYOUT).items():
        client = connect(db)
        pipe = client.pipeline(transaction=False)
        for number in range(count):
            key = key_name(db, number)
            kind = number % 6
            if kind == 0:
                pipe.set(key, generator.randbytes(16) if number % 2 else f"value {number}")
            elif kind == 1:
                pipe.hset(key, mapping={"a": number, "b": b"\x00\x01bin", "c": "x" * (number % 50)})
            elif kind == 2:
                pipe.rpush(key, *[f"item{index}" for index in range(1 + number % 5)])
            elif kind == 3:
                pipe.sadd(key, *[f"m{index}" for index in range(1 + number % 7)])
            elif kind == 4:
                pipe.zadd(key, {f"z{index}": index * 1.5 for index in range(1 + number % 4)})
            else:
                pipe.xadd(key, {"f": number, "g": b"\xfe"})
            if number % 10 == 0:
                pipe.pexpire(key, TTL_MS + number)
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()


def sample_names(layout: dict[int, int] | None = None, step: int = 41) -> dict[int, list[bytes]]:
    return {db: [key_name(db, number) for number in range(0, count, step)] for db, count in (layout or LAYOUT).items()}


def snapshot(connect: t.Callable[[int], t.Any], names: dict[int, list[bytes]]) -> dict[t.Any, t.Any]:
    """Per database: key count, and for the sampled keys their type, value and absolute expiry (ms)."""
    readers = {
        b"string": lambda pipe, key: pipe.get(key),
        b"hash": lambda pipe, key: pipe.hgetall(key),
        b"list": lambda pipe, key: pipe.lrange(key, 0, -1),
        b"set": lambda pipe, key: pipe.smembers(key),
        b"zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
        b"stream": lambda pipe, key: pipe.xrange(key),
        b"none": lambda pipe, key: pipe.exists(key),
    }
    found: dict[t.Any, t.Any] = {"counts": {}}
    for db, keys in names.items():
        client = connect(db)
        found["counts"][db] = client.dbsize()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for key, kind in zip(keys, kinds):
            readers[kind](pipe, key)
            pipe.pttl(key)
        answers = pipe.execute()
        now = time.time() * 1000
        for index, (key, kind) in enumerate(zip(keys, kinds)):
            value, ttl = answers[2 * index], answers[2 * index + 1]
            found[(db, key)] = (kind, value, None if ttl < 0 else now + ttl)
    return found


def assert_same_data(expected: dict[t.Any, t.Any], actual: dict[t.Any, t.Any]) -> None:
    """Same counts, same sampled values, expiry times within a second."""
    assert actual["counts"] == expected["counts"]
    for name, (kind, value, expire_at) in expected.items():
        if name == "counts":
            continue
        got_kind, got_value, got_expire = actual[name]
        assert (got_kind, got_value) == (kind, value), f"key {name} differs"
        if expire_at is None:
            assert got_expire is None, f"key {name} gained a TTL"
        else:
            assert got_expire is not None and abs(got_expire - expire_at) < 1000, f"key {name} TTL moved"


class RedisServer:
    """The lab's secondary Redis (the primary serves the lab application)."""

    def __init__(self, facts: dict[str, t.Any]) -> None:
        self.facts = facts
        self.port = int(facts["port"])
        self.password = facts["password"]
        self.ctl = facts["ctl"]
        self.data_dir = facts["data_dir"]

    def connect(self, db: int = 0, **extra: t.Any) -> t.Any:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, db=db, **extra)

    @property
    def options(self) -> dict[str, t.Any]:
        return {"login_host": "127.0.0.1", "login_port": self.port, "login_password": self.password}

    @property
    def commands(self) -> dict[str, t.Any]:
        return {"stop_command": [self.ctl, "stop"], "start_command": [self.ctl, "start"]}

    def run_id(self) -> str:
        return self.connect().info("server")["run_id"]


@pytest.fixture(scope="module")
def server(lab: dict[str, t.Any]) -> t.Iterator[RedisServer]:
    """The secondary Redis holding the seeded data set; emptied again afterwards."""
    server = RedisServer(lab["sites"]["secondary"]["redis"])
    server.connect().flushall()
    seed(server.connect)
    try:
        yield server
    finally:
        server.connect().flushall()


@pytest.fixture(scope="module")
def seeded(server: RedisServer) -> dict[t.Any, t.Any]:
    """What the seeded server holds (sampled), to compare restores with."""
    return snapshot(server.connect, sample_names())
