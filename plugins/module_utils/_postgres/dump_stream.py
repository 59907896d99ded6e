# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump's directory streamed into a backup while pg_dump writes it.

Each table's data file is stored as it grows (compressed, encrypted by the
backup) and its rows counted and hashed on the way; other files are stored
once pg_dump has closed them. Which files pg_dump still has open comes from
/proc (its process tree's file descriptors). Stored files are deleted, so the
temporary disk holds only what the repository has not taken yet; the table
of contents stays for `pg_restore --list`.
"""

from __future__ import annotations

import os
import re
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.resilience.dr.plugins.module_utils._postgres import verify

DUMP_DIRECTORY = "data"  # where the dump directory is in the backup
TOC_FILE = "toc.dat"
READ_SIZE = 1024 * 1024  # bytes read from a data file at a time
# A table's data file of pg_dump's directory format: <dump id>.dat.
DATA_FILE = re.compile(r"(\d+)\.dat")


def _direct_children(pid: int) -> list[int] | None:
    """The children of pid from /proc/<pid>/task/<tid>/children; None where the kernel has no such file."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # the process ended meanwhile
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except FileNotFoundError:
            if not os.path.isdir(f"/proc/{pid}/task/{task}"):
                continue  # the thread ended meanwhile
            return None
        except OSError:
            continue
    return found


def children(root: int) -> list[int]:
    """root and its descendants (pg_dump's parallel workers are forked children).

    Asked of the few processes of pg_dump's tree (the polling loop does this five times a second); only a
    kernel without the children files makes it read the parent of every process of the machine.
    """
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        direct = _direct_children(pid)
        if direct is None:
            return children_by_scan(root)
        found.append(pid)
        pending.extend(direct)
    return found


def children_by_scan(root: int) -> list[int]:
    """root and its descendants, from the parent of every process in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(parents.get(pid, []))
    return found


def _open_paths(pids: t.Iterable[int]) -> set[str]:
    paths = set()
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                paths.add(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
            except OSError:
                continue
    return paths


def dump_files(directory: str, pid: int | None) -> tuple[list[str], set[str]]:
    """(files in directory, the paths of them the process tree of pid has open).

    pg_dump opens each file of its directory once, writes it and closes it: a
    file listed before the open files are looked up and not open then is
    complete. With pid None (pg_dump has ended) nothing is open. Without /proc
    (not Linux) every file counts as open until pg_dump ends.
    """
    listed: list[str] = []
    for root, _dirs, files in os.walk(directory):
        listed.extend(os.path.join(root, name) for name in sorted(files))
    if pid is None or not listed:
        return listed, set()
    if not os.path.isdir("/proc/self/fd"):
        return listed, set(listed)
    return listed, _open_paths(children(pid))


def rows_end(tail: bytes, size: int) -> int | None:
    """Where the rows of a data file of `size` bytes end, from its last bytes: before the
    end-of-data line (a backslash and a dot), which only blank lines may follow; None otherwise."""
    stripped = tail.rstrip(b"\n")
    if not stripped.endswith(b"\\.") or (len(stripped) > 2 and stripped[-3:-2] != b"\n") or \
            (len(stripped) == 2 and len(tail) < size):
        return None
    return size - len(tail) + len(stripped) - 2


class _Stopped(Exception):
    """The backup failed elsewhere; a file being followed is abandoned (never reported)."""


class DataFileRows:
    """Counts and hashes the rows of a data file fed in pieces, holding back its last bytes until the
    end: only then is it known where the rows end (before the end-of-data line)."""

    HELD = 64

    def __init__(self) -> None:
        self.digest = verify.RowsDigest()
        self.size = 0
        self._held = bytearray()

    def add(self, buffer: bytearray, count: int) -> None:
        self.size += count
        if count >= self.HELD:
            self.digest.write(bytes(self._held))
            self.digest.add(buffer, count - self.HELD)
            self._held = bytearray(buffer[count - self.HELD:count])
        else:
            self._held += buffer[:count]
            if len(self._held) > self.HELD:
                self.digest.write(bytes(self._held[:-self.HELD]))
                del self._held[:-self.HELD]

    def result(self) -> tuple[int | None, str | None]:
        """(rows, digest), or (None, None) when the file does not end as a data file does."""
        end = rows_end(bytes(self._held), self.size)
        if end is None:
            return None, None
        self.digest.write(bytes(self._held[:end - (self.size - len(self._held))]))
        return self.digest.rows, self.digest.hexdigest()


class DumpUploader:
    """Stores the files of the dump directory in the backup, in parallel, deleting each once stored.

    A table's data file (<id>.dat) is followed while pg_dump writes it:
    compressed as it grows, its rows counted and hashed on the way (dumped:
    {file name: (rows, digest)}); it is complete once a look at pg_dump's open
    files (observe(), from the polling loop) finds it closed and the rest is
    read. Other files are stored once closed; the table of contents stays for
    `pg_restore --list`.
    """

    def __init__(self, backup: t.Any, directory: str, workers: int) -> None:
        self.backup = backup
        self.directory = directory
        # pg_dump writes up to `workers` data files at once; one more stores the small files meanwhile.
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers) + 1, thread_name_prefix="store")
        self.submitted: set[str] = set()
        self.futures: list[Future] = []
        self.dumped: dict[str, tuple[int | None, str | None]] = {}
        self._looked = threading.Condition()
        self._looks = 0
        self._open: set[str] = set()
        self._final = False
        self._stopping = False

    def observe(self, listed: t.Sequence[str], still_open: set[str], final: bool = False) -> None:
        """One look at the dump directory: start storing data files at once, other files once closed.

        final: pg_dump has ended, every file is complete.
        """
        with self._looked:
            self._looks += 1
            self._open = still_open
            self._final = final
            self._looked.notify_all()
        self.submit(path for path in listed if DATA_FILE.fullmatch(os.path.basename(path)) or path not in still_open)

    def submit(self, paths: t.Iterable[str]) -> None:
        for path in paths:
            if path not in self.submitted:
                self.submitted.add(path)
                self.futures.append(self.pool.submit(self._store, path))

    def _closed(self, path: str, after: int) -> bool:
        """Wait for a look taken after look number `after`; whether it found path closed."""
        with self._looked:
            while self._looks <= after and not (self._stopping or self._final):
                self._looked.wait()
            if self._stopping:
                raise _Stopped()
            return self._final or path not in self._open

    def _follow(self, handle: t.Any, path: str, rows: DataFileRows) -> t.Iterator[memoryview]:
        buffer = bytearray(READ_SIZE)
        closed = False
        while True:
            with self._looked:
                looks = self._looks
            count = handle.readinto(buffer)
            if count:
                rows.add(buffer, count)
                yield memoryview(buffer)[:count]
            elif closed:
                return
            else:
                # At the end of what is written so far: finished once pg_dump is seen to have closed
                # the file (everything it wrote is then in the file: read on to its end).
                closed = self._closed(path, looks)

    def _store(self, path: str) -> int:
        name = f"{DUMP_DIRECTORY}/{os.path.relpath(path, self.directory)}"
        base = os.path.basename(path)
        if DATA_FILE.fullmatch(base):
            rows = DataFileRows()
            with open(path, "rb", buffering=0) as handle:
                record = self.backup.add_chunks(name, self._follow(handle, path, rows))
            self.dumped[base] = rows.result()
        else:
            record = self.backup.add_file(name, path)
        if base != TOC_FILE:
            os.unlink(path)
        return record.content_size

    def check(self) -> None:
        """Raise the first error of a finished upload."""
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise t.cast(BaseException, future.exception())

    def finish(self) -> int:
        total = sum(future.result() for future in self.futures)
        self.pool.shutdown()
        return total

    def abandon(self) -> None:
        with self._looked:
            self._stopping = True
            self._looked.notify_all()
        for future in self.futures:
            future.cancel()
        self.pool.shutdown(wait=True)
