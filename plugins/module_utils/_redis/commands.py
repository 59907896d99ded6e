# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command stream of an online Redis backup (format 2, data/keys.resp).

The stream is sent to the server as it is stored, so it is also the way in
for anyone who can write to the repository: backups are encrypted to public
keys, not authenticated, and a forged stream could carry `CONFIG SET dir`,
`FLUSHALL` or `SHUTDOWN`. Every command is therefore parsed and checked
against what redis_backup writes, before it can reach the server:

    SELECT <database number>
    RESTORE <key> <ttl> <payload> [ABSTTL] [REPLACE] [IDLETIME <seconds>] [FREQ <frequency>]

(redis_backup writes `RESTORE key expire-at payload ABSTTL`; the options are
the ones RESTORE itself knows.) Anything else is refused with its position,
the key before it and its name. CheckedCommands does this while streaming;
the restore also runs it over the whole dump before the server is touched.
"""

from __future__ import annotations

import abc
import re
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import REPLACE

STORED_TAIL = b"$6\r\nABSTTL\r\n"
# A RESTORE as redis_backup stores it: the head up to the key's length, then from the end of the key up to the
# payload's length (the TTL's declared length and its digits), then after the payload _STORED_END.
_STORED_HEAD = re.compile(rb"\*5\r\n\$7\r\nRESTORE\r\n\$(\d{1,9})\r\n")
_STORED_MIDDLE = re.compile(rb"\r\n\$(\d{1,2})\r\n(\d{1,20})\r\n\$(\d{1,10})\r\n")
_STORED_END = b"\r\n" + STORED_TAIL
_TAIL_SIZE = len(_STORED_END)
ALLOWED = "SELECT <db> and RESTORE <key> <ttl> <payload> [ABSTTL] [REPLACE] [IDLETIME <n>] [FREQ <n>]"
# RESTORE's options and whether each takes a number.
RESTORE_OPTIONS = {b"ABSTTL": False, b"REPLACE": False, b"IDLETIME": True, b"FREQ": True}


def _number(buffer: t.Any, start: int, end: int, what: str) -> int:
    """A RESP length: ASCII digits only (int() would also take signs, blanks and underscores)."""
    text = bytes(buffer[start:end])
    if not text.isdigit():
        raise IntegrityError(f"{what} holds a malformed command; the backup is unusable")
    return int(text)


def parse_command(buffer: t.Any, position: int, what: str) -> tuple[int, int, list[bytes]] | None:
    """The RESP command (array of bulk strings) at position: (its end, where its arguments start, arguments).

    None when the buffer ends before the command does.
    """
    line_end = buffer.find(b"\r\n", position)
    if line_end < 0:
        return None
    if buffer[position:position + 1] != b"*":
        raise IntegrityError(f"{what} holds no command where one should start; the backup is unusable")
    count = _number(buffer, position + 1, line_end, what)
    head_end = cursor = line_end + 2
    arguments = []
    for _index in range(count):
        line_end = buffer.find(b"\r\n", cursor)
        if line_end < 0:
            return None
        if buffer[cursor:cursor + 1] != b"$":
            raise IntegrityError(f"{what} holds a malformed command; the backup is unusable")
        size = _number(buffer, cursor + 1, line_end, what)
        start = line_end + 2
        if start + size + 2 > len(buffer):
            return None
        if buffer[start + size:start + size + 2] != b"\r\n":
            raise IntegrityError(f"{what} holds a malformed command; the backup is unusable")
        arguments.append(bytes(buffer[start:start + size]))
        cursor = start + size + 2
    return cursor, head_end, arguments


def refusal(arguments: list[bytes]) -> str | None:
    """Why a command cannot be part of a backup's stream; None when it is one a restore sends."""
    if not arguments:
        return "an empty command"
    name = arguments[0].upper()
    if name == b"SELECT":
        if len(arguments) == 2 and arguments[1].isdigit() and len(arguments[1]) <= 5:
            return None
        return "SELECT takes exactly one database number"
    if name != b"RESTORE":
        return "a restore sends no such command"
    if len(arguments) < 4:
        return "RESTORE needs a key, a TTL and a payload"
    if not arguments[2].isdigit():
        return "the TTL of a RESTORE is a number of milliseconds"
    seen: set[bytes] = set()
    index = 4
    while index < len(arguments):
        option = arguments[index].upper()
        if option not in RESTORE_OPTIONS or option in seen:
            return f"RESTORE takes no option {_text(option, 30)} here"
        seen.add(option)
        if RESTORE_OPTIONS[option]:
            if index + 1 >= len(arguments) or not arguments[index + 1].isdigit():
                return f"RESTORE's option {option.decode()} takes a number"
            index += 1
        index += 1
    return None


