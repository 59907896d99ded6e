# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis logic that needs no server: digests, the key dump format, RESP
packing and parsing, verification against recorded counts and samples."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _redis as rd
from ansible_collections.resilience.dr.plugins.module_utils import _redis_commands as rc
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, IntegrityError
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils.redis_streams import Collected, feed


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


def test_stored_commands_restore_with_absolute_expiry_and_replace_only_when_asked():
    assert rd.restore_command(b"a", b"D1", 0) == b"*5\r\n$7\r\nRESTORE\r\n$1\r\na\r\n$1\r\n0\r\n$2\r\nD1\r\n$6\r\nABSTTL\r\n"
    assert rd.restore_command(b"b", b"D2", 1795400000123, replace=True) == (
        b"*6\r\n$7\r\nRESTORE\r\n$1\r\nb\r\n$13\r\n1795400000123\r\n$2\r\nD2\r\n$6\r\nABSTTL\r\n$7\r\nREPLACE\r\n")
    assert rd.select_command(12) == b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n"


STREAM = (rd.select_command(0) + rd.restore_command(b"a\r\n$", b"*5\r\nRESTORE", 0)
          + rd.restore_command(b"b", b"\x00" * 3000, 1795400000123) + rd.select_command(3)
          + rd.restore_command(b"c", b"D3", 0))


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_replace_is_added_to_every_restore_whatever_the_chunks(step):
    collected = Collected()
    feed(rc.AddReplace(collected, "dump"), STREAM, step)
    assert bytes(collected.data) == (rd.select_command(0) + rd.restore_command(b"a\r\n$", b"*5\r\nRESTORE", 0, True)
                                     + rd.restore_command(b"b", b"\x00" * 3000, 1795400000123, True)
                                     + rd.select_command(3) + rd.restore_command(b"c", b"D3", 0, True))


@pytest.mark.parametrize("step", [3, 1 << 20])
def test_first_format_records_become_the_same_commands(step):
    records = [(0, b"a\r\n$", b"*5\r\nRESTORE", -1), (0, b"b", b"\x00" * 3000, 1795400000123), (3, b"c", b"D3", -1)]
    collected = Collected()
    feed(rd.RecordsToCommands(collected, "dump", replace=False), records_bytes(records), step)
    assert bytes(collected.data) == STREAM
    # and read back as records from either format
    assert list(rc.CommandReader(Trickle(STREAM), "dump")) == records


def test_a_truncated_or_foreign_command_stream_is_refused():
    with pytest.raises(IntegrityError, match="ends in the middle of a command"):
        feed(rc.AddReplace(Collected(), "backup B: file data/keys.resp"), STREAM[:-3], 1 << 20)
    with pytest.raises(IntegrityError, match="holds no command"):
        feed(rc.AddReplace(Collected(), "backup B: file data/keys.resp"), b"REDIS0010\r\n", 1 << 20)
    with pytest.raises(IntegrityError, match="ends in the middle of a record"):
        feed(rd.RecordsToCommands(Collected(), "dump", replace=False), records_bytes([(0, b"k", b"v", -1)])[:-1], 5)


def test_commands_are_located_by_their_position():
    def produce(sink):
        feed(sink, STREAM, 1 << 20)
    assert rc.locate_command(produce, 0, "dump") == (0, None)
    assert rc.locate_command(produce, 2, "dump") == (0, b"b")
    assert rc.locate_command(produce, 4, "dump") == (3, b"c")
    counter = rc.CommandCounter("dump")
    produce(counter)
    assert counter.keys == {"0": 2, "3": 1} and counter.commands == 5


class FakeRedis:
    """A server on loopback answering each command by a rule: +OK, PONG, or the error fail(arguments) gives."""

    def __init__(self, fail=lambda arguments: None):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.fail = fail
        self.received: list[list[bytes]] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        connection, _address = self.listener.accept()
        buffer = bytearray()
        with connection:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
                position, replies = 0, []
                while (parsed := rc.parse_command(buffer, position, "fake")) is not None:
                    position, _head, arguments = parsed
                    self.received.append(arguments)
                    error = self.fail(arguments)
                    replies.append(b"+PONG\r\n" if arguments[0] == b"PING" else
                                   b"-%s\r\n" % error.encode() if error else b"+OK\r\n")
                del buffer[:position]
                connection.sendall(b"".join(replies))


def test_stream_is_sent_as_is_and_every_reply_counted():
    fake = FakeRedis()
    answered, error = rd.stream_restore(rd.RedisTarget(host="127.0.0.1", port=fake.port),
                                        lambda sink: [sink.write(STREAM[start:start + 100])
                                                      for start in range(0, len(STREAM), 100)])
    assert (answered, error) == (5, None)
    assert [arguments[:2] for arguments in fake.received] == [
        [b"SELECT", b"0"], [b"RESTORE", b"a\r\n$"], [b"RESTORE", b"b"], [b"SELECT", b"3"], [b"RESTORE", b"c"], [b"PING"]]
    assert fake.received[2][2:] == [b"1795400000123", b"\x00" * 3000, b"ABSTTL"]


def test_restore_of_an_existing_key_names_it_and_says_what_to_do():
    fake = FakeRedis(lambda arguments: "BUSYKEY Target key name already exists." if arguments[1:2] == [b"b"] else None)
    target = rd.RedisTarget(host="127.0.0.1", port=fake.port)
    answered, error = rd.stream_restore(target, lambda sink: sink.write(STREAM))
    assert error == (2, "BUSYKEY Target key name already exists.")
    assert answered == 4  # the error stops the sending, not what was already sent
    with pytest.raises(DrError, match=r"Redis at 127.0.0.1:\d+: RESTORE of key b'b' in db0 failed: BUSYKEY .* "
                                      r"use replace or flush"):
        raise rd.describe_reply_error(target, rc.locate_command(lambda sink: feed(sink, STREAM, 1 << 20), 2, "d"),
                                      error[1])


def test_a_server_that_goes_away_mid_restore_is_named():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def close_at_once():
        connection, _address = listener.accept()
        connection.close()
    threading.Thread(target=close_at_once, daemon=True).start()
    target = rd.RedisTarget(host="127.0.0.1", port=listener.getsockname()[1])
    with pytest.raises(DrError, match=r"Redis at 127.0.0.1:\d+: (RESTORE|PING) failed"):
        rd.stream_restore(target, lambda sink: [sink.write(STREAM) for _index in range(200)])


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
