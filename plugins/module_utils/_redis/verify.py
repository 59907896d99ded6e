# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Redis restore is checked against: key counts and digests of sampled
keys, recorded at backup time and compared with the server afterwards.

Verification data is taken twice, before and after the copy: key counts
become a range (lowest persistent count to highest count seen), and only
sampled keys without a TTL whose value did not change in between are kept. On
a quiet server the range is exact; on a busy one it still tells a complete
restore from a broken one.
"""

from __future__ import annotations

import hashlib
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import BATCH, RedisTarget, keyspace
from ansible_collections.resilience.dr.plugins.module_utils._redis.payload import same_value


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
    (sets and hashes as collections, see payload.py), expiries within a
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


def describe_problems(problems: list[str]) -> str:
    return "; ".join(problems)


def require_verified(target: RedisTarget, verification: dict[str, t.Any], label: str, *, exact: bool) -> None:
    problems = check_against(target, verification, exact=exact)
    if problems:
        raise VerificationFailed(
            f"Redis at {target.address} after restoring {label}: {describe_problems(problems)}",
            server=target.address, problems=problems,
        )


def expected_counts(verification: dict[str, t.Any]) -> dict[str, t.Any]:
    """Keys and keys with a TTL per database, as the verification data recorded them (results show these)."""
    return {db: {"keys": value["keys"], "expires": value.get("expires", 0)}
            for db, value in (verification.get("databases") or {}).items()}
