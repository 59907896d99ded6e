# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fast tar header writer and the forward-only archive reader of files backups."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._tar_stream import ArchiveReader, open_archive, pax_header

FIELDS = ("name", "type", "mode", "uid", "gid", "size", "mtime", "linkname", "uname", "gname")


def entry(name, kind=tarfile.REGTYPE, **fields):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode, info.uid, info.gid, info.mtime, info.uname, info.gname = 0o100640, 1000, 1000, 1_765_000_000.123456, "app", "app"
    for key, value in fields.items():
        setattr(info, key, value)
    return info


ENTRIES = [
    entry("uploads/2026/report.pdf", size=123_456),
    entry("uploads", tarfile.DIRTYPE, mode=0o40750),
    entry("x" * 99, tarfile.DIRTYPE),  # 100 characters with the slash a directory name gets
    entry("x" * 100, tarfile.DIRTYPE),  # 101: a pax path record
    entry("current", tarfile.SYMTYPE, linkname="releases/42"),
    entry("copy", tarfile.LNKTYPE, linkname="uploads/2026/report.pdf"),
    entry("whole-second", mtime=1_765_000_000.0),
    entry("pre-1970", mtime=-5.5),
    entry("int-mtime", mtime=1_765_000_000),
    entry("ünïcode/naïve.txt", size=3),
    entry("bytes-\udcff", size=3),
    entry("long-owner", uname="u" * 33),
    entry("big-uid", uid=8 ** 7),
    entry("huge", size=8 ** 11 + 1),
    entry("setuid", mode=0o104755),
    entry("unnamed-owner", uname="", gname=""),
    entry("deep/" * 40 + "file", size=1),
]


def archive_of(headers):
    data = b"".join(headers) + b"\0" * (2 * tarfile.BLOCKSIZE)
    return data + b"\0" * (-len(data) % tarfile.RECORDSIZE)


def read_back(header):
    with tarfile.open(fileobj=io.BytesIO(header), mode="r:") as archive:
        member = archive.next()
    assert member is not None
    return {field: getattr(member, field) for field in FIELDS}


@pytest.mark.parametrize("info", ENTRIES, ids=lambda info: info.name[:30])
def test_headers_read_back_as_tarfile_reads_its_own(info):
    expected = read_back(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    assert read_back(pax_header(info)) == expected
    assert expected["name"] == info.name and expected["mtime"] == info.mtime


def test_ordinary_headers_are_the_bytes_tarfile_writes():
    """The fast path changes no byte of the archive for the entries a backup is made of."""
    for info in ENTRIES[:2] + ENTRIES[4:7] + [entry("a", mtime=0.5), entry("dir", tarfile.DIRTYPE, mtime=17.25)]:
        assert pax_header(info) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), info.name


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")
def test_gnu_tar_lists_an_archive_of_fast_headers_with_full_mtimes(tmp_path):
    info = entry("uploads/report.txt", size=5, mtime=1_765_000_000.5)
    path = tmp_path / "a.tar"
    path.write_bytes(archive_of([pax_header(info) + b"hello" + b"\0" * 507]))
    listed = subprocess.run(["tar", "--full-time", "-tvf", str(path)], check=True, capture_output=True, text=True,
                            env={"TZ": "UTC", "LC_ALL": "C", "PATH": os.environ.get("PATH", "")}).stdout.split()
    assert listed[2:] == ["5", "2025-12-06", "05:46:40.5", "uploads/report.txt"]


class Pieces:
    """A stream handed over in fixed pieces; records every read size."""

    def __init__(self, data, piece, end_error=None):
        self.data, self.piece, self.end_error, self.position = data, piece, end_error, 0

    def read(self, size):
        if self.position >= len(self.data) and self.end_error is not None:
            raise self.end_error
        chunk = self.data[self.position:self.position + min(size, self.piece)]
        self.position += len(chunk)
        return chunk


def test_views_cross_pieces_without_losing_or_repeating_a_byte():
    data = bytes(range(256)) * 40
    reader = ArchiveReader(Pieces(data, 1000))
    assert reader.read(10) == data[:10]
    assert b"".join(bytes(view) for view in reader.views(5000)) == data[10:5010]
    assert reader.seek(6000) == 6000 and reader.tell() == 6000
    assert reader.read(-1) == data[6000:]
    assert reader.read(1) == b""


def test_a_member_cut_short_and_a_seek_backwards_are_read_errors():
    reader = ArchiveReader(Pieces(b"abc", 2))
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        list(reader.views(4))
    with pytest.raises(tarfile.ReadError, match="backwards"):
        reader.seek(1)


def test_leaving_the_archive_reads_its_source_to_the_end_so_a_failed_final_check_is_raised():
    """The repository checks a stored file's SHA-256 at its end: the archive's last bytes must be read."""
    data = archive_of([pax_header(entry("a", size=0))])

    class ChecksumFailed(Exception):
        pass

    with pytest.raises(ChecksumFailed):
        with open_archive(Pieces(data, 700, end_error=ChecksumFailed())) as (archive, _reader):
            assert [member.name for member in archive] == ["a"]
