# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readable streams fed by a producer thread (producer.py): through an OS pipe, or in memory."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._repository.producer import Producer, ProducerThread
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import CHUNK_SIZE


class PipeFromProducer:
    """A readable stream fed by a function that writes, run in a thread.

    For sources that push bytes (tarfile writing an archive) into a pipeline
    that pulls them. The producer's exception, if any, is re-raised by close().
    """

    def __init__(self, produce: t.Callable[[t.BinaryIO], object], name: str = "producer") -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb", buffering=CHUNK_SIZE)
        self._writer = os.fdopen(write_fd, "wb", buffering=CHUNK_SIZE)
        self._thread = ProducerThread(lambda: self._run(produce), name)
        self._thread.start()

    def _run(self, produce: t.Callable[[t.BinaryIO], object]) -> None:
        try:
            produce(self._writer)
        finally:
            try:
                self._writer.close()
            except OSError:
                pass  # the reader went away first (BrokenPipe); its own error explains why

    def read(self, size: int = -1) -> bytes:
        return self.reader.read(size)

    def close(self) -> None:
        self.reader.close()  # a producer still writing gets a broken pipe, and ends
        self._thread.join()
        error = self._thread.take_error(quiet=(BrokenPipeError,))
        if error is not None:
            raise error


class ChunkPipe:
    """Like PipeFromProducer, with the chunks handed over in memory instead of through an OS pipe.

    What the producer writes is queued by reference (copied only when it is
    not an immutable bytes object), at most `depth` chunks ahead of the
    reader: no copies through the kernel, no small pipe buffer to fill and
    drain. The producer's exception is raised by the read that reaches it, or
    by close().
    """

    def __init__(self, produce: t.Callable[[ChunkPipe], object], name: str = "producer", depth: int = 8) -> None:
        self._current = memoryview(b"")
        self._chunks: Producer[bytes] = Producer(lambda put: produce(self), name=name, depth=depth)
        self._chunks.start()

    # The producer's side.

    def write(self, data: t.Any) -> int:
        chunk = data if type(data) is bytes else bytes(data)  # pylint: disable=unidiomatic-typecheck
        if chunk:
            self._chunks.put(chunk)
        return len(chunk)

    # The reader's side.

    def _next(self) -> bool:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._current = memoryview(chunk)
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while self._next():
                parts.append(self._current.tobytes())
                self._current = memoryview(b"")
            return b"".join(parts)
        if size == 0 or not self._next():
            return b""
        current = self._current
        if len(current) <= size:
            self._current = memoryview(b"")
            # A chunk read whole is handed on as the bytes object it is (the queue holds only bytes).
            whole = t.cast(bytes, current.obj)
            return whole if current.nbytes == len(whole) else current.tobytes()
        self._current = current[size:]
        return current[:size].tobytes()

    def readinto(self, buffer: t.Any) -> int:
        if not self._next():
            return 0
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size

    def close(self) -> None:
        """Stop the producer if it still runs (its next write fails) and raise its error if no read did."""
        error = self._chunks.stop()
        if error is not None:
            raise error
