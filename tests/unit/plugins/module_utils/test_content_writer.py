# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thread that hashes and writes restored files' contents: what it records, and what happens when it fails."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._content_writer import ContentWriter


def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def new_file(path, flags=os.O_WRONLY):
    return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)


def test_files_get_their_content_mode_mtime_and_recorded_digest(tmp_path):
    writer = ContentWriter(in_flight=10)  # less than one file: the writer must hand back room as it goes
    contents = {"a": b"first file " * 7, "b": b"", "c": bytes(range(256)) * 3}
    fds = {}
    for name, content in contents.items():
        fds[name] = new_file(tmp_path / name)
        writer.begin(fds[name], name)
        for start in range(0, len(content), 100):
            writer.write(memoryview(content)[start:start + 100])
        writer.end((None, 0o640, 1_600_000_000.5))
    writer.finish()
    for name, content in contents.items():
        st = os.stat(tmp_path / name)
        assert (tmp_path / name).read_bytes() == content
        assert (st.st_mode & 0o777, st.st_mtime) == (0o640, 1_600_000_000.5)
        assert writer.written[(st.st_dev, st.st_ino)] == (len(content), hashlib.sha256(content).hexdigest())
        assert not is_open(fds[name])


def test_a_failed_write_is_raised_naming_the_file_and_nothing_after_it_is_written(tmp_path):
    writer = ContentWriter()
    good = new_file(tmp_path / "good")
    writer.begin(good, "good")
    writer.write(memoryview(b"kept"))
    writer.end((None, 0o600, 0.0))
    unwritable = new_file(tmp_path / "full-disk", os.O_RDONLY)  # every write fails, as on a full disk
    writer.begin(unwritable, "uploads/full-disk")
    writer.write(memoryview(b"lost"))
    writer.end((None, 0o600, 0.0))
    later = new_file(tmp_path / "later")
    with pytest.raises(OSError):
        writer.begin(later, "later")  # may already raise here ...
        writer.write(memoryview(b"never"))
        writer.end((None, 0o600, 0.0))
        writer.finish()  # ... and at the latest here
    assert writer.failed_name == "uploads/full-disk"
    assert (tmp_path / "good").read_bytes() == b"kept"
    assert (tmp_path / "later").read_bytes() == b""
    writer.close()
    assert not any(is_open(fd) for fd in (good, unwritable, later))


def test_stopping_after_a_failure_elsewhere_closes_every_file_handed_over(tmp_path):
    writer = ContentWriter()
    fd = new_file(tmp_path / "half")
    writer.begin(fd, "half")
    writer.write(memoryview(b"x" * 1000))
    writer.close()  # the extracting thread failed before end()
    assert not is_open(fd)
