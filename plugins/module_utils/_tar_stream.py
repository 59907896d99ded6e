# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tar stream of a files backup, without tarfile's per-byte and per-entry overheads.

Writing: pax_header() builds the header of an ordinary entry (ASCII names
that fit the ustar fields, ids and size in range) directly, the bytes
tarfile.TarInfo.tobuf(PAX_FORMAT) makes for it: an extended header with the
mtime in full precision, then the ustar header. Anything else goes through
tobuf. The archive format is unchanged.

Reading: ArchiveReader is a forward-only file over the decompressed chunks.
tarfile, opened on it in mode "r:", parses the headers (its parser, every
check of it); members' data is handed out as views of the chunks it lies in
(views()), so no byte is copied between the decompressor and the write.
tarfile's stream mode ("r|") instead copies every byte three or four times
through its read-ahead buffer.
"""

from __future__ import annotations

import contextlib
import functools
import tarfile
import typing as t

READ_SIZE = 4 * 1024 * 1024  # at least a chunk of the repository's readers, which hand whole chunks over uncopied
_MAX_OCTAL = {8: 8 ** 7, 12: 8 ** 11}  # the largest value + 1 an octal field of this width holds
_NUL = b"\0"
_PAX_NAME = b"././@PaxHeader"
_TYPES = {tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE}


# ---------------------------------------------------------------- writing


def _ascii(text: str, length: int) -> bytes | None:
    """text as the NUL-padded field of a ustar header, or None when it needs a pax record (too long, not ASCII)."""
    if len(text) > length or not text.isascii():
        return None
    return text.encode("ascii") + _NUL * (length - len(text))


def _ustar(fields: t.Sequence[bytes]) -> bytes:
    """One ustar header block of the fields before and after the checksum, with the checksum filled in."""
    block = b"".join(fields)
    checksum = sum(block) + 8 * ord(" ")  # the checksum field counts as eight spaces
    return block[:148] + b"%06o\0 " % checksum + block[148:]


def _pax_record(keyword: str, value: str) -> bytes:
    """One "length keyword=value" record; the length counts its own digits."""
    body = f" {keyword}={value}\n".encode("utf-8")
    length = len(body)
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode("ascii") + body


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def pax_header(info: tarfile.TarInfo) -> bytes:
    """The header blocks of info in PAX format, as info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")."""
    name = info.name + "/" if info.type == tarfile.DIRTYPE and not info.name.endswith("/") else info.name
    mtime = info.mtime
    whole_mtime = round(mtime)
    fields = (_ascii(name, 100), _ascii(info.linkname, 100), _ascii(info.uname, 32), _ascii(info.gname, 32))
    if (info.type not in _TYPES or info.pax_headers or None in fields or not isinstance(mtime, float)
            or not 0 <= whole_mtime < _MAX_OCTAL[12] or not 0 <= info.size < _MAX_OCTAL[12]
            or not 0 <= info.uid < _MAX_OCTAL[8] or not 0 <= info.gid < _MAX_OCTAL[8]):
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    records = _pax_record("mtime", str(mtime))
    header = _ustar((
        t.cast(bytes, fields[0]), _octal(info.mode & 0o7777, 8), _octal(info.uid, 8), _octal(info.gid, 8),
        _octal(info.size, 12), _octal(whole_mtime, 12), info.type, t.cast(bytes, fields[1]), tarfile.POSIX_MAGIC,
        t.cast(bytes, fields[2]), t.cast(bytes, fields[3]), _NUL * 16, _NUL * 155 + _NUL * 12,
    ))
    return _extended_header(len(records)) + records + _NUL * (-len(records) % tarfile.BLOCKSIZE) + header


@functools.lru_cache(maxsize=64)
def _extended_header(size: int) -> bytes:
    """The header block of a pax extended header of size bytes of records (it differs only in the size)."""
    return _ustar((
        _PAX_NAME + _NUL * (100 - len(_PAX_NAME)), _octal(0, 8), _octal(0, 8), _octal(0, 8),
        _octal(size, 12), _octal(0, 12), tarfile.XHDTYPE, _NUL * 100, tarfile.POSIX_MAGIC,
        _NUL * 64, _NUL * 16, _NUL * 155 + _NUL * 12,
    ))


# ---------------------------------------------------------------- reading


class ArchiveReader:
    """A forward-only file over a stream that is read in pieces (source.read(size) -> bytes).

    tell, read and seek forward are what tarfile needs in mode "r:"; a seek
    backwards (which tarfile never makes on a well-formed archive) is a
    ReadError. views(size) hands out the next size bytes as views of the
    pieces they lie in: valid as long as the caller keeps them, since the
    pieces are immutable bytes.
    """

    def __init__(self, source: t.Any, read_size: int = READ_SIZE) -> None:
        self._source = source
        self._read_size = read_size
        self._view = memoryview(b"")  # the unread rest of the current piece
        self._offset = 0

    def _fill(self) -> bool:
        """Make the current piece non-empty; False at the end of the stream."""
        while not self._view:
            data = self._source.read(self._read_size)
            if not data:
                return False
            self._view = memoryview(data)
        return True

    def _take(self, size: int) -> memoryview:
        piece = self._view[:size]
        self._view = self._view[len(piece):]
        self._offset += len(piece)
        return piece

    def tell(self) -> int:
        return self._offset

    def read(self, size: int = -1) -> bytes:
        wanted = size if size is not None and size >= 0 else float("inf")
        parts = []
        while wanted and self._fill():
            piece = self._take(int(min(wanted, len(self._view))))
            wanted -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset + (self._offset if whence == 1 else 0)
        if whence not in (0, 1) or target < self._offset:
            raise tarfile.ReadError(f"the archive would have to be read backwards (to byte {target} from {self._offset})")
        while target > self._offset and self._fill():
            self._take(target - self._offset)
        return self._offset  # past the end it stays at the end, where the next read finds nothing

    def views(self, size: int) -> t.Iterator[memoryview]:
        """The next size bytes as views of the pieces they are in; ReadError when the stream ends first."""
        while size:
            if not self._fill():
                raise tarfile.ReadError("unexpected end of data")
            piece = self._take(size)
            size -= len(piece)
            yield piece

    def drain(self) -> None:
        """Read to the end of the stream, so that the source's checks of the whole of it (size, SHA-256) run."""
        while self._fill():
            self._take(len(self._view))


@contextlib.contextmanager
def open_archive(source: t.Any) -> t.Iterator[tuple[tarfile.TarFile, ArchiveReader]]:
    """A tar archive read from source, for next() and the members' data through the reader's views().

    Leaving the block normally reads the source to its end (the zero blocks
    after the last member and whatever the source checks there).
    """
    reader = ArchiveReader(source)
    with tarfile.open(fileobj=t.cast(t.IO[bytes], reader), mode="r:") as archive:
        yield archive, reader
    reader.drain()
