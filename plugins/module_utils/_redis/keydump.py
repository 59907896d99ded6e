# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key dump of an online Redis backup, both formats (documented in docs/redis.md).

Format 2, data/keys.resp (written since format 2 exists): the commands that
restore the keys, in the Redis protocol (RESP), ready to be sent as they are:
SELECT db before each database's keys, then per key
RESTORE key expire-at-ms payload ABSTTL (expire-at 0: no expiry). What may
appear in such a stream is checked by commands.py.

Format 1, data/keys.bin (still restored): the header, then one record per
key: struct RECORD (database, key length, value length, absolute expiry in
Unix milliseconds or -1), the key, the value as DUMP serialised it.
"""

from __future__ import annotations

import struct
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError

KEYS_FILE = "data/keys.resp"  # key dump format 2 (RESTORE commands)
LEGACY_KEYS_FILE = "data/keys.bin"  # key dump format 1 (records), restored still
KEYS_FORMAT = 2
HEADER = b"RDRKEYS1\n"
RECORD = struct.Struct(">HIIq")
REPLACE = b"$7\r\nREPLACE\r\n"


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
