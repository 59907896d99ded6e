# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allow-list of an online backup's command stream: only SELECT and RESTORE get through; cutting a stream
into commands, adding REPLACE, counting and locating them."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._redis import commands as rc
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import restore_command, select_command
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import RawConnection
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._redis.helpers import STREAM, Collected, feed

WHAT = "backup 20261123T040000Z-k3f9ab of component cache: file data/keys.resp"
GOOD = (select_command(0) + restore_command(b"a", b"D1", 0) + restore_command(b"b", b"\x00" * 300, 17954000001)
        + select_command(3) + restore_command(b"c", b"D3", 0))


@pytest.mark.parametrize("step", [1, 5, 1 << 20])
def test_a_stream_of_select_and_restore_passes_unchanged(step):
    collected = Collected()
    feed(rc.CheckedCommands(collected, WHAT), GOOD, step)
    assert bytes(collected.data) == GOOD


@pytest.mark.parametrize("command", [
    [b"RESTORE", b"k", b"0", b"P"],
    [b"RESTORE", b"k", b"0", b"P", b"ABSTTL", b"REPLACE", b"IDLETIME", b"10", b"FREQ", b"5"],
    [b"restore", b"k", b"17954000001", b"P", b"absttl"],
    [b"SELECT", b"15"],
])
def test_every_form_of_restore_and_select_is_allowed(command):
    assert rc.refusal(command) is None


@pytest.mark.parametrize("command, reason", [
    ([b"CONFIG", b"SET", b"dir", b"/etc"], "no such command"),
    ([b"FLUSHALL"], "no such command"),
    ([b"EVAL", b"redis.call('flushall')", b"0"], "no such command"),
    ([b"SELECT", b"1", b"2"], "exactly one database"),
    ([b"SELECT", b"-1"], "exactly one database"),
    ([b"RESTORE", b"k", b"0"], "needs a key"),
    ([b"RESTORE", b"k", b"-5", b"P"], "TTL"),
    ([b"RESTORE", b"k", b"0", b"P", b"ABSTTL", b"ABSTTL"], "no option ABSTTL"),
    ([b"RESTORE", b"k", b"0", b"P", b"IDLETIME"], "takes a number"),
    ([b"RESTORE", b"k", b"0", b"P", b"KEEPTTL"], "no option KEEPTTL"),
    ([], "empty"),
])
def test_anything_else_is_refused_with_a_reason(command, reason):
    assert reason in rc.refusal(command)


@pytest.mark.parametrize("step", [1, 9, 1 << 20])
def test_a_forged_config_set_is_refused_naming_it_and_nothing_of_its_chunk_is_sent(step):
    forged = select_command(0) + restore_command(b"a", b"D1", 0) + packed([b"CONFIG", b"SET", b"dir", b"/tmp"])
    collected = Collected()
    with pytest.raises(IntegrityError) as raised:
        feed(rc.CheckedCommands(collected, WHAT), forged + restore_command(b"z", b"D", 0), step)
    message = raised.value.message
    assert "command 3 (after key b'a' of db0) is `CONFIG SET dir /tmp`" in message
    assert WHAT in message and "forged" in message and "the 2 commands before it were sent" in message
    assert b"CONFIG" not in collected.data and b"RESTORE\r\n$1\r\nz" not in collected.data


def test_a_check_without_a_sink_says_nothing_was_sent():
    forged = select_command(2) + packed([b"FLUSHALL"])
    with pytest.raises(IntegrityError, match=r"command 2 \(in db2\) is `FLUSHALL`.*nothing was sent to the server"):
        feed(rc.CheckedCommands(None, WHAT), forged, 1 << 20)


def test_replace_refuses_the_same_commands_and_keeps_an_existing_replace():
    with pytest.raises(IntegrityError, match="`SHUTDOWN NOSAVE`"):
        feed(rc.AddReplace(Collected(), WHAT), GOOD + packed([b"SHUTDOWN", b"NOSAVE"]), 1 << 20)
    collected = Collected()
    feed(rc.AddReplace(collected, WHAT), restore_command(b"a", b"D", 0, replace=True), 1 << 20)
    assert bytes(collected.data) == restore_command(b"a", b"D", 0, replace=True)


@pytest.mark.parametrize("stream", [
    b"*1\r\n$8\r\nFLUSHALL\r\n",
    b"*+1\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$1_0\r\nFLUSHALLxx\r\n",
    b"*1\r\n$-1\r\n",
    b"FLUSHALL\r\n",  # an inline command
    b"*5\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n0\r\n$1\r\nPxx$6\r\nABSTTL\r\n",  # a payload longer than it says
])
def test_a_stream_redis_could_read_differently_is_refused(stream):
    with pytest.raises(IntegrityError):
        feed(rc.CheckedCommands(Collected(), WHAT), stream, 1 << 20)


def test_a_restore_whose_ttl_is_not_a_number_takes_the_slow_path_and_is_refused():
    forged = restore_command(b"a", b"D1", 0).replace(b"$1\r\n0\r\n", b"$1\r\nx\r\n")
    with pytest.raises(IntegrityError, match="TTL"):
        feed(rc.CheckedCommands(Collected(), WHAT), forged, 1 << 20)


def test_the_reader_of_a_forged_stream_refuses_it_too():
    class Source:
        def __init__(self, data):
            self.data = data

        def read(self, size):
            data, self.data = self.data[:size], self.data[size:]
            return data

    with pytest.raises(IntegrityError, match="`DEBUG SLEEP 10`"):
        list(rc.CommandReader(Source(GOOD + packed([b"DEBUG", b"SLEEP", b"10"])), WHAT))


def packed(command):
    return RawConnection.pack([command])


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_replace_is_added_to_every_restore_whatever_the_chunks(step):
    collected = Collected()
    feed(rc.AddReplace(collected, "dump"), STREAM, step)
    assert bytes(collected.data) == (select_command(0) + restore_command(b"a\r\n$", b"*5\r\nRESTORE", 0, True)
                                     + restore_command(b"b", b"\x00" * 3000, 1795400000123, True)
                                     + select_command(3) + restore_command(b"c", b"D3", 0, True))


def test_a_truncated_or_foreign_command_stream_is_refused():
    with pytest.raises(IntegrityError, match="ends in the middle of a command"):
        feed(rc.AddReplace(Collected(), "backup B: file data/keys.resp"), STREAM[:-3], 1 << 20)
    with pytest.raises(IntegrityError, match="holds no command"):
        feed(rc.AddReplace(Collected(), "backup B: file data/keys.resp"), b"REDIS0010\r\n", 1 << 20)


def test_commands_are_located_by_their_position():
    def produce(sink):
        feed(sink, STREAM, 1 << 20)
    assert rc.locate_command(produce, 0, "dump") == (0, None)
    assert rc.locate_command(produce, 2, "dump") == (0, b"b")
    assert rc.locate_command(produce, 4, "dump") == (3, b"c")
    counter = rc.CommandCounter("dump")
    produce(counter)
    assert counter.keys == {"0": 2, "3": 1} and counter.commands == 5
