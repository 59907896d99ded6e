# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis: connecting, inspecting a server, snapshots, key digests and the
online dump format shared by redis_backup and redis_restore.

Verification data (what a restore is checked against) is taken twice, before
and after the copy: key counts become a range (lowest persistent count to
highest count seen), and only sampled keys without a TTL whose value did not
change in between are kept. On a quiet server the range is exact; on a busy
one it still tells a complete restore from a broken one.
"""

from __future__ import annotations

import hashlib
import struct
import time
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    DrError,
    IntegrityError,
    SourceUnavailable,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._module import missing_library_message
from ansible_collections.resilience.dr.plugins.module_utils._timing import wait_for

try:
    import redis
    from redis import exceptions as redis_exceptions
except ImportError:  # reported by require_redis() when a server is contacted
    redis = None
    redis_exceptions = None

BATCH = 1000
RDB_MAGIC = b"REDIS"


def require_redis() -> None:
    if redis is None:
        raise DependencyMissing(missing_library_message("redis", "to talk to Redis servers"))


def redis_errors() -> tuple[type[BaseException], ...]:
    return (redis_exceptions.RedisError, OSError) if redis_exceptions is not None else (OSError,)


def connection_argument_spec() -> dict[str, t.Any]:
    """Connection options (documented by the resilience.dr.redis doc fragment)."""
    return dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=6379),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        tls=dict(type="bool", default=False),
        ca_certs=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


@dataclass
class RedisTarget:
    """How to reach one server; validate_certs is shared with the repository options."""

    host: str = "localhost"
    port: int = 6379
    user: str | None = None
    password: str | None = None
    tls: bool = False
    validate_certs: bool = True
    ca_certs: str | None = None
    timeout: float = 10

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> RedisTarget:
        return cls(
            host=params.get("login_host") or "localhost", port=params.get("login_port") or 6379,
            user=params.get("login_user"), password=params.get("login_password"), tls=bool(params.get("tls")),
            validate_certs=params.get("validate_certs", True), ca_certs=params.get("ca_certs"),
            timeout=params.get("connect_timeout") or 10,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, db: int = 0) -> t.Any:
        require_redis()
        options: dict[str, t.Any] = dict(
            host=self.host, port=self.port, db=db, username=self.user, password=self.password,
            socket_connect_timeout=self.timeout, socket_timeout=max(self.timeout, 60),
        )
        if self.tls:
            options.update(ssl=True, ssl_cert_reqs="required" if self.validate_certs else "none",
                           ssl_ca_certs=self.ca_certs)
        return redis.Redis(**options)

    def call(self, what: str, function: t.Callable[[], t.Any]) -> t.Any:
        """Run function, turning connection and server errors into a DrError naming this server."""
        try:
            return function()
        except redis_errors() as error:
            raise SourceUnavailable(f"Redis at {self.address}: {what} failed: {error}", server=self.address) from None


def config_get(target: RedisTarget, client: t.Any, name: str) -> str:
    values = target.call(f"CONFIG GET {name}", lambda: client.config_get(name))
    value = values.get(name) if isinstance(values, dict) else None
    if value is None:
        raise SourceUnavailable(
            f"Redis at {target.address} did not answer CONFIG GET {name} (is CONFIG renamed or forbidden for "
            f"this user?); give the setting as an option or use method online", server=target.address,
        )
    return value.decode() if isinstance(value, bytes) else str(value)


def server_facts(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    info = target.call("INFO server", lambda: client.info("server"))
    return {"run_id": info.get("run_id"), "redis_version": str(info.get("redis_version")), "address": target.address}


def keyspace(target: RedisTarget, client: t.Any) -> dict[int, dict[str, int]]:
    """{db: {"keys": n, "expires": m}} for every non-empty database."""
    info = target.call("INFO keyspace", lambda: client.info("keyspace"))
    found = {}
    for name, value in info.items():
        if str(name).startswith("db") and isinstance(value, dict):
            found[int(str(name)[2:])] = {"keys": int(value.get("keys", 0)), "expires": int(value.get("expires", 0))}
    return found


# ---------------------------------------------------------------------- digests and verification


def _frame(digest: t.Any, value: t.Any) -> None:
    data = value if isinstance(value, bytes) else str(value).encode()
    digest.update(b"%d:" % len(data))
    digest.update(data)


def canonical_digest(kind: str, value: t.Any) -> str:
    """SHA-256 of a value in a form independent of its encoding inside Redis."""
    digest = hashlib.sha256()
    _frame(digest, kind)
    if kind == "string":
        _frame(digest, value)
    elif kind == "hash":
        for field, item in sorted(value.items()):
            _frame(digest, field)
            _frame(digest, item)
    elif kind == "list":
        for item in value:
            _frame(digest, item)
    elif kind == "set":
        for item in sorted(value):
            _frame(digest, item)
    elif kind == "zset":
        for member, score in value:
            _frame(digest, member)
            _frame(digest, repr(float(score)))
    elif kind == "stream":
        for entry_id, fields in value:
            _frame(digest, entry_id)
            for field, item in sorted(fields.items()):
                _frame(digest, field)
                _frame(digest, item)
    return digest.hexdigest()


READERS: dict[str, t.Callable[[t.Any, bytes], t.Any]] = {
    "string": lambda pipe, key: pipe.get(key),
    "hash": lambda pipe, key: pipe.hgetall(key),
    "list": lambda pipe, key: pipe.lrange(key, 0, -1),
    "set": lambda pipe, key: pipe.smembers(key),
    "zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
    "stream": lambda pipe, key: pipe.xrange(key),
}


def key_digests(target: RedisTarget, client: t.Any, keys: t.Sequence[bytes]) -> dict[bytes, str | None]:
    """Digest of each key that exists without a TTL and has a known type; None for the others."""
    def read() -> dict[bytes, str | None]:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
            pipe.pttl(key)
        answers = pipe.execute()
        kinds = {}
        for index, key in enumerate(keys):
            kind = answers[2 * index]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind in READERS and answers[2 * index + 1] == -1:
                kinds[key] = kind
        pipe = client.pipeline(transaction=False)
        for key, kind in kinds.items():
            READERS[kind](pipe, key)
        values = pipe.execute()
        found: dict[bytes, str | None] = {key: None for key in keys}
        for (key, kind), value in zip(kinds.items(), values):
            found[key] = canonical_digest(kind, value)
        return found
    return target.call("reading sampled keys", read)


def random_keys(target: RedisTarget, client: t.Any, count: int) -> list[bytes]:
    def read() -> list[bytes]:
        pipe = client.pipeline(transaction=False)
        for _number in range(count):
            pipe.randomkey()
        return sorted({key for key in pipe.execute() if key is not None})
    return target.call("RANDOMKEY", read)


class VerificationProbe:
    """Key counts and sampled digests before a copy, settled after it (see the module docstring)."""

    def __init__(self, target: RedisTarget, sample_keys: int) -> None:
        self.target = target
        self.sample_keys = sample_keys
        client = target.client()
        self.before = keyspace(target, client)
        self.samples: dict[int, dict[bytes, str | None]] = {}
        for db in self.before:
            db_client = target.client(db)
            keys = random_keys(target, db_client, sample_keys) if sample_keys else []
            self.samples[db] = key_digests(target, db_client, keys)

    def settle(self) -> dict[str, t.Any]:
        target = self.target
        after = keyspace(target, target.client())
        databases: dict[str, t.Any] = {}
        for db in sorted(set(self.before) | set(after)):
            first = self.before.get(db, {"keys": 0, "expires": 0})
            last = after.get(db, {"keys": 0, "expires": 0})
            stable: dict[str, str] = {}
            if self.samples.get(db):
                again = key_digests(target, target.client(db), list(self.samples[db]))
                stable = {key.hex(): digest for key, digest in self.samples[db].items()
                          if digest is not None and again.get(key) == digest}
            databases[str(db)] = {
                "keys": last["keys"], "expires": last["expires"],
                "min_keys": max(min(first["keys"], last["keys"]) - max(first["expires"], last["expires"]), 0),
                "max_keys": max(first["keys"], last["keys"]),
                "samples": stable,
            }
        return {"databases": databases, "sample_keys": self.sample_keys}


def check_against(target: RedisTarget, verification: dict[str, t.Any], *, exact: bool = True) -> list[str]:
    """Problems found comparing a server with a backup's verification data (empty when it matches).

    exact: the server holds only the backup's data (no other databases, no more keys).
    """
    problems: list[str] = []
    databases = verification.get("databases") or {}
    present = keyspace(target, target.client())
    for name, expected in sorted(databases.items(), key=lambda item: int(item[0])):
        db = int(name)
        keys = present.get(db, {"keys": 0})["keys"]
        if keys < expected["min_keys"] or (exact and keys > expected["max_keys"]):
            wanted = (f"{expected['min_keys']}" if expected["min_keys"] == expected["max_keys"]
                      else f"{expected['min_keys']} to {expected['max_keys']}")
            problems.append(f"db{db} holds {keys} keys, the backup recorded {wanted}")
        samples = expected.get("samples") or {}
        if samples:
            found = key_digests(target, target.client(db), [bytes.fromhex(key) for key in samples])
            wrong = [key for key, digest in samples.items() if found.get(bytes.fromhex(key)) != digest]
            if wrong:
                shown = ", ".join(repr(bytes.fromhex(key))[2:-1] for key in wrong[:5])
                problems.append(f"db{db}: {len(wrong)} of {len(samples)} sampled keys differ or are missing ({shown})")
    if exact:
        for db, counts in sorted(present.items()):
            if str(db) not in databases and counts["keys"]:
                problems.append(f"db{db} holds {counts['keys']} keys, the backup recorded none")
    return problems


# ---------------------------------------------------------------------- snapshots (BGSAVE)


def persistence(target: RedisTarget, client: t.Any) -> dict[str, t.Any]:
    return target.call("INFO persistence", lambda: client.info("persistence"))


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


# ---------------------------------------------------------------------- online dump format

# keys.bin: the header, then one record per key: struct RECORD (database, key
# length, value length, absolute expiry in Unix milliseconds or -1), the key,
# the value as DUMP serialised it. Documented in docs/redis.md.
HEADER = b"RDRKEYS1\n"
RECORD = struct.Struct(">HIIq")


def dump_keys(target: RedisTarget, databases: t.Iterable[int], sink: t.Any, counts: dict[str, int]) -> None:
    """SCAN every database and write each key's DUMP and expiry to sink."""
    sink.write(HEADER)
    for db in databases:
        client = target.client(db)
        cursor = 0
        written = 0
        while True:
            cursor, keys = target.call(f"SCAN of db{db}", lambda c=cursor: client.scan(c, count=BATCH))
            if keys:
                written += _dump_batch(target, client, db, keys, sink)
            if int(cursor) == 0:
                break
        counts[str(db)] = written


