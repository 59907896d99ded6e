# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contents of extracted files, hashed and written in a thread of their own (files_restore).

The extractor checks each member and creates its file in the caller's
thread; ContentWriter then takes the open file: it hashes and writes the
content, gives the file its owner, mode and mtime, records the SHA-256 of
what it wrote and closes it, while the extractor goes on parsing the next
members. Both hashing and writing release the GIL, so the two threads (and
the one decompressing) use the cores at once.

Work is done in the order it was handed over. At most IN_FLIGHT bytes wait
at a time, so memory does not grow with a file's size. A failure (a full
disk) is raised by the next call of the extracting thread, naming the file;
after one, the writer writes nothing more and only closes what it is given.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._repository.producer import ProducerThread

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._files import Written

IN_FLIGHT = 32 * 1024 * 1024  # bytes handed over and not yet written

# The metadata end() gives a file: (uid, gid) or None to leave the owner, mode, mtime.
Finish = t.Tuple[t.Optional[t.Tuple[int, int]], int, float]


class ContentWriter:
    """begin(fd, name), write(data)..., end(metadata) for each file; finish() waits for all and raises a failure."""

    def __init__(self, in_flight: int = IN_FLIGHT) -> None:
        self.written: Written = {}
        self.failed_name = ""  # the file whose writing failed
        self._failure: OSError | None = None  # set by the writing thread, raised by the extracting one
        self._limit = in_flight
        self._waiting = 0  # bytes handed over and not yet written
        self._room = threading.Condition()
        self._jobs: queue.SimpleQueue[tuple[str, t.Any]] = queue.SimpleQueue()
        self._thread = ProducerThread(self._run, "write restored files")
        self._started = False
        self._stopping = False

    # ------------------------------------------------------------ the extracting thread

    def _put(self, kind: str, value: t.Any) -> None:
        self._raise_failure()
        if not self._started:
            self._thread.start()
            self._started = True
        self._jobs.put((kind, value))

    def begin(self, fd: int, name: str) -> None:
        """The open, empty file fd (a new file named name) is the writer's from now on: it closes it."""
        try:
            self._put("begin", (fd, name))
        except BaseException:
            os.close(fd)
            raise

    def write(self, data: memoryview) -> None:
        """More content of the current file; data must not change afterwards (views of immutable bytes)."""
        with self._room:
            while self._waiting and self._waiting + len(data) > self._limit and self._thread.is_alive():
                self._room.wait(0.5)
            self._waiting += len(data)
        self._put("write", data)

    def end(self, metadata: Finish) -> None:
        """The current file is complete: set its owner, mode and mtime, record its SHA-256, close it."""
        self._put("end", metadata)

    def finish(self) -> None:
        """Wait until everything handed over is written; raise what failed."""
        if self._started:
            self._jobs.put(("stop", None))
            self._thread.join()
            self._started = False
        self._raise_failure()

    def close(self) -> None:
        """Stop after a failure of the extracting thread: nothing more is written, every file handed over is closed."""
        self._stopping = True
        if self._started:
            self._jobs.put(("stop", None))
            self._thread.join()
            self._started = False

    def _raise_failure(self) -> None:
        error = self._thread.take_error() or self._failure  # an unexpected error of the thread first
        if error is not None:
            self._failure = None
            raise error

    # ------------------------------------------------------------ the writing thread

    def _run(self) -> None:
        fd: int | None = None
        name = ""
        digest = hashlib.sha256()
        size = 0
        try:
            while True:
                kind, value = self._jobs.get()
                if kind == "stop":
                    return
                if kind == "begin":
                    fd, name = value
                    digest, size = hashlib.sha256(), 0
                elif kind == "write":
                    with self._room:
                        self._waiting -= len(value)
                        self._room.notify()
                    if self._writing(fd):
                        digest.update(value)
                        size += len(value)
                        self._attempt(name, lambda: _write_all(t.cast(int, fd), value))
                elif fd is not None:  # end
                    if self._writing(fd):
                        self._attempt(name, lambda: self._complete(t.cast(int, fd), value, size, digest))
                    closing, fd = fd, None
                    os.close(closing)
        finally:
            if fd is not None:
                os.close(fd)

    def _writing(self, fd: int | None) -> bool:
        return fd is not None and self._failure is None and not self.failed_name and not self._stopping

    def _attempt(self, name: str, step: t.Callable[[], None]) -> None:
        try:
            step()
        except OSError as error:
            self.failed_name = name
            self._failure = error

    def _complete(self, fd: int, metadata: Finish, size: int, digest: t.Any) -> None:
        owner, mode, mtime = metadata
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
        st = os.fstat(fd)
        self.written[(st.st_dev, st.st_ino)] = (size, digest.hexdigest())


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]
