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
import socket
import struct
import threading
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
from ansible_collections.resilience.dr.plugins.module_utils._redis_commands import REPLACE
from ansible_collections.resilience.dr.plugins.module_utils._redis_payload import same_value
from ansible_collections.resilience.dr.plugins.module_utils._timing import wait_for

try:
    import redis
    from redis import exceptions as redis_exceptions
    from redis.backoff import NoBackoff
    from redis.retry import Retry
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
            # Waits are ours (wait_for): a refused connection answers at once, not after the client's retries.
            retry=Retry(NoBackoff(), 0),
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
    try:
        values = client.config_get(name)
    except redis_errors() as error:
        if isinstance(error, OSError) or type(error).__name__ in ("ConnectionError", "TimeoutError"):
            raise SourceUnavailable(f"Redis at {target.address}: CONFIG GET {name} failed: {error}",
                                    server=target.address) from None
        values = {"error": str(error)}
    value = values.get(name) if isinstance(values, dict) else None
    if value is None:
        detail = f" ({values['error']})" if isinstance(values, dict) and "error" in values else ""
        raise SourceUnavailable(
            f"Redis at {target.address} did not answer CONFIG GET {name}{detail}: CONFIG is renamed or forbidden "
            "for this user; method rdb needs it to find the snapshot, use method online", server=target.address,
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


def differences_from_records(target: RedisTarget, records: t.Iterable[tuple[int, bytes, bytes, int]], *,
                             exact: bool, show: int = 5) -> list[str]:
    """Keys of an online dump the server does not hold as recorded (empty when a restore would change nothing).

    Every record is compared, not a sample: values by their DUMP payload
    (sets and hashes as collections, see _redis_payload), expiries within a
    second of the recorded absolute time. Records already expired are expected to be
    gone. exact: the server holds no other keys in the dump's databases.
    """
    wrong: list[str] = []
    live: dict[int, int] = {}
    batches: dict[int, list[tuple[bytes, bytes, int]]] = {}

    def compare(db: int, batch: list[tuple[bytes, bytes, int]]) -> None:
        client = target.client(db)

        def read() -> list[t.Any]:
            pipe = client.pipeline(transaction=False)
            for key, _value, _expire_at in batch:
                pipe.dump(key)
                pipe.pttl(key)
            return pipe.execute()
        answers = target.call(f"DUMP of db{db}", read)
        now_ms = int(time.time() * 1000)  # after the answers: a PTTL is at most this batch's time old
        for index, (key, value, expire_at) in enumerate(batch):
            payload, ttl = answers[2 * index], answers[2 * index + 1]
            if expire_at >= 0 and expire_at <= now_ms:
                continue
            live[db] = live.get(db, 0) + 1
            if payload is None or not same_value(payload, value):
                wrong.append(f"db{db} key {key!r} {'is missing' if payload is None else 'has another value'}")
            elif (expire_at < 0) != (ttl < 0) or (expire_at >= 0 and abs(now_ms + ttl - expire_at) > 1000):
                wrong.append(f"db{db} key {key!r} has another expiry")

    for db, key, value, expire_at in records:
        batch = batches.setdefault(db, [])
        batch.append((key, value, expire_at))
        if len(batch) >= BATCH:
            compare(db, batch)
            batches[db] = []
        if len(wrong) >= show:
            return wrong
    for db, batch in batches.items():
        if batch:
            compare(db, batch)
    if exact and not wrong:
        for db, counts in sorted(keyspace(target, target.client()).items()):
            if counts["keys"] > live.get(db, 0):
                wrong.append(f"db{db} holds {counts['keys']} keys, the backup {live.get(db, 0)}")
    return wrong[:show]


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

# Format 2, data/keys.resp (written since format 2 exists): the commands that
# restore the keys, in the Redis protocol (RESP), ready to be sent as they are:
# SELECT db before each database's keys, then per key
# RESTORE key expire-at-ms payload ABSTTL (expire-at 0: no expiry).
# Format 1, data/keys.bin (still restored): the header, then one record per
# key: struct RECORD (database, key length, value length, absolute expiry in
# Unix milliseconds or -1), the key, the value as DUMP serialised it.
# Both are documented in docs/redis.md.
KEYS_FORMAT = 2
HEADER = b"RDRKEYS1\n"
RECORD = struct.Struct(">HIIq")


def select_command(db: int) -> bytes:
    text = b"%d" % db
    return b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(text), text)


