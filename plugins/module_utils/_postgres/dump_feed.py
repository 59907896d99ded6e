# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The large table data files of a dump, fed to pg_restore while they are read from the repository.

pg_restore reads each table's data file once, from start to end. A named
pipe (FIFO) in the data file's place lets it load the table while the file
is still being decrypted and decompressed, so the restore no longer waits
for the whole dump to be written to disk first. Each fed file has a thread
that opens its FIFO (which waits until pg_restore opens it to read), writes
the file's content into it, counting and hashing the rows on the way as the
backup did, and records (rows, digest) before it closes the FIFO: the digest
is known before pg_restore can read the end of the file and report the
table loaded.

A feed that fails (a damaged file) says so before it closes the FIFO, so the
restore reports that error, which names the file, rather than what
pg_restore makes of a file that ends early. Age authenticates each piece
before it is passed on, and the target database replaces nothing before the
restore is verified, as for files written to disk first.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres.dump_stream import DataFileRows

PIPE_BYTES = 1024 * 1024  # the most an unprivileged process may ask for (/proc/sys/fs/pipe-max-size)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux's value; the fcntl module names it from Python 3.10
RELEASE_TIMEOUT = 30.0  # seconds release() waits for the feeds to end
_RELEASE_WAIT = 0.05  # seconds between looks at the feeds being released


class HashingFile:
    """Writes a data file and counts and hashes its rows on the way, as the backup did."""

    def __init__(self, handle: t.BinaryIO, rows: DataFileRows) -> None:
        self.handle = handle
        self.rows = rows
        self.reader_gone = False

    def write(self, data: t.Any) -> int:
        piece = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        try:
            self.handle.write(piece)
        except BrokenPipeError:
            self.reader_gone = True
            raise
        self.rows.add(piece, len(piece))  # type: ignore[arg-type]  # reads it only, as a bytearray
        return len(piece)


class _Feed:
    def __init__(self, name: str, dump_id: str, path: str, run: t.Callable[[_Feed], None]) -> None:
        self.name = name
        self.dump_id = dump_id
        self.path = path
        self.opened = False
        self.thread = threading.Thread(target=run, args=(self,), name=f"feed {name}", daemon=True)


class DataFeeds:
    """FIFOs in place of the large data files, each fed from the repository once pg_restore opens it.

        feeds = DataFeeds(lambda name, sink: repository.read_file(entry, name, sink), loaded)
        feeds.start(work, [("data/3456.dat", "3456")])
        ...start pg_restore; while it runs: feeds.check()
        feeds.finish()     # after pg_restore succeeded: every file was read whole
        feeds.release()    # always, once pg_restore is stopped: no feed waits on

    A feed's error is raised by check() in the restoring thread. A feed
    writing to a pg_restore that stopped fails on the closed pipe; that is
    not reported, since pg_restore's own error says why it stopped.
    """

    def __init__(self, read_file: t.Callable[[str, t.Any], int], loaded: dict[str, tuple[int | None, str | None]]) -> None:
        self.read_file = read_file
        self.loaded = loaded
        self.feeds: list[_Feed] = []
        self.errors: list[BaseException] = []
        self.releasing = False

    def start(self, work: str, files: t.Iterable[tuple[str, str]]) -> None:
        """A FIFO and its feeding thread for each (name in the backup, dump id)."""
        for name, dump_id in files:
            feed = _Feed(name, dump_id, os.path.join(work, name), self._run)
            os.mkfifo(feed.path, 0o600)
            self.feeds.append(feed)
            feed.thread.start()

    def _run(self, feed: _Feed) -> None:
        try:
            with open(feed.path, "wb") as sink:  # waits until pg_restore, or release(), opens the FIFO
                if not self.releasing:
                    feed.opened = True
                    self._feed(feed, sink)
        except BrokenPipeError:  # the close's last write, to a pg_restore that stopped
            pass
        except OSError as error:
            self.errors.append(error)

    def _feed(self, feed: _Feed, sink: t.BinaryIO) -> None:
        _widen(sink)
        rows = DataFileRows()
        hashing = HashingFile(sink, rows)
        try:
            self.read_file(feed.name, hashing)
            sink.flush()
            self.loaded[feed.dump_id] = rows.result()
        except BaseException as error:  # handed to the restoring thread by check()
            if not hashing.reader_gone:
                self.errors.append(error)  # before the close lets pg_restore read an early end of the file

    def check(self) -> None:
        """Raises the error of a feed that failed, if one did."""
        if self.errors:
            raise self.errors[0]

    def finish(self) -> None:
        """After pg_restore succeeded: raises a feed's error, or names a file pg_restore did not read."""
        self.release()
        self.check()
        unread = [feed.name for feed in self.feeds if not feed.opened]
        if unread:
            raise VerificationFailed(f"pg_restore ended without reading {', '.join(unread)}; the data of these "
                                     "tables was not checked as loaded")

    def release(self, timeout: float = RELEASE_TIMEOUT) -> None:
        """Ends every feed: one still waiting for its reader is opened here and ends without writing."""
        self.releasing = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [feed for feed in self.feeds if feed.thread.is_alive()]
            if not waiting:
                return
            for feed in waiting:
                if not feed.opened:
                    _open_and_close(feed.path)
            time.sleep(_RELEASE_WAIT)
        # A feed still writing to a reader that lives on: its daemon thread ends with the process.


def fifos_work_in(directory: str) -> bool:
    """Whether the filesystem of directory holds FIFOs (some network and FUSE filesystems do not):
    without them, every file is written to disk before pg_restore starts."""
    probe = os.path.join(directory, ".fifo-probe")
    try:
        os.mkfifo(probe, 0o600)
    except OSError:
        return False
    os.unlink(probe)
    return True


def _widen(sink: t.BinaryIO) -> None:
    """Fewer, larger hand-overs to pg_restore than the default 64 KiB pipe allows."""
    try:
        fcntl.fcntl(sink.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # a lower pipe-max-size, or not Linux: the default size works, more slowly
        pass


def _open_and_close(path: str) -> None:
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except FileNotFoundError:  # the work directory is already gone; its feed then fails on its own
        pass