def _text(value: bytes, limit: int) -> str:
    text = "".join(chr(byte) if 32 <= byte < 127 else "?" for byte in value[:limit])
    return text + ("..." if len(value) > limit else "")


def show(arguments: list[bytes]) -> str:
    """A command as an error message names it: its words, shortened (a RESTORE's payload left out)."""
    if arguments and arguments[0].upper() == b"RESTORE":
        arguments = arguments[:3] + [b"<payload>"] + arguments[4:]
    text = " ".join(_text(argument, 40) for argument in arguments)
    return text if len(text) <= 100 else text[:97] + "..."


class CommandSplitter(abc.ABC):
    """A sink that cuts a RESP command stream, fed in chunks of any size, into whole commands.

    handle(command bytes, head end, arguments) is called for each; whole(end)
    after each chunk, with where its whole commands end in the buffer (before
    they are dropped from it); close() checks nothing was left over.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.buffer = bytearray()

    @abc.abstractmethod
    def handle(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
        """What to do with one whole command (each subclass says)."""

    def take_fast(self, position: int) -> int:
        """Where a command at position ends when a subclass handled it without parsing (0: not handled)."""
        return 0

    def whole(self, end: int) -> None:
        """Called after each chunk, once its complete commands (self.buffer[:end]) were handled."""

    def write(self, data: bytes) -> int:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while True:
                end = self.take_fast(position)
                if end:
                    position = end
                    continue
                parsed = parse_command(buffer, position, self.what)
                if parsed is None:
                    break
                end, head_end, arguments = parsed
                self.handle(memoryview(buffer)[position:end], head_end - position, arguments)
                position = end
        except ValueError:
            raise IntegrityError(f"{self.what} holds a malformed command; the backup is unusable") from None
        self.whole(position)
        del buffer[:position]
        return len(data)

    def close(self) -> None:
        if self.buffer:
            raise IntegrityError(f"{self.what} ends in the middle of a command; the backup is unusable")


class CheckedCommands(CommandSplitter):
    """Checks every command against the allow-list and passes the whole ones on to sink, unchanged.

    With sink None it only checks (the pass over the dump before the server
    is touched). A refused command raises IntegrityError before any command
    of its chunk is passed on.
    """

    def __init__(self, sink: t.Any, what: str) -> None:
        super().__init__(what)
        self.sink = sink
        self.commands = 0  # checked so far
        self.db = 0
        self.key: bytes | None = None  # of the last RESTORE checked
        self._last_fast = -1  # where the last RESTORE taken by the fast path starts in the buffer
        self.replaced: list[bytes] | None = None  # AddReplace: the commands to send, REPLACE added

    def handle(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
        reason = refusal(arguments)
        if reason is not None:
            self._refuse(arguments, reason)
        self.commands += 1
        self._last_fast = -1
        if arguments[0].upper() == b"SELECT":
            self.db, self.key = int(arguments[1]), None
        else:
            self.key = arguments[1]
        self.send(command, head_end, arguments)

    def send(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
        """One checked command (passed on with the whole chunk in whole())."""

    def _refuse(self, arguments: list[bytes], reason: str) -> t.NoReturn:
        if self._last_fast >= 0:
            self._note_fast_key()
        where = f"after key {self.key!r} of db{self.db}" if self.key is not None else f"in db{self.db}"
        if self.sink is None:
            sent = "nothing was sent to the server"
        else:
            sent = (f"the {self.commands} commands before it were sent to the server (their keys may be restored), "
                    "it and nothing after it")
        raise IntegrityError(
            f"{self.what}: command {self.commands + 1} ({where}) is `{show(arguments)}`, refused: {reason}. "
            f"An online backup holds only {ALLOWED}; this one was forged or damaged by someone who can write to "
            f"the repository, and {sent}. Restore another backup, and find out who changed this one",
            command=show(arguments), position=self.commands + 1)

    def _note_fast_key(self) -> None:
        """The key of the last RESTORE the fast path took (looked up only when needed)."""
        parsed = parse_command(self.buffer, self._last_fast, self.what)
        if parsed is not None:
            self.key = parsed[2][1]
        self._last_fast = -1

    def take_fast(self, position: int) -> int:
        """The hot path: a run of RESTOREs as redis_backup stores them, checked by their shape alone.

        The shape is an allowed command: `*5`, RESTORE, a key, a TTL of digits
        (its length as declared), a payload, ABSTTL, every argument ending in
        CRLF. Returns where the run ends (0: no such command at position, or
        not complete yet); anything else is left to parse_command and handle.
        """
        buffer = self.buffer
        head, middle = _STORED_HEAD.match, _STORED_MIDDLE.match
        length = len(buffer)
        replaced = self.replaced
        start = position
        while True:
            found = head(buffer, position)
            if found is None:
                break
            found = middle(buffer, found.end() + int(found.group(1)))
            if found is None or len(found.group(2)) != int(found.group(1)):
                break
            end = found.end() + int(found.group(3)) + _TAIL_SIZE
            if end > length or buffer[end - _TAIL_SIZE:end] != _STORED_END:
                break
            if replaced is not None:
                replaced.append(b"*6%s%s" % (buffer[position + 2:end], REPLACE))
            self._last_fast = position
            self.commands += 1
            position = end
        return 0 if position == start else position

    def whole(self, end: int) -> None:
        if self._last_fast >= 0:
            self._note_fast_key()
        if self.sink is not None and end:
            self.sink.write(bytes(self.buffer[:end]))


class AddReplace(CheckedCommands):
    """Checks a format 2 stream and passes it on with REPLACE added to every RESTORE (replace: true)."""

    def __init__(self, sink: t.Any, what: str) -> None:
        super().__init__(sink, what)
        self.replaced: list[bytes] = []

    def send(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
        parts = self.replaced
        if arguments[0].upper() == b"RESTORE" and b"REPLACE" not in (option.upper() for option in arguments[4:]):
            parts.append(b"*%d\r\n%s%s" % (len(arguments) + 1, command[head_end:], REPLACE))
        else:
            parts.append(bytes(command))

    def whole(self, end: int) -> None:
        if self._last_fast >= 0:
            self._note_fast_key()
        if self.replaced:
            self.sink.write(b"".join(self.replaced))
            self.replaced = []


def locate_command(produce: t.Callable[[t.Any], None], index: int, what: str) -> tuple[int, bytes | None]:
    """(database, key or None for SELECT) of the command at index of the stream produce(sink) writes."""
    counter = CommandCounter(what, wanted=index)
    try:
        produce(counter)
    except _Found:
        pass
    if counter.found is None:
        raise IntegrityError(f"{what} holds {counter.commands} commands, fewer than the server answered")
    return counter.found


class CommandCounter(CommandSplitter):
    """Counts the commands of a stream and the RESTOREs per database; finds the one at an index."""

    def __init__(self, what: str, wanted: int = -1) -> None:
        super().__init__(what)
        self.wanted = wanted
        self.commands = 0
        self.db = 0
        self.keys: dict[str, int] = {}
        self.found: tuple[int, bytes | None] | None = None

    def handle(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
        name = arguments[0].upper() if arguments else b""
        if name == b"SELECT":
            self.db = int(arguments[1])
        if self.commands == self.wanted:
            self.found = (self.db, arguments[1] if name == b"RESTORE" else None)
            raise _Found()
        if name == b"RESTORE":
            self.keys[str(self.db)] = self.keys.get(str(self.db), 0) + 1
        self.commands += 1


class _Found(Exception):
    """Stops reading a stream once the command looked for is found."""


class CommandReader:
    """Reads a format 2 stream (pull): (db, key, payload, expire_at_ms or -1) per key."""

    def __init__(self, source: t.BinaryIO, what: str) -> None:
        self.source = source
        self.what = what

    def __iter__(self) -> t.Iterator[tuple[int, bytes, bytes, int]]:
        found: list[tuple[int, bytes, bytes, int]] = []
        state = {"db": 0}

        class Collect(CheckedCommands):
            def take_fast(self, position: int) -> int:
                return 0  # every key is taken apart here

            def send(self, command: t.Any, head_end: int, arguments: list[bytes]) -> None:
                if arguments[0].upper() == b"SELECT":
                    state["db"] = int(arguments[1])
                else:
                    expire_at = int(arguments[2])
                    found.append((state["db"], arguments[1], arguments[3], expire_at if expire_at > 0 else -1))

        collect = Collect(None, self.what)
        while True:
            data = self.source.read(1 << 20)
            if not data:
                break
            collect.write(data)
            yield from found
            found.clear()
        collect.close()