def restore_command(key: bytes, payload: bytes, expire_at: int, replace: bool = False) -> bytes:
    """RESTORE key expire-at payload ABSTTL [REPLACE]; expire_at is Unix ms, 0 or less for none."""
    ttl = b"%d" % expire_at if expire_at > 0 else b"0"
    if replace:
        return b"*6\r\n$7\r\nRESTORE\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$6\r\nABSTTL\r\n%s" % (
            len(key), key, len(ttl), ttl, len(payload), payload, REPLACE)
    return b"*5\r\n$7\r\nRESTORE\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$6\r\nABSTTL\r\n" % (
        len(key), key, len(ttl), ttl, len(payload), payload)


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


class RedisReplyError(Exception):
    """An error reply (-ERR ...) inside a pipeline."""


class RawConnection:
    """A bare RESP2 connection for the bulk paths (DUMP, RESTORE).

    The Python client spends ~15 microseconds per command building and parsing
    replies; this one packs whole batches at once and parses only the reply
    types these commands give, which is what makes 100k+ keys/s possible.
    """

    def __init__(self, target: RedisTarget, db: int = 0) -> None:
        self.target = target
        try:
            sock = socket.create_connection((target.host, target.port), timeout=target.timeout)
            sock.settimeout(max(target.timeout, 60))
            if target.tls:
                import ssl  # pylint: disable=import-outside-toplevel

                context = ssl.create_default_context(cafile=target.ca_certs)
                if not target.validate_certs:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=target.host)
        except OSError as error:
            raise SourceUnavailable(f"Redis at {target.address}: cannot connect: {error}", server=target.address) from None
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=1024 * 1024)
        if target.password:
            auth = [b"AUTH", target.user.encode(), target.password.encode()] if target.user else [
                b"AUTH", target.password.encode()]
            self.call("AUTH", auth)
        if db:
            self.call(f"SELECT {db}", [b"SELECT", b"%d" % db])

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass  # closing a connection that already broke

    @staticmethod
    def pack(commands: t.Iterable[t.Sequence[t.Any]]) -> bytes:
        parts: list[bytes] = []
        for command in commands:
            parts.append(b"*%d\r\n" % len(command))
            for argument in command:
                if not isinstance(argument, bytes):
                    argument = str(argument).encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(argument), argument))
        return b"".join(parts)

    def send(self, what: str, commands: t.Iterable[t.Sequence[t.Any]]) -> None:
        self.send_packed(what, self.pack(commands))

    def send_packed(self, what: str, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {error}",
                                    server=self.target.address) from None

    def read_reply(self) -> t.Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:
                raise OSError("the server closed the connection")
            return data[:-2]
        if kind == b":":
            return int(rest)
        if kind == b"-":
            return RedisReplyError(rest.decode("utf-8", "replace"))
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.read_reply() for _index in range(size)]
        raise OSError(f"unexpected reply {line[:20]!r}")

    def replies(self, what: str, count: int, fast: bytes | None = None) -> list[t.Any]:
        """count replies; with fast, a reply line equal to it is None (saves parsing thousands of +OK)."""
        try:
            if fast is None:
                return [self.read_reply() for _index in range(count)]
            answers: list[t.Any] = []
            readline = self.reader.readline
            for _index in range(count):
                line = readline()
                if line == fast:
                    answers.append(None)
                elif line.startswith(b"-"):
                    answers.append(RedisReplyError(line[1:-2].decode("utf-8", "replace")))
                else:
                    raise OSError(f"unexpected reply {line[:20]!r}")
            return answers
        except (OSError, ValueError) as error:
            raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {error}",
                                    server=self.target.address) from None

    def pipeline(self, what: str, commands: list[t.Sequence[t.Any]]) -> list[t.Any]:
        """Send commands at once and return their replies; an error reply fails the whole batch."""
        self.send(what, commands)
        answers = self.replies(what, len(commands))
        for command, answer in zip(commands, answers):
            if isinstance(answer, RedisReplyError):
                raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {answer}",
                                        server=self.target.address)
        return answers

    def call(self, what: str, command: t.Sequence[t.Any]) -> t.Any:
        return self.pipeline(what, [command])[0]


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
        read, size, unpack = self.source.read, RECORD.size, RECORD.unpack
        while True:
            head = read(size)
            if not head:
                return
            if len(head) < size:
                head += self._exactly(size - len(head))
            db, key_length, value_length, expire_at = unpack(head)
            length = key_length + value_length
            body = read(length)
            if len(body) < length:
                body += self._exactly(length - len(body))
            yield db, body[:key_length], body[key_length:], expire_at