def _dump_batch(target: RedisTarget, client: t.Any, db: int, keys: list[bytes], sink: t.Any) -> int:
    def read() -> list[t.Any]:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        return pipe.execute()

    answers = target.call(f"DUMP of db{db}", read)
    now_ms = int(time.time() * 1000)
    chunk = bytearray()
    written = 0
    for index, key in enumerate(keys):
        value, ttl = answers[2 * index], answers[2 * index + 1]
        if value is None or ttl == -2:
            continue  # deleted or expired since SCAN saw it
        expire_at = now_ms + int(ttl) if ttl >= 0 else -1
        chunk += RECORD.pack(db, len(key), len(value), expire_at)
        chunk += key
        chunk += value
        written += 1
    sink.write(bytes(chunk))
    return written


class RecordReader:
    """Reads keys.bin records from a stream: (db, key, value, expire_at_ms)."""

    def __init__(self, source: t.BinaryIO, what: str) -> None:
        self.source = source
        self.what = what
        head = self._exactly(len(HEADER))
        if head != HEADER:
            raise IntegrityError(f"{what} is not a key dump of this collection (header {head[:12]!r})")

    def _exactly(self, size: int) -> bytes:
        data = self.source.read(size)
        while data is not None and len(data) < size:
            more = self.source.read(size - len(data))
            if not more:
                break
            data += more
        if data is None or len(data) != size:
            raise IntegrityError(f"{self.what} ends in the middle of a record; the backup is unusable")
        return data

    def __iter__(self) -> t.Iterator[tuple[int, bytes, bytes, int]]:
        while True:
            head = self.source.read(RECORD.size)
            if not head:
                return
            if len(head) < RECORD.size:
                head += self._exactly(RECORD.size - len(head))
            db, key_length, value_length, expire_at = RECORD.unpack(head)
            key = self._exactly(key_length)
            yield db, key, self._exactly(value_length), expire_at


