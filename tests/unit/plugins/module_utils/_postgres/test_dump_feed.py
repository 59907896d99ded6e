# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data files fed to pg_restore through FIFOs, with real FIFOs and a reader standing in for pg_restore."""

from __future__ import annotations

import fcntl
import stat
import threading
import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres import dump_feed, verify

ROWS = b"".join(b"%d\tnote %d\n" % (number, number) for number in range(20000))
CONTENT = ROWS + b"\\.\n\n"
SMALL = b"1\tfirst\n2\tsecond\n\\.\n\n"


def _digest(rows: bytes) -> str:
    digest = verify.RowsDigest()
    digest.write(rows)
    return digest.hexdigest()


def _repository(files: dict[str, bytes], fail: str = "") -> t.Callable[[str, t.Any], int]:
    """Stands in for Repository.read_file: writes each file in 64 KiB pieces; `fail` breaks off halfway."""
    def read_file(name: str, sink: t.Any) -> int:
        content = files[name]
        for start in range(0, len(content), 65536):
            if name == fail and start >= len(content) // 2:
                raise IntegrityError(f"backup B of component C: file {name}.zst.age is damaged")
            sink.write(content[start:start + 65536])
        return len(content)
    return read_file


class _Reader(threading.Thread):
    """Reads a FIFO to its end as pg_restore does, noting what the feeds had recorded when the end came."""

    def __init__(self, path: str, feeds: dump_feed.DataFeeds, stop_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.feeds = feeds
        self.stop_after = stop_after
        self.read = b""
        self.recorded_at_end: dict[str, t.Any] = {}
        self.errors_at_end: list[BaseException] = []
        self.pipe_size = 0

    def run(self) -> None:
        with open(self.path, "rb") as pipe:
            while self.stop_after is None or len(self.read) < self.stop_after:
                piece = pipe.read(65536)
                if not piece:
                    self.recorded_at_end = dict(self.feeds.loaded)
                    self.errors_at_end = list(self.feeds.errors)
                    return
                self.read += piece
                self.pipe_size = self.pipe_size or fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ)  # once the feed has widened it


@pytest.fixture
def work(tmp_path):
    (tmp_path / "data").mkdir()
    return tmp_path


def test_a_fed_file_is_what_the_reader_reads_and_its_digest_is_known_before_the_end(work):
    loaded: dict[str, t.Any] = {}
    feeds = dump_feed.DataFeeds(_repository({"data/3001.dat": CONTENT, "data/3002.dat": SMALL}), loaded)
    feeds.start(str(work), [("data/3001.dat", "3001"), ("data/3002.dat", "3002")])
    assert stat.S_ISFIFO((work / "data" / "3001.dat").stat().st_mode)
    assert stat.S_IMODE((work / "data" / "3001.dat").stat().st_mode) == 0o600

    # The reader opens the second file first: each feed waits for its own reader.
    readers = [_Reader(str(work / "data" / name), feeds) for name in ("3002.dat", "3001.dat")]
    for reader in readers:
        reader.start()
        reader.join(10)
    feeds.finish()
    feeds.release()

    assert readers[1].read == CONTENT
    assert readers[1].pipe_size == dump_feed.PIPE_BYTES, "the pipe is widened from the default 64 KiB"
    assert readers[1].recorded_at_end["3001"] == (20000, _digest(ROWS)), "known before pg_restore reads the end"
    assert readers[0].read == SMALL and loaded["3002"] == (2, _digest(b"1\tfirst\n2\tsecond\n"))


def test_a_damaged_file_is_reported_before_the_reader_sees_its_early_end(work):
    feeds = dump_feed.DataFeeds(_repository({"data/3001.dat": CONTENT}, fail="data/3001.dat"), {})
    feeds.start(str(work), [("data/3001.dat", "3001")])
    reader = _Reader(str(work / "data" / "3001.dat"), feeds)
    reader.start()
    reader.join(10)

    assert len(reader.read) < len(CONTENT)
    assert reader.errors_at_end, "the restore learns of the damage before pg_restore can take the short file as whole"
    with pytest.raises(IntegrityError, match=r"file data/3001\.dat\.zst\.age is damaged"):
        feeds.check()
    assert "3001" not in feeds.loaded
    feeds.release()


def test_a_reader_that_stops_is_not_reported_as_a_damaged_file(work):
    larger_than_the_pipe = ROWS * 20 + b"\\.\n\n"
    feeds = dump_feed.DataFeeds(_repository({"data/3001.dat": larger_than_the_pipe}), {})
    feeds.start(str(work), [("data/3001.dat", "3001")])
    reader = _Reader(str(work / "data" / "3001.dat"), feeds, stop_after=65536)
    reader.start()
    reader.join(10)
    feeds.release(timeout=10)

    assert not any(feed.thread.is_alive() for feed in feeds.feeds)
    feeds.check()  # pg_restore's own error says why it stopped; the closed pipe is not a second error
    assert "3001" not in feeds.loaded


def test_release_ends_the_feeds_nobody_opened_and_finish_names_them(work):
    feeds = dump_feed.DataFeeds(_repository({"data/3001.dat": CONTENT, "data/3002.dat": CONTENT}), {})
    feeds.start(str(work), [("data/3001.dat", "3001"), ("data/3002.dat", "3002")])
    reader = _Reader(str(work / "data" / "3001.dat"), feeds)
    reader.start()
    reader.join(10)

    with pytest.raises(VerificationFailed, match=r"pg_restore ended without reading data/3002\.dat;"):
        feeds.finish()
    assert not any(feed.thread.is_alive() for feed in feeds.feeds), "no feed waits on after the restore"
    assert "3002" not in feeds.loaded


def test_a_filesystem_without_fifos_is_noticed(work, monkeypatch):
    assert dump_feed.fifos_work_in(str(work / "data"))
    assert list((work / "data").iterdir()) == [], "the probe is removed"

    # A filesystem that refuses FIFOs (some network and FUSE ones) cannot be mounted here without privileges.
    def refused(path: str, mode: int = 0o666) -> None:
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr(dump_feed.os, "mkfifo", refused)
    assert not dump_feed.fifos_work_in(str(work / "data"))
