# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Comparing two DUMP payloads of a key by value.

DUMP serialises a set or a hash kept as a hash table in the table's
iteration order, which depends on the process's hash seed: the same value
dumped by another server (or after a restart) has other bytes. For those two
RDB types the payload is read (RDB string encodings, LZF included) and
compared as a collection; every other type is compared byte for byte.
"""

from __future__ import annotations

import struct

# RDB object type -> strings per element: a set holds members, a hash field/value pairs.
UNORDERED_TYPES = {2: 1, 4: 2}
TRAILER = 10  # two bytes of RDB version, eight of CRC64


class PayloadError(ValueError):
    """The payload is not in the RDB form this reader knows."""


def same_value(left: bytes, right: bytes) -> bool:
    if left == right:
        return True
    if not left or not right or left[0] != right[0] or left[0] not in UNORDERED_TYPES:
        return False
    try:
        return elements(left) == elements(right)
    except PayloadError:
        return False  # unknown form: not proven equal


def elements(payload: bytes) -> list[tuple[bytes, ...]]:
    """The sorted elements of a set (members) or hash (field, value) payload."""
    group = UNORDERED_TYPES.get(payload[0]) if payload else None
    if group is None:
        raise PayloadError("not a hash-table set or hash")
    reader = _Reader(payload, 1)
    count = reader.length()
    found = [tuple(reader.string() for _part in range(group)) for _element in range(count)]
    if reader.offset != len(payload) - TRAILER:
        raise PayloadError("trailing data after the elements")
    return sorted(found)


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if size < 0 or end > len(self.data) - TRAILER:
            raise PayloadError("payload ends inside an element")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def _length_or_encoding(self) -> tuple[int, bool]:
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.take(1)[0], False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise PayloadError(f"unknown length byte {first:#x}")

    def length(self) -> int:
        value, encoded = self._length_or_encoding()
        if encoded:
            raise PayloadError("an encoded string where a length belongs")
        return value

    def string(self) -> bytes:
        value, encoded = self._length_or_encoding()
        if not encoded:
            return self.take(value)
        if value in (0, 1, 2):  # integers stored in 1, 2 or 4 bytes, little-endian
            return b"%d" % struct.unpack(("<b", "<h", "<i")[value], self.take(1 << value))[0]
        if value == 3:
            compressed, size = self.length(), self.length()
            return lzf_decompress(self.take(compressed), size)
        raise PayloadError(f"unknown string encoding {value}")


def lzf_decompress(data: bytes, size: int) -> bytes:
    """LZF, the compression RDB applies to long strings (liblzf's format)."""
    out = bytearray()
    index = 0
    while index < len(data):
        control = data[index]
        index += 1
        if control < 32:  # a literal run of control + 1 bytes
            out += data[index:index + control + 1]
            index += control + 1
            continue
        length = control >> 5
        if length == 7:
            length += _byte(data, index)
            index += 1
        start = len(out) - ((control & 0x1F) << 8) - _byte(data, index) - 1
        index += 1
        if start < 0:
            raise PayloadError("LZF back reference before the start")
        for _copied in range(length + 2):  # byte by byte: the reference may overlap what it writes
            out.append(out[start])
            start += 1
    if len(out) != size:
        raise PayloadError(f"LZF gave {len(out)} bytes, the payload says {size}")
    return bytes(out)


def _byte(data: bytes, index: int) -> int:
    if index >= len(data):
        raise PayloadError("LZF data ends inside a back reference")
    return data[index]
