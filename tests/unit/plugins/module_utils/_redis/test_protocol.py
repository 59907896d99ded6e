# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RESP spoken directly: packing, parsing every reply type, and the restore stream's reply counting, with the
server named when it goes away."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import (
    RawConnection,
    RedisReplyError,
    stream_restore,
)
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._redis.helpers import STREAM, FakeRedis


def raw_connection(replies: bytes) -> RawConnection:
    connection = object.__new__(RawConnection)
    connection.target = RedisTarget(host="cache1", port=6380)
    connection.reader = io.BufferedReader(io.BytesIO(replies))
    connection.sent = []
    connection.send_packed = lambda what, data: connection.sent.append(data)
    return connection


def test_resp_packing_is_binary_safe():
    assert RawConnection.pack([(b"SET", b"k\r\n", 5)]) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n5\r\n"


def test_resp_replies_of_every_kind_are_parsed():
    connection = raw_connection(b"+OK\r\n$3\r\na\r\n\r\n$-1\r\n:-2\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n-ERR no\r\n")
    answers = connection.replies("test", 6)
    assert answers[:5] == [b"OK", b"a\r\n", None, -2, [b"0", [b"k"]]]
    assert isinstance(answers[5], RedisReplyError) and str(answers[5]) == "ERR no"


def test_a_connection_closed_mid_reply_names_the_server():
    connection = raw_connection(b"$10\r\nabc")
    with pytest.raises(DrError, match="Redis at cache1:6380: DUMP failed"):
        connection.replies("DUMP", 1)


def test_stream_is_sent_as_is_and_every_reply_counted():
    fake = FakeRedis()
    answered, error = stream_restore(RedisTarget(host="127.0.0.1", port=fake.port),
                                     lambda sink: [sink.write(STREAM[start:start + 100])
                                                   for start in range(0, len(STREAM), 100)])
    assert (answered, error) == (5, None)
    assert [arguments[:2] for arguments in fake.received] == [
        [b"SELECT", b"0"], [b"RESTORE", b"a\r\n$"], [b"RESTORE", b"b"], [b"SELECT", b"3"], [b"RESTORE", b"c"], [b"PING"]]
    assert fake.received[2][2:] == [b"1795400000123", b"\x00" * 3000, b"ABSTTL"]


def test_a_server_that_goes_away_mid_restore_is_named():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def close_at_once():
        connection, _address = listener.accept()
        connection.close()
    threading.Thread(target=close_at_once, daemon=True).start()
    target = RedisTarget(host="127.0.0.1", port=listener.getsockname()[1])
    with pytest.raises(DrError, match=r"Redis at 127.0.0.1:\d+: (RESTORE|PING) failed"):
        stream_restore(target, lambda sink: [sink.write(STREAM) for _index in range(200)])