class RecordsToCommands:
    """A sink that turns a format 1 key dump, fed in chunks, into RESTORE commands for sink."""

    def __init__(self, sink: t.Any, what: str, *, replace: bool) -> None:
        self.sink = sink
        self.what = what
        self.replace = replace
        self.buffer = bytearray()
        self.started = False
        self.db = -1

    def write(self, data: bytes) -> int:
        buffer = self.buffer
        buffer += data
        position = 0
        if not self.started:
            if len(buffer) < len(HEADER):
                return len(data)
            if buffer[:len(HEADER)] != HEADER:
                raise IntegrityError(f"{self.what} is not a key dump of this collection "
                                     f"(header {bytes(buffer[:12])!r})")
            self.started, position = True, len(HEADER)
        parts = []
        size, unpack_from, replace = RECORD.size, RECORD.unpack_from, self.replace
        while len(buffer) - position >= size:
            db, key_length, value_length, expire_at = unpack_from(buffer, position)
            start = position + size
            end = start + key_length + value_length
            if end > len(buffer):
                break
            if db != self.db:
                parts.append(select_command(db))
                self.db = db
            parts.append(restore_command(bytes(buffer[start:start + key_length]),
                                         bytes(buffer[start + key_length:end]), expire_at, replace))
            position = end
        del buffer[:position]
        if parts:
            self.sink.write(b"".join(parts))
        return len(data)

    def close(self) -> None:
        if self.buffer or not self.started:
            raise IntegrityError(f"{self.what} ends in the middle of a record; the backup is unusable")


class _Stopped(Exception):
    """Stops sending once the server answered a command with an error."""


class RestoreStream:
    """Sends a RESP command stream to the server as fast as the server takes it.

    write(chunk) passes bytes straight to the socket; a thread reads and
    counts the replies meanwhile (every command answers +OK), remembering the
    first error reply and its position, after which writing stops. finish()
    sends PING and waits for its reply, so every command has been answered.
    """

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.connection = RawConnection(target)
        self.answered = 0  # +OK replies
        self.error: tuple[int, str] | None = None  # position among the replies, message
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._read_replies, name="redis replies", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise _Stopped()
        if self.failure is not None:
            self._raise_failure()
        self.connection.send_packed("RESTORE", data)
        return len(data)

    def _raise_failure(self) -> t.NoReturn:
        raise SourceUnavailable(f"Redis at {self.target.address}: RESTORE failed: {self.failure}",
                                server=self.target.address)

    def _read_replies(self) -> None:
        read = self.connection.reader.read1
        pending = b""
        errors = 0
        try:
            while True:
                data = read(1 << 18)
                if not data:
                    raise OSError("the server closed the connection")
                data = pending + data
                end = data.rfind(b"\n") + 1
                complete, pending = data[:end], data[end:]
                fast = complete.count(b"+OK\r\n")
                if fast * 5 == len(complete):
                    self.answered += fast
                    continue
                for line in complete.split(b"\r\n")[:-1]:
                    if line == b"+OK":
                        self.answered += 1
                    elif line == b"+PONG":
                        return
                    elif line.startswith(b"-"):
                        if self.error is None:
                            self.error = (self.answered + errors, line[1:].decode("utf-8", "replace"))
                        errors += 1
                    else:
                        raise OSError(f"unexpected reply {line[:20]!r}")
        except (OSError, ValueError) as error:
            self.failure = error

    def finish(self) -> int:
        """Wait until every command sent is answered; the number of +OK replies."""
        try:
            self.connection.send_packed("PING", b"*1\r\n$4\r\nPING\r\n")
        except SourceUnavailable:
            if self.failure is None:
                raise
        self._thread.join()
        if self.failure is not None:
            self._raise_failure()
        return self.answered

    def close(self) -> None:
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the reply thread if it still waits
        except OSError:
            pass  # already closed by the server
        self._thread.join()
        self.connection.close()


def stream_restore(target: RedisTarget, produce: t.Callable[[t.Any], None]) -> tuple[int, tuple[int, str] | None]:
    """Send what produce(sink) writes; (+OK replies, the first error reply and its position or None)."""
    stream = RestoreStream(target)
    try:
        try:
            produce(stream)
        except _Stopped:
            pass
        except DrError:
            if stream.error is None:
                raise
        answered = stream.finish()
    finally:
        stream.close()
    return answered, stream.error


def describe_reply_error(target: RedisTarget, command: tuple[int, bytes | None], answer: str) -> DrError:
    db, key = command
    if key is None:
        hint = " (the target has fewer databases than the source)" if "out of range" in answer else ""
        return DrError(f"Redis at {target.address}: SELECT {db} failed: {answer}{hint}", server=target.address)
    hint = " (the key exists: use replace or flush)" if "BUSYKEY" in answer else ""
    return DrError(f"Redis at {target.address}: RESTORE of key {key!r} in db{db} failed: {answer}{hint}",
                   server=target.address, key=repr(key)[2:-1], db=db)


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
