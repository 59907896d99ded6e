# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis logic that needs no server: digests, the key dump format, RESP
packing and parsing, verification against recorded counts and samples."""

from __future__ import annotations

import io

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _redis as rd
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, IntegrityError


def test_digest_does_not_depend_on_the_order_redis_returns_members_in():
    assert rd.canonical_digest("hash", {b"a": b"1", b"b": b"2"}) == rd.canonical_digest("hash", {b"b": b"2", b"a": b"1"})
    assert rd.canonical_digest("set", {b"x", b"y"}) == rd.canonical_digest("set", {b"y", b"x"})


def test_digest_tells_types_values_and_framing_apart():
    digests = {
        rd.canonical_digest("string", b"ab"),
        rd.canonical_digest("list", [b"ab"]),
        rd.canonical_digest("list", [b"a", b"b"]),
        rd.canonical_digest("set", {b"ab"}),
        rd.canonical_digest("zset", [(b"ab", 1.0)]),
        rd.canonical_digest("zset", [(b"ab", 2.0)]),
        rd.canonical_digest("stream", [(b"1-0", {b"f": b"v"})]),
    }
    assert len(digests) == 7


def records_bytes(records) -> bytes:
    data = bytearray(rd.HEADER)
    for db, key, value, expire_at in records:
        data += rd.RECORD.pack(db, len(key), len(value), expire_at) + key + value
    return bytes(data)


class Trickle(io.BytesIO):
    """Hands out at most 3 bytes per read, as a pipe may."""

    def read(self, size=-1):
        return super().read(min(size, 3) if size and size > 0 else 3)


def test_key_dump_round_trips_binary_keys_and_expiry_even_from_short_reads():
    records = [(0, b"k\x00\xff", b"\x00dump", -1), (5, b"session:1", b"v" * 5000, 1795400000123)]
    assert list(rd.RecordReader(Trickle(records_bytes(records)), "dump")) == records


def test_truncated_key_dump_is_refused():
    data = records_bytes([(0, b"key", b"value", -1)])
    with pytest.raises(IntegrityError, match="ends in the middle of a record"):
        list(rd.RecordReader(io.BytesIO(data[:-2]), "backup B: file data/keys.bin"))


def test_other_data_is_not_taken_for_a_key_dump():
    with pytest.raises(IntegrityError, match="is not a key dump"):
        rd.RecordReader(io.BytesIO(b"REDIS0010..."), "backup B: file data/keys.bin")


def test_rdb_header_check():
    rd.check_rdb_header(b"REDIS0010", "dump.rdb")
    with pytest.raises(IntegrityError, match="not an RDB file"):
        rd.check_rdb_header(b"\x28\xb5\x2f\xfd", "dump.rdb")


def raw_connection(replies: bytes) -> rd.RawConnection:
    connection = object.__new__(rd.RawConnection)
    connection.target = rd.RedisTarget(host="cache1", port=6380)
    connection.reader = io.BufferedReader(io.BytesIO(replies))
    connection.sent = []
    connection.send_packed = lambda what, data: connection.sent.append(data)
    return connection


def test_resp_packing_is_binary_safe():
    assert rd.RawConnection.pack([(b"SET", b"k\r\n", 5)]) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n5\r\n"


def test_resp_replies_of_every_kind_are_parsed():
    connection = raw_connection(b"+OK\r\n$3\r\na\r\n\r\n$-1\r\n:-2\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n-ERR no\r\n")
    answers = connection.replies("test", 6)
    assert answers[:5] == [b"OK", b"a\r\n", None, -2, [b"0", [b"k"]]]
    assert isinstance(answers[5], rd.RedisReplyError) and str(answers[5]) == "ERR no"


def test_a_connection_closed_mid_reply_names_the_server():
    connection = raw_connection(b"$10\r\nabc")
    with pytest.raises(DrError, match="Redis at cache1:6380: DUMP failed"):
        connection.replies("DUMP", 1)


class FakeConnections:
    """Stands in for RawConnection: records what restore_records sends, answers from a script."""

    def __init__(self, answer=b"+OK\r\n"):
        self.answer = answer
        self.sent: list[tuple[int, bytes]] = []

    def __call__(self, target, db):
        fake = self

        class Connection:
            def __init__(self):
                self.pending = 0

            def send_packed(self, what, data):
                fake.sent.append((db, data))
                self.pending = data.count(b"RESTORE")

            def replies(self, what, count, fast=None):
                return [None if fake.answer == fast else rd.RedisReplyError(fake.answer[1:-2].decode())
                        for _index in range(count)]

            def close(self):
                pass

        return Connection()


def test_restore_keeps_absolute_expiry_and_replaces_only_when_asked(monkeypatch):
    fake = FakeConnections()
    monkeypatch.setattr(rd, "RawConnection", fake)
    records = [(0, b"a", b"D1", -1), (0, b"b", b"D2", 1795400000123), (3, b"c", b"D3", -1)]
    restored = rd.restore_records(rd.RedisTarget(), records, replace=False)
    assert restored == {"0": 2, "3": 1}
    sent = b"".join(data for _db, data in fake.sent)
    assert b"$1\r\na\r\n$1\r\n0\r\n$2\r\nD1\r\n" in sent and b"REPLACE" not in sent
    assert b"$13\r\n1795400000123\r\n$2\r\nD2\r\n$6\r\nABSTTL\r\n" in sent
    assert [db for db, _data in fake.sent] == [0, 3]

    fake = FakeConnections()
    monkeypatch.setattr(rd, "RawConnection", fake)
    rd.restore_records(rd.RedisTarget(), records[:2], replace=True)
    sent = fake.sent[0][1]
    assert sent.startswith(b"*5\r\n$7\r\nRESTORE") and b"$6\r\nABSTTL\r\n$7\r\nREPLACE\r\n" in sent


def test_restore_of_an_existing_key_says_what_to_do(monkeypatch):
    monkeypatch.setattr(rd, "RawConnection", FakeConnections(b"-BUSYKEY Target key name already exists.\r\n"))
    with pytest.raises(DrError, match=r"RESTORE of key b'a' in db0 failed: BUSYKEY .* use replace or flush"):
        rd.restore_records(rd.RedisTarget(), [(0, b"a", b"D1", -1)], replace=False)


VERIFICATION = {"databases": {
    "0": {"keys": 100, "expires": 10, "min_keys": 90, "max_keys": 100, "samples": {b"k1".hex(): "d1", b"k2".hex(): "d2"}},
}}


@pytest.fixture
def server_state(monkeypatch):
    """What the (fake) server holds: keyspace and digests."""
    state = {"keyspace": {0: {"keys": 100, "expires": 10}}, "digests": {b"k1": "d1", b"k2": "d2"}}
    monkeypatch.setattr(rd.RedisTarget, "client", lambda self, db=0: None)
    monkeypatch.setattr(rd, "keyspace", lambda target, client: state["keyspace"])
    monkeypatch.setattr(rd, "key_digests", lambda target, client, keys: {key: state["digests"].get(key) for key in keys})
    return state


def test_a_matching_server_passes(server_state):
    assert rd.check_against(rd.RedisTarget(), VERIFICATION) == []
    server_state["keyspace"][0]["keys"] = 90  # keys with a TTL expired since
    assert rd.check_against(rd.RedisTarget(), VERIFICATION) == []


def test_counts_samples_and_stray_databases_are_reported(server_state):
    server_state["keyspace"] = {0: {"keys": 89, "expires": 0}, 4: {"keys": 3, "expires": 0}}
    server_state["digests"] = {b"k1": "other"}
    problems = rd.check_against(rd.RedisTarget(), VERIFICATION)
    assert problems == [
        "db0 holds 89 keys, the backup recorded 90 to 100",
        "db0: 2 of 2 sampled keys differ or are missing (k1, k2)",
        "db4 holds 3 keys, the backup recorded none",
    ]
    # Without exact (replace into a server with other keys) only the lower bound and samples count.
    server_state["keyspace"] = {0: {"keys": 500, "expires": 0}, 4: {"keys": 3, "expires": 0}}
    server_state["digests"] = {b"k1": "d1", b"k2": "d2"}
    assert rd.check_against(rd.RedisTarget(), VERIFICATION, exact=False) == []


def test_commands_are_argument_lists_and_a_single_string_is_split():
    assert rd.split_command(["/usr/local/bin/redis-ctl stop"], "stop_command") == ["/usr/local/bin/redis-ctl", "stop"]
    assert rd.split_command(["/opt/my redis/ctl", "stop"], "stop_command") == ["/opt/my redis/ctl", "stop"]
    with pytest.raises(ConfigurationError, match="stop_command is empty"):
        rd.split_command([], "stop_command")
