# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import EncryptionError, IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository import streams
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import CHUNK_SIZE

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 17]


def write(data: bytes, recipients=()) -> tuple[bytes, streams.StreamStats]:
    stored = io.BytesIO()
    stats = streams.write_stream(io.BytesIO(data), stored, level=1, threads=0, recipients=recipients)
    return stored.getvalue(), stats


def read(stored: bytes, stats: streams.StreamStats, *, encrypted=False, identities=(), sink=None) -> bytes:
    sink = sink if sink is not None else io.BytesIO()
    streams.read_stream(
        io.BytesIO(stored), sink, size=stats.size, sha256=stats.sha256, compressed_sha256=stats.compressed_sha256,
        encrypted=encrypted, identities=identities, what="backup B of component C: file data.zst",
    )
    return sink.getvalue()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "age"])
def test_round_trip_is_bit_for_bit(size, encrypt, identity):
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    recipients = [identity.to_public()] if encrypt else []
    stored, stats = write(data, recipients)
    assert stats.content_size == size
    assert stats.size == len(stored) and stats.sha256 == hashlib.sha256(stored).hexdigest()
    assert read(stored, stats, encrypted=encrypt, identities=[identity]) == data


def test_flipped_byte_is_refused_naming_the_file():
    stored, stats = write(b"orders " * 100000)
    damaged = bytearray(stored)
    damaged[len(damaged) // 2] ^= 0x01
    with pytest.raises(IntegrityError, match=r"backup B of component C: file data.zst failed its SHA-256 check"):
        read(bytes(damaged), stats)


def test_truncated_file_is_refused():
    stored, stats = write(os.urandom(3 * CHUNK_SIZE))
    with pytest.raises(IntegrityError, match=r"has \d+ bytes where the manifest records \d+ \(truncated\?\)"):
        read(stored[:-10], stats)


def test_the_last_chunk_is_withheld_until_the_checksum_matched():
    """A consumer must never see the whole content of a file that fails its checksum."""
    data = os.urandom(4 * CHUNK_SIZE)
    stored, stats = write(data)
    damaged = stored[:-1] + bytes([stored[-1] ^ 0xFF])
    received = io.BytesIO()
    with pytest.raises(IntegrityError):
        read(damaged, stats, sink=received)
    assert len(received.getvalue()) < len(data)


def test_wrong_identity_says_the_backup_was_encrypted_to_other_keys(identity):
    stored, stats = write(b"secret rows", [identity.to_public()])
    with pytest.raises(EncryptionError, match="encrypted to other keys"):
        read(stored, stats, encrypted=True, identities=[x25519.Identity.generate()])


def test_encrypted_output_holds_no_plaintext(identity):
    marker = b"MARKER-4e1f-plaintext-must-not-appear"
    stored, _stats = write(marker * 1000, [identity.to_public()])
    assert marker not in stored and stored.startswith(b"age-encryption.org/v1")


class FullDisk:
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("size", [100, 3 * CHUNK_SIZE + 17], ids=["last-write", "mid-stream"])
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "age"])
def test_a_full_disk_is_reported_as_such_not_as_an_encryption_error(encrypt, size, identity):
    recipients = [identity.to_public()] if encrypt else []
    with pytest.raises(OSError, match="No space left"):
        streams.write_stream(io.BytesIO(b"x" * size), FullDisk(), level=1, threads=0, recipients=recipients)
    stored, stats = write(os.urandom(size), recipients)
    with pytest.raises(OSError, match="No space left"):
        read(stored, stats, encrypted=encrypt, identities=[identity], sink=FullDisk())


class CountingSink(io.BytesIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, data):
        self.writes += 1
        return super().write(data)


def test_decrypted_data_reaches_the_sink_in_whole_chunks_not_in_the_8_kib_pieces_age_hands_out(identity):
    data = os.urandom(4 * CHUNK_SIZE + 5)  # incompressible: the decompressor passes on what it is given
    stored, stats = write(data, [identity.to_public()])
    sink = CountingSink()
    assert read(stored, stats, encrypted=True, identities=[identity], sink=sink) == data
    assert sink.writes <= 2 * (len(data) // CHUNK_SIZE + 1)  # 8 KiB pieces would be over 500 writes


def test_flipped_byte_in_encrypted_data_is_refused_naming_the_file(identity):
    stored, stats = write(os.urandom(3 * CHUNK_SIZE), [identity.to_public()])
    damaged = bytearray(stored)
    damaged[len(damaged) // 2] ^= 0x40
    with pytest.raises(IntegrityError, match=r"file data.zst is damaged: a chunk of its encrypted data failed"):
        read(bytes(damaged), stats, encrypted=True, identities=[identity])


def write_in_chunks(data: bytes, recipients=(), size=64 * 1024) -> tuple[bytes, streams.StreamStats]:
    """write_chunks fed from one reused buffer, as a producer that recycles its memory does."""
    buffer = bytearray(size)

    def chunks():
        for start in range(0, len(data), size):
            piece = data[start:start + size]
            buffer[:len(piece)] = piece
            yield memoryview(buffer)[:len(piece)]

    stored = io.BytesIO()
    stats = streams.write_chunks(chunks(), stored, level=1, threads=0, recipients=recipients)
    return stored.getvalue(), stats


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "age"])
def test_chunks_round_trip_is_bit_for_bit_with_reused_buffers(size, encrypt, identity):
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    recipients = [identity.to_public()] if encrypt else []
    stored, stats = write_in_chunks(data, recipients)
    assert stats.content_size == size
    assert stats.size == len(stored) and stats.sha256 == hashlib.sha256(stored).hexdigest()
    if not encrypt:
        assert stats.compressed_sha256 == stats.sha256 and stats.compressed_size == stats.size
    assert read(stored, stats, encrypted=encrypt, identities=[identity]) == data


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "age"])
def test_chunks_source_and_sink_errors_are_reported_as_such(encrypt, identity):
    recipients = [identity.to_public()] if encrypt else []

    def failing():
        yield b"x" * 1000
        raise ValueError("/srv/uploads/a shrank while it was being backed up")

    with pytest.raises(ValueError, match="shrank"):
        streams.write_chunks(failing(), io.BytesIO(), level=1, threads=0, recipients=recipients)
    with pytest.raises(OSError, match="No space left"):
        streams.write_chunks([b"x" * 100], FullDisk(), level=1, threads=0, recipients=recipients)
