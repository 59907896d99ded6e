# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis protocol (RESP2) spoken directly, for the bulk paths: a bare
connection that sends whole batches of commands (SCAN, DUMP of a backup) and
a stream that pushes a restore's commands as fast as the server takes them.
"""

from __future__ import annotations

import io
import socket
import threading
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget


class RedisReplyError(Exception):
    """An error reply (-ERR ...) inside a pipeline."""


class RawConnection:
    """A bare RESP2 connection for the bulk paths (DUMP, RESTORE).

    The Python client spends ~15 microseconds per command building and parsing
    replies; this one packs whole batches at once and parses only the reply
    types these commands give, which is what makes 100k+ keys/s possible.
    """

    def __init__(self, target: RedisTarget, db: int = 0) -> None:
        self.target = target
        try:
            sock = socket.create_connection((target.host, target.port), timeout=target.timeout)
            sock.settimeout(max(target.timeout, 60))
            if target.tls:
                import ssl  # pylint: disable=import-outside-toplevel

                context = ssl.create_default_context(cafile=target.ca_certs)
                if not target.validate_certs:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=target.host)
        except OSError as error:
            raise SourceUnavailable(f"Redis at {target.address}: cannot connect: {error}", server=target.address) from None
        self.sock = sock
        # What makefile("rb", buffering=...) builds, spelled out so the reader is known to have read1.
        self.reader = io.BufferedReader(sock.makefile("rb", buffering=0), buffer_size=1024 * 1024)
        if target.password:
            auth = [b"AUTH", target.user.encode(), target.password.encode()] if target.user else [
                b"AUTH", target.password.encode()]
            self.call("AUTH", auth)
        if db:
            self.call(f"SELECT {db}", [b"SELECT", b"%d" % db])

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass  # closing a connection that already broke

    @staticmethod
    def pack(commands: t.Iterable[t.Sequence[t.Any]]) -> bytes:
        parts: list[bytes] = []
        for command in commands:
            parts.append(b"*%d\r\n" % len(command))
            for argument in command:
                if not isinstance(argument, bytes):
                    argument = str(argument).encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(argument), argument))
        return b"".join(parts)

    def send(self, what: str, commands: t.Iterable[t.Sequence[t.Any]]) -> None:
        self.send_packed(what, self.pack(commands))

    def send_packed(self, what: str, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {error}",
                                    server=self.target.address) from None

    def read_reply(self) -> t.Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:
                raise OSError("the server closed the connection")
            return data[:-2]
        if kind == b":":
            return int(rest)
        if kind == b"-":
            return RedisReplyError(rest.decode("utf-8", "replace"))
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.read_reply() for _index in range(size)]
        raise OSError(f"unexpected reply {line[:20]!r}")

    def replies(self, what: str, count: int, fast: bytes | None = None) -> list[t.Any]:
        """count replies; with fast, a reply line equal to it is None (saves parsing thousands of +OK)."""
        try:
            if fast is None:
                return [self.read_reply() for _index in range(count)]
            answers: list[t.Any] = []
            readline = self.reader.readline
            for _index in range(count):
                line = readline()
                if line == fast:
                    answers.append(None)
                elif line.startswith(b"-"):
                    answers.append(RedisReplyError(line[1:-2].decode("utf-8", "replace")))
                else:
                    raise OSError(f"unexpected reply {line[:20]!r}")
            return answers
        except (OSError, ValueError) as error:
            raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {error}",
                                    server=self.target.address) from None

    def pipeline(self, what: str, commands: t.Sequence[t.Sequence[t.Any]]) -> list[t.Any]:
        """Send commands at once and return their replies; an error reply fails the whole batch."""
        self.send(what, commands)
        answers = self.replies(what, len(commands))
        for command, answer in zip(commands, answers):
            if isinstance(answer, RedisReplyError):
                raise SourceUnavailable(f"Redis at {self.target.address}: {what} failed: {answer}",
                                        server=self.target.address)
        return answers

    def call(self, what: str, command: t.Sequence[t.Any]) -> t.Any:
        return self.pipeline(what, [command])[0]


class _Stopped(Exception):
    """Stops sending once the server answered a command with an error."""


class RestoreStream:
    """Sends a RESP command stream to the server as fast as the server takes it.

    write(chunk) passes bytes straight to the socket; a thread reads and
    counts the replies meanwhile (every command answers +OK), remembering the
    first error reply and its position, after which writing stops. finish()
    sends PING and waits for its reply, so every command has been answered.
    """

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.connection = RawConnection(target)
        self.answered = 0  # +OK replies
        self.error: tuple[int, str] | None = None  # position among the replies, message
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._read_replies, name="redis replies", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise _Stopped()
        if self.failure is not None:
            self._raise_failure()
        self.connection.send_packed("RESTORE", data)
        return len(data)

    def _raise_failure(self) -> t.NoReturn:
        raise SourceUnavailable(f"Redis at {self.target.address}: RESTORE failed: {self.failure}",
                                server=self.target.address)

    def _read_replies(self) -> None:
        read = self.connection.reader.read1
        pending = b""
        errors = 0
        try:
            while True:
                data = read(1 << 18)
                if not data:
                    raise OSError("the server closed the connection")
                data = pending + data
                end = data.rfind(b"\n") + 1
                complete, pending = data[:end], data[end:]
                fast = complete.count(b"+OK\r\n")
                if fast * 5 == len(complete):
                    self.answered += fast
                    continue
                for line in complete.split(b"\r\n")[:-1]:
                    if line == b"+OK":
                        self.answered += 1
                    elif line == b"+PONG":
                        return
                    elif line.startswith(b"-"):
                        if self.error is None:
                            self.error = (self.answered + errors, line[1:].decode("utf-8", "replace"))
                        errors += 1
                    else:
                        raise OSError(f"unexpected reply {line[:20]!r}")
        except (OSError, ValueError) as error:
            self.failure = error

    def finish(self) -> int:
        """Wait until every command sent is answered; the number of +OK replies."""
        try:
            self.connection.send_packed("PING", b"*1\r\n$4\r\nPING\r\n")
        except SourceUnavailable:
            if self.failure is None:
                raise
        self._thread.join()
        if self.failure is not None:
            self._raise_failure()
        return self.answered

    def close(self) -> None:
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the reply thread if it still waits
        except OSError:
            pass  # already closed by the server
        self._thread.join()
        self.connection.close()


def stream_restore(target: RedisTarget, produce: t.Callable[[t.Any], None]) -> tuple[int, tuple[int, str] | None]:
    """Send what produce(sink) writes; (+OK replies, the first error reply and its position or None)."""
    stream = RestoreStream(target)
    try:
        try:
            produce(stream)
        except _Stopped:
            pass
        except DrError:
            if stream.error is None:
                raise
        answered = stream.finish()
    finally:
        stream.close()
    return answered, stream.error