def restore_records(target: RedisTarget, records: t.Iterable[tuple[int, bytes, bytes, int]], *,
                    replace: bool) -> dict[str, int]:
    """Pipelined RESTORE with absolute expiry times; returns keys restored per database."""
    clients: dict[int, t.Any] = {}
    restored: dict[str, int] = {}
    batch: list[tuple[int, bytes, bytes, int]] = []

    def flush() -> None:
        by_db: dict[int, list[tuple[bytes, bytes, int]]] = {}
        for db, key, value, expire_at in batch:
            by_db.setdefault(db, []).append((key, value, expire_at))
        for db, items in by_db.items():
            client = clients.get(db) or clients.setdefault(db, target.client(db))
            pipe = client.pipeline(transaction=False)
            for key, value, expire_at in items:
                arguments = [key, max(expire_at, 0), value]
                if expire_at >= 0:
                    arguments.append("ABSTTL")
                if replace:
                    arguments.append("REPLACE")
                pipe.execute_command("RESTORE", *arguments)
            answers = target.call(f"RESTORE into db{db}", lambda p=pipe: p.execute(raise_on_error=False))
            for (key, _value, _expire), answer in zip(items, answers):
                if isinstance(answer, Exception):
                    raise DrError(f"Redis at {target.address}: RESTORE of key {key!r} in db{db} failed: {answer}",
                                  server=target.address)
            restored[str(db)] = restored.get(str(db), 0) + len(items)
        batch.clear()

    for record in records:
        batch.append(record)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return restored


def describe_problems(problems: list[str]) -> str:
    return "; ".join(problems)


def require_verified(target: RedisTarget, verification: dict[str, t.Any], label: str, *, exact: bool) -> None:
    problems = check_against(target, verification, exact=exact)
    if problems:
        raise VerificationFailed(
            f"Redis at {target.address} after restoring {label}: {describe_problems(problems)}",
            server=target.address, problems=problems,
        )


def split_command(command: t.Sequence[str] | None, option: str) -> list[str]:
    """An argument list; a single element with spaces is split like a shell would (no shell runs)."""
    import shlex  # pylint: disable=import-outside-toplevel

    items = list(command or [])
    if len(items) == 1 and " " in items[0].strip():
        items = shlex.split(items[0])
    if command is not None and not items:
        raise ConfigurationError(f"{option} is empty")
    return items
