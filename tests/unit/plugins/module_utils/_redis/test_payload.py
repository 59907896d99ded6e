# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Comparing DUMP payloads by value: payloads taken from Redis 7.0 (fixtures),
the same sets and hashes in another order, and damaged payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._redis import payload

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "payloads.json").read_text())
TRAILER = bytes.fromhex("0a00") + bytes(8)  # RDB version 10, CRC64 (not read)


def encoded(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 64
    return bytes([len(data)]) + data


def hash_table_set(*members: str) -> bytes:
    return bytes([2, len(members)]) + b"".join(encoded(member) for member in members) + TRAILER


@pytest.mark.parametrize("case", FIXTURES["hash_table"], ids=lambda case: case["name"])
def test_reads_the_elements_redis_wrote(case):
    found = payload.elements(bytes.fromhex(case["payload"]))
    assert found == [tuple(item.encode() for item in element) for element in case["elements"]]


def test_a_set_in_another_order_is_the_same_value():
    assert payload.same_value(hash_table_set("a", "b", "c"), hash_table_set("c", "a", "b"))
    assert not payload.same_value(hash_table_set("a", "b", "c"), hash_table_set("a", "b", "d"))
    assert not payload.same_value(hash_table_set("a", "b"), hash_table_set("a", "b", "b"))


def test_other_types_compare_byte_for_byte():
    listpack = bytes.fromhex(FIXTURES["listpack"])
    assert payload.same_value(listpack, listpack)
    assert not payload.same_value(listpack, listpack[:-1] + b"\x00")
    assert not payload.same_value(hash_table_set("a"), listpack)


@pytest.mark.parametrize("damage", [
    lambda data: data[:5] + data[-10:],                 # ends inside an element
    lambda data: data[:-10] + b"\x01x" + data[-10:],    # bytes after the elements
    lambda data: bytes([2, 0xC4]) + data[2:],           # unknown string encoding where a length belongs
])
def test_a_payload_it_cannot_read_is_not_called_equal(damage):
    good = hash_table_set("a", "b", "c")
    bad = damage(good)
    with pytest.raises(payload.PayloadError):
        payload.elements(bad)
    assert not payload.same_value(bad, hash_table_set("c", "b", "a"))


def test_lzf_rejects_a_reference_before_the_start():
    with pytest.raises(payload.PayloadError, match="back reference"):
        payload.lzf_decompress(b"\x20\x05", 3)
