# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key dump of an online backup: format 2 commands as stored, format 1 records read back and turned into the
same commands."""

from __future__ import annotations

import io

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._redis.commands import CommandReader
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import (
    RecordReader,
    RecordsToCommands,
    restore_command,
    select_command,
)
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._redis.helpers import (
    STREAM,
    Collected,
    Trickle,
    feed,
    records_bytes,
)


def test_key_dump_round_trips_binary_keys_and_expiry_even_from_short_reads():
    records = [(0, b"k\x00\xff", b"\x00dump", -1), (5, b"session:1", b"v" * 5000, 1795400000123)]
    assert list(RecordReader(Trickle(records_bytes(records)), "dump")) == records


def test_truncated_key_dump_is_refused():
    data = records_bytes([(0, b"key", b"value", -1)])
    with pytest.raises(IntegrityError, match="ends in the middle of a record"):
        list(RecordReader(io.BytesIO(data[:-2]), "backup B: file data/keys.bin"))


def test_other_data_is_not_taken_for_a_key_dump():
    with pytest.raises(IntegrityError, match="is not a key dump"):
        RecordReader(io.BytesIO(b"REDIS0010..."), "backup B: file data/keys.bin")


def test_stored_commands_restore_with_absolute_expiry_and_replace_only_when_asked():
    assert restore_command(b"a", b"D1", 0) == b"*5\r\n$7\r\nRESTORE\r\n$1\r\na\r\n$1\r\n0\r\n$2\r\nD1\r\n$6\r\nABSTTL\r\n"
    assert restore_command(b"b", b"D2", 1795400000123, replace=True) == (
        b"*6\r\n$7\r\nRESTORE\r\n$1\r\nb\r\n$13\r\n1795400000123\r\n$2\r\nD2\r\n$6\r\nABSTTL\r\n$7\r\nREPLACE\r\n")
    assert select_command(12) == b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n"


@pytest.mark.parametrize("step", [3, 1 << 20])
def test_first_format_records_become_the_same_commands(step):
    records = [(0, b"a\r\n$", b"*5\r\nRESTORE", -1), (0, b"b", b"\x00" * 3000, 1795400000123), (3, b"c", b"D3", -1)]
    collected = Collected()
    feed(RecordsToCommands(collected, "dump", replace=False), records_bytes(records), step)
    assert bytes(collected.data) == STREAM
    # and read back as records from either format
    assert list(CommandReader(Trickle(STREAM), "dump")) == records


def test_a_truncated_first_format_dump_is_refused_while_turned_into_commands():
    with pytest.raises(IntegrityError, match="ends in the middle of a record"):
        feed(RecordsToCommands(Collected(), "dump", replace=False), records_bytes([(0, b"k", b"v", -1)])[:-1], 5)
