# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the Redis tests: key dumps in either format, sinks that keep what they are given, readers that
hand out short reads, and a loopback server for the faults a real one cannot be made to give on cue."""

from __future__ import annotations

import io
import socket
import threading

from ansible_collections.resilience.dr.plugins.module_utils._redis.commands import parse_command
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import (
    HEADER,
    RECORD,
    restore_command,
    select_command,
)

# A format 2 key dump whose keys and payloads look like RESP themselves.
STREAM = (select_command(0) + restore_command(b"a\r\n$", b"*5\r\nRESTORE", 0)
          + restore_command(b"b", b"\x00" * 3000, 1795400000123) + select_command(3)
          + restore_command(b"c", b"D3", 0))


class Collected:
    """A sink that keeps every byte written to it."""

    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data
        return len(data)


def feed(sink, data: bytes, step: int) -> None:
    """Write data to sink in pieces of step bytes (commands cut anywhere), then close it."""
    for start in range(0, len(data), step):
        sink.write(data[start:start + step])
    sink.close()


def records_bytes(records) -> bytes:
    """A format 1 key dump of (db, key, value, expire_at) records."""
    data = bytearray(HEADER)
    for db, key, value, expire_at in records:
        data += RECORD.pack(db, len(key), len(value), expire_at) + key + value
    return bytes(data)


class Trickle(io.BytesIO):
    """Hands out at most 3 bytes per read, as a pipe may."""

    def read(self, size=-1):
        return super().read(min(size, 3) if size and size > 0 else 3)


class FakeRedis:
    """A server on loopback answering each command by a rule: +OK, PONG, or the error fail(arguments) gives.

    For error replies at a chosen command of a stream, which a real server gives only by chance.
    """

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
                while (parsed := parse_command(buffer, position, "fake")) is not None:
                    position, _head, arguments = parsed
                    self.received.append(arguments)
                    error = self.fail(arguments)
                    replies.append(b"+PONG\r\n" if arguments[0] == b"PING" else
                                   b"-%s\r\n" % error.encode() if error else b"+OK\r\n")
                del buffer[:position]
                connection.sendall(b"".join(replies))
