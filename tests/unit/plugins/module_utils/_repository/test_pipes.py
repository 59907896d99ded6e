# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import threading

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.pipes import ChunkPipe, PipeFromProducer
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import CHUNK_SIZE


def test_pipe_from_producer_raises_the_producers_error_in_close():
    def produce(sink):
        sink.write(b"partial")
        raise ValueError("tar failed on /srv/uploads/x")

    pipe = PipeFromProducer(produce)
    assert pipe.read() == b"partial"
    with pytest.raises(ValueError, match="tar failed"):
        pipe.close()


def test_chunk_pipe_hands_over_everything_and_raises_the_producers_error_in_read():
    data = os.urandom(3 * CHUNK_SIZE + 5)

    def produce(sink):
        for start in range(0, len(data), 100_000):
            sink.write(bytearray(data[start:start + 100_000]))  # mutable: must be copied

    pipe = ChunkPipe(produce)
    received = bytearray()
    while True:
        piece = pipe.read(70_000)
        if not piece:
            break
        assert len(piece) <= 70_000
        received += piece
    pipe.close()
    assert bytes(received) == data

    def failing(sink):
        sink.write(b"partial")
        raise IntegrityError("backup B of component C: file files.tar.zst failed its SHA-256 check")

    pipe = ChunkPipe(failing)
    assert pipe.read(7) == b"partial"
    with pytest.raises(IntegrityError, match="files.tar.zst failed"):
        pipe.read(10)
    pipe.close()  # reported once


def test_chunk_pipe_close_stops_a_producer_that_is_still_writing():
    written = []

    def endless(sink):
        while True:
            written.append(sink.write(b"y" * 1000))

    pipe = ChunkPipe(endless, name="endless producer", depth=2)
    assert pipe.read(10) == b"y" * 10
    pipe.close()  # the producer's BrokenPipeError is not an error of the reader
    assert "endless producer" not in [thread.name for thread in threading.enumerate()]
