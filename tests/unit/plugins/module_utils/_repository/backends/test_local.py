# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local backend's writer: nothing visible before commit, every byte checked, large streams written out early."""
from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import local_writers
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend


@pytest.mark.parametrize("expect", [False, True])
def test_a_large_stream_is_written_out_while_it_is_written_and_stored_whole(tmp_path, monkeypatch, expect):
    """Streams over FLUSH_EVERY are handed to the disk behind the writer; commit still checks and stores every byte."""
    monkeypatch.setattr(local_writers, "FLUSH_EVERY", 64 * 1024)
    flushed: list[int] = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda descriptor: flushed.append(descriptor) or real_fdatasync(descriptor))
    backend = LocalBackend(str(tmp_path))
    data = os.urandom(1024 * 1024)
    writer = backend.open_write("big")
    for start in range(0, len(data), 10_000):
        writer.write(data[start:start + 10_000])
    writer.commit((len(data), hashlib.sha256(data).hexdigest()) if expect else None)  # type: ignore[call-arg]
    assert flushed, "nothing was written out before commit"
    assert (tmp_path / "big").read_bytes() == data
    assert [path.name for path in tmp_path.iterdir()] == ["big"]


def test_a_written_out_stream_that_differs_from_what_was_expected_is_never_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(local_writers, "FLUSH_EVERY", 64 * 1024)
    backend = LocalBackend(str(tmp_path))
    data = os.urandom(512 * 1024)
    writer = backend.open_write("big")
    writer.write(data)
    with pytest.raises(IntegrityError, match="big"):
        writer.commit((len(data), hashlib.sha256(b"other").hexdigest()))  # type: ignore[call-arg]
    assert not list(tmp_path.iterdir())
