# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump's data files followed, counted, hashed and stored while pg_dump writes them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import types
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._postgres import dump_stream
from ansible_collections.resilience.dr.plugins.module_utils._postgres.verify import RowsDigest


@pytest.mark.parametrize("content, end", [
    (b"1\tx\n2\ty\n\\.\n\n\n", 8),        # pg_dump's layout: rows, the end-of-data line, blank lines
    (b"\\.\n\n\n", 0),                      # an empty table
    (b"1\tx\\.\n\\.\n", 6),                 # a row ending in an escaped dot is still a row
    (b"1\tx\n2\ty\n", None),                # no end-of-data line
    (b"1\tx\n2\ty\\.\n", None),             # the dot belongs to a row
])
def test_the_rows_of_a_data_file_end_before_the_end_of_data_line(content, end):
    assert dump_stream.rows_end(content[-64:], len(content)) == end


@pytest.mark.parametrize("piece", [1, 7, 64, 65, 1000])
def test_rows_of_a_data_file_read_while_it_grows_are_those_a_copy_hands_over(piece):
    rows = b"".join(b"%d\trow number %d with some text\\n\n" % (number, number) for number in range(40))
    content = rows + b"\\.\n\n\n"
    followed = dump_stream.DataFileRows()
    for start in range(0, len(content), piece):
        buffer = bytearray(content[start:start + piece])
        followed.add(buffer, len(buffer))
    expected = RowsDigest()
    expected.write(rows)
    assert followed.result() == (40, expected.hexdigest())
    truncated = dump_stream.DataFileRows()
    truncated.add(bytearray(rows), len(rows))
    assert truncated.result() == (None, None), "a file without its end-of-data line has no digest"


class _StoredBackup:
    """Stands in for a backup being written: keeps what each add_* stored."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add_chunks(self, name, chunks):
        self.files[name] = b"".join(bytes(chunk) for chunk in chunks)
        return types.SimpleNamespace(content_size=len(self.files[name]))

    def add_file(self, name, path):
        self.files[name] = Path(path).read_bytes()
        return types.SimpleNamespace(content_size=len(self.files[name]))


def test_a_data_file_is_stored_while_pg_dump_writes_it_and_only_complete(tmp_path):
    data_file, toc = tmp_path / "3339.dat", tmp_path / "toc.dat"
    rows = [b"%d\tsome text of row %d\n" % (number, number) for number in range(2000)]
    backup = _StoredBackup()
    uploader = dump_stream.DumpUploader(backup, str(tmp_path), workers=2)
    with data_file.open("wb", buffering=0) as writing:
        for start in range(0, len(rows), 500):
            writing.write(b"".join(rows[start:start + 500]))
            uploader.observe([str(data_file)], {str(data_file)})  # still open: followed, not finished
            time.sleep(0.05)
        writing.write(b"\\.\n\n\n")
    toc.write_bytes(b"table of contents")
    uploader.observe([str(data_file), str(toc)], set(), final=True)
    uploader.finish()
    expected = RowsDigest()
    expected.write(b"".join(rows))
    assert backup.files["data/3339.dat"] == b"".join(rows) + b"\\.\n\n\n"
    assert uploader.dumped["3339.dat"] == (2000, expected.hexdigest())
    assert not data_file.exists() and toc.exists(), "stored data files are deleted; the table of contents stays for pg_restore --list"


@pytest.fixture(name="process_tree")
def fixture_process_tree(tmp_path):
    """A shell whose grandchild holds a file of the dump directory open, as a pg_dump worker does."""
    held = tmp_path / "4001.dat"
    held.write_bytes(b"")
    shell = subprocess.Popen(["sh", "-c", f'(sleep 30 >> "{held}" & wait) & wait'])
    deadline = time.monotonic() + 10
    while str(held) not in dump_stream.dump_files(str(tmp_path), shell.pid)[1]:
        assert time.monotonic() < deadline, "the grandchild never opened the file"
        time.sleep(0.05)
    yield shell, tmp_path, held
    for pid in dump_stream.children_by_scan(shell.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shell.wait()


def test_a_file_open_in_a_grandchild_of_pg_dump_counts_as_open(process_tree):
    shell, directory, held = process_tree
    closed = directory / "4002.dat"
    closed.write_bytes(b"\\.\n")
    listed, still_open = dump_stream.dump_files(str(directory), shell.pid)
    assert sorted(listed) == sorted([str(held), str(closed)])
    assert str(held) in still_open and str(closed) not in still_open
    assert len(dump_stream.children(shell.pid)) == 3, "the shell, its subshell and the sleeping grandchild"


def test_the_process_tree_is_found_without_the_kernels_children_files(process_tree, monkeypatch):
    shell, directory, held = process_tree
    expected = sorted(dump_stream.children(shell.pid))
    monkeypatch.setattr(dump_stream, "_direct_children", lambda pid: None)
    assert sorted(dump_stream.children(shell.pid)) == expected
    assert str(held) in dump_stream.dump_files(str(directory), shell.pid)[1]
