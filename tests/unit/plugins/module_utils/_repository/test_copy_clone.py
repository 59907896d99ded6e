# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_copy between local repositories on a file system that clones files (reflinks).

The test machines' file systems (ext4, tmpfs) refuse FICLONE, so a stand-in
plays the cloning file system: it gives the target the source's bytes
without copy_file_range, as a reflink would. That the refusal falls back to
the kernel copy is what every other local copy test runs through.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import local_writers
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

from .helpers import take

COMPONENT = "orders-db"
DATA = os.urandom(300_000)


def _repository(path) -> Repository:
    return Repository(LocalBackend(str(path)), compression_level=1, lock_timeout=0)


@pytest.fixture
def sides(tmp_path):
    return _repository(tmp_path / "source"), _repository(tmp_path / "destination")


def _cloning(damage: bool = False):
    """A stand-in FICLONE: the target gets the source's bytes (one flipped with damage) and no copy_file_range runs."""
    clones = []

    def clone(source_fd, target_fd):
        data = bytearray(os.pread(source_fd, os.fstat(source_fd).st_size, 0))
        if damage and data:
            data[len(data) // 2] ^= 0x01  # a fault of the file system's clone, not of the source
        os.pwrite(target_fd, bytes(data), 0)
        clones.append(len(data))
        return True

    return clone, clones


def _no_kernel_copy(*_arguments):
    raise AssertionError("a cloned file must not be copied as well")


def test_a_cloned_file_is_not_copied_and_is_checked_by_one_hash(sides, tmp_path, monkeypatch):
    source, destination = sides
    backup_id = take(source, data=DATA)
    clone, clones = _cloning()
    monkeypatch.setattr(local_writers, "clone_file", clone)
    monkeypatch.setattr(os, "copy_file_range", _no_kernel_copy)
    hashed = []
    real_digest = LocalBackend.stored_digest
    monkeypatch.setattr(LocalBackend, "stored_digest", lambda self, key: hashed.append(key) or real_digest(self, key))

    item = copy_backups(source, destination)["copied"][0]
    assert item["backup_id"] == backup_id and item["files_sent"] == 1 and clones
    assert hashed == []  # the clone's hash proved the source too
    assert destination.read_bytes(destination.select_backup(COMPONENT), "data/rows.txt") == DATA
    assert not [name for name in os.listdir(tmp_path / "destination" / COMPONENT / backup_id / "data")
                if ".partial-" in name]


def test_a_clone_that_differs_from_the_manifest_is_removed_and_reported(sides, tmp_path, monkeypatch):
    source, destination = sides
    backup_id = take(source, data=DATA)
    clone, _clones = _cloning(damage=True)
    monkeypatch.setattr(local_writers, "clone_file", clone)

    with pytest.raises(IntegrityError) as failure:
        copy_backups(source, destination)
    message = failure.value.message
    assert "data/rows.txt" in message and "differs from what was sent" in message and "run the copy again" in message
    assert "was not copied" not in message  # the source is intact, and was hashed to tell
    backup = tmp_path / "destination" / COMPONENT / backup_id
    assert not (backup / "manifest.json").exists()
    assert not backup.exists() or not [name for name in os.listdir(backup / "data") if "rows" in name]


def test_a_damaged_source_cloned_is_refused_and_named(sides, tmp_path, monkeypatch):
    source, destination = sides
    backup_id = take(source, data=DATA)
    record = source.find(COMPONENT, backup_id).manifest.file("data/rows.txt")
    stored = tmp_path / "source" / COMPONENT / backup_id / record.path
    data = bytearray(stored.read_bytes())
    data[len(data) // 3] ^= 0x01
    stored.write_bytes(bytes(data))
    clone, _clones = _cloning()
    monkeypatch.setattr(local_writers, "clone_file", clone)

    with pytest.raises(IntegrityError) as failure:
        copy_backups(source, destination)
    message = failure.value.message
    assert f"file {record.path} failed its SHA-256 check" in message and "was not copied" in message
    left = [name for _directory, _subdirectories, names in os.walk(tmp_path / "destination" / COMPONENT / backup_id)
            for name in names]
    assert left == []


def test_this_file_system_refusing_clones_falls_back_to_the_kernel_copy(tmp_path):
    source_path, target_path = tmp_path / "a", tmp_path / "b"
    source_path.write_bytes(b"x" * 10)
    with open(source_path, "rb") as source_file, open(target_path, "wb") as target_file:
        # An OSError here would be a refusal the copy does not fall back from: every local copy would fail.
        cloned = local_writers.clone_file(source_file.fileno(), target_file.fileno())
    assert target_path.read_bytes() == (b"x" * 10 if cloned else b"")
