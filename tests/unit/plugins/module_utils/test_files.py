# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup / files_restore logic against a local repository, no Ansible.

Hostile archives are tested in test_safe_extract.py (the extractor) and, through the module as root, in
tests/integration/test_files_hostile.py."""

from __future__ import annotations

import glob
import hashlib
import io
import os
import tarfile
import threading

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _files, _files_restore
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    IntegrityError,
    SourceUnavailable,
    VerificationFailed,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

COMPONENT = "uploads"


@pytest.fixture
def repository(tmp_path):
    return Repository(LocalBackend(str(tmp_path / "repo")), compression_level=1, lock_timeout=0)


def make_tree(root):
    """A small tree with the awkward things a real one has."""
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "nested" / "deeper" / "a.txt").write_text("alpha\n")
    (root / "with space ü.txt").write_text("unicode\n")
    (root / "new\nline").write_text("newline in the name\n")
    secret = root / "secret.key"
    secret.write_text("s3cr3t\n")
    secret.chmod(0o600)
    (root / "link-to-a").symlink_to("nested/deeper/a.txt")
    os.link(root / "nested" / "deeper" / "a.txt", root / "hard-a")
    (root / "cache").mkdir()
    (root / "cache" / "tmp.bin").write_bytes(b"x" * 100)
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    os.utime(root / "secret.key", (1_600_000_000, 1_600_000_000))
    return root


def test_round_trip_keeps_content_modes_links_and_times(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    result = _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=["cache"], check_mode=False)
    assert result["files"] == 6 and result["excluded"] == 1
    target = tmp_path / "restored"
    restored = _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert restored["changed"] and restored["backup_id"] == result["backup_id"]
    assert (target / "nested" / "deeper" / "a.txt").read_text() == "alpha\n"
    assert (target / "new\nline").read_text() == "newline in the name\n"
    assert (target / "with space ü.txt").exists()
    assert oct((target / "secret.key").stat().st_mode & 0o777) == oct(0o600)
    assert int((target / "secret.key").stat().st_mtime) == 1_600_000_000
    assert os.readlink(target / "link-to-a") == "nested/deeper/a.txt"
    assert os.path.samefile(target / "hard-a", target / "nested" / "deeper" / "a.txt")
    assert (target / "empty").is_dir()
    assert not (target / "cache").exists()
    assert (target / "big.bin").read_bytes() == (source / "big.bin").read_bytes()
    again = _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert not again["changed"]


def test_restore_swaps_and_keeps_previous(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    backup = _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    (source / "secret.key").write_text("changed\n")
    (source / "added").write_text("new\n")
    plan = _files_restore.files_restore(repository, component=COMPONENT, path=str(source), check_mode=True, diff=True)
    assert plan["changed"] and plan["differences"]["changed"] == ["secret.key"] and plan["differences"]["extra"] == ["added"]
    assert (source / "added").exists()
    result = _files_restore.files_restore(repository, component=COMPONENT, path=str(source))
    assert result["atomic_swap"] is True
    assert (source / "secret.key").read_text() == "s3cr3t\n" and not (source / "added").exists()
    previous = tmp_path / f"src.pre-restore-{backup['backup_id']}"
    assert result["previous_path"] == str(previous)
    assert (previous / "added").read_text() == "new\n"
    assert not [name for name in os.listdir(tmp_path) if ".restore-" in name and name.startswith(".")]


def test_subset_restore_touches_only_the_subset(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    (source / "nested" / "deeper" / "a.txt").unlink()
    (source / "secret.key").write_text("keep me\n")
    result = _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["nested"], keep_previous=False)
    assert result["changed"] and result["previous_path"] is None
    assert (source / "nested" / "deeper" / "a.txt").read_text() == "alpha\n"
    assert (source / "secret.key").read_text() == "keep me\n"


def test_subset_must_be_in_the_backup(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    with pytest.raises(ConfigurationError, match="not in backup"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["nope"])
    with pytest.raises(ConfigurationError, match="relative"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["../etc"])


def test_verification_catches_a_listing_mismatch(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    archiver = _files.TreeArchiver(str(source))
    buffer = io.BytesIO()
    archiver.write(buffer)
    archiver.listing["secret.key"]["sha256"] = "0" * 64
    with repository.new_backup(COMPONENT, kind="files", method="tar") as backup:
        backup.add_bytes(_files.ARCHIVE, buffer.getvalue())
        backup.verification = {"listing": archiver.listing}
    target = tmp_path / "target"
    with pytest.raises(VerificationFailed, match="secret.key"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert not target.exists()


def test_check_subset_and_exclude():
    assert _files.check_subset(["a/b", "a", "c/"]) == ["a", "c"]
    assert _files.excluded("x/y/cache", ["cache"]) and _files.excluded("a.tmp", ["*.tmp"])
    assert not _files.excluded("cachet", ["cache"])
    with pytest.raises(ConfigurationError):
        _files.check_target("relative/path")


def test_archive_is_the_same_whichever_way_and_buffer_size_it_is_produced(tmp_path):
    source = make_tree(tmp_path / "src")
    expected = io.BytesIO()
    _files.TreeArchiver(str(source), ["cache"]).write(expected)
    for size in (512, 4096 + 7, 1024 * 1024):
        archiver = _files.TreeArchiver(str(source), ["cache"], buffer_size=size)
        with archiver.chunks(depth=2) as chunks:
            produced = b"".join(bytes(chunk) for chunk in chunks)
        assert produced == expected.getvalue()
        assert archiver.files == 6 and archiver.excluded == 1
    with tarfile.open(fileobj=io.BytesIO(expected.getvalue())) as archive:
        members = {member.name: member for member in archive.getmembers()}
        linked = members["nested/deeper/a.txt"]  # hard-a comes first in the walk
        assert members["hard-a"].isreg() and linked.islnk() and linked.linkname == "hard-a"
        assert members["link-to-a"].issym() and members["link-to-a"].linkname == "nested/deeper/a.txt"
        assert members["secret.key"].mode == 0o600 and int(members["secret.key"].mtime) == 1_600_000_000
        assert archive.extractfile("big.bin").read() == (source / "big.bin").read_bytes()


def test_archive_chunks_reuse_at_most_depth_plus_two_buffers(tmp_path):
    source = make_tree(tmp_path / "src")
    archiver = _files.TreeArchiver(str(source), buffer_size=512)
    buffers = {}  # kept alive, so that a new buffer cannot take the id of a freed one
    with archiver.chunks(depth=2) as chunks:
        for chunk in chunks:
            buffers[id(chunk.obj)] = chunk.obj
    assert archiver.files == 7 and len(buffers) <= 4  # many chunks of 512 bytes, in the same few buffers


def test_leaving_the_archive_chunks_early_stops_the_archiving_thread(tmp_path):
    source = make_tree(tmp_path / "src")
    archiver = _files.TreeArchiver(str(source), buffer_size=512)
    with archiver.chunks(depth=2) as chunks:
        next(chunks)
    assert f"archive {source}" not in [thread.name for thread in threading.enumerate()]
    assert archiver.files < 7  # it stopped, it did not run to the end


def test_listing_digests_are_those_of_the_files(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=["cache"], check_mode=False)
    entry = repository.select_backup(COMPONENT)
    listing = repository.verification_data(entry)["listing"]
    for name in ("big.bin", "secret.key", "hard-a", "new\nline"):
        assert listing[name]["sha256"] == hashlib.sha256((source / name).read_bytes()).hexdigest()
    assert listing.pop("nested/deeper/a.txt").pop("link") == "hard-a"
    on_disk = _files.scan_tree(str(source), patterns=["cache"])
    on_disk.pop("nested/deeper/a.txt")
    assert listing == on_disk


def test_a_file_that_shrinks_while_read_fails_the_backup_and_leaves_nothing(repository, tmp_path, monkeypatch):
    source = make_tree(tmp_path / "src")
    real_lstat = os.lstat
    big = str(source / "big.bin")

    def lstat(path, *args, **kwargs):
        st = real_lstat(path, *args, **kwargs)
        if str(path) == big:  # as if it lost its last 100 bytes between the stat and the read
            values = list(st)
            values[6] += 100
            return os.stat_result(values)
        return st

    monkeypatch.setattr(_files.os, "lstat", lstat)
    with pytest.raises(SourceUnavailable, match="big.bin shrank while it was being backed up"):
        _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    monkeypatch.undo()
    assert repository.list_backups(COMPONENT) == []


def test_a_damaged_archive_is_refused_naming_it_and_the_target_untouched(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    stored = glob.glob(str(tmp_path / "repo" / COMPONENT / "*" / "files.tar.zst"))[0]
    with open(stored, "r+b") as handle:
        handle.seek(os.path.getsize(stored) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    target = tmp_path / "live"
    target.mkdir()
    (target / "keep").write_text("live data\n")
    with pytest.raises(IntegrityError, match="file files.tar.zst failed its SHA-256 check"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert os.listdir(target) == ["keep"]
    assert sorted(os.listdir(tmp_path)) == ["live", "repo", "src"]


def test_a_file_changed_in_staging_after_it_was_written_is_caught(repository, tmp_path, monkeypatch):
    """The digests taken while extracting count only for the file as written; anything else is read back."""
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    real_extract = _files_restore._extract

    def extract_then_damage(repository_, entry, staging, *args):
        written = real_extract(repository_, entry, staging, *args)
        with open(os.path.join(staging, "big.bin"), "ab") as handle:
            handle.write(b"appended after extraction")
        return written

    monkeypatch.setattr(_files_restore, "_extract", extract_then_damage)
    target = tmp_path / "target"
    with pytest.raises(VerificationFailed, match="big.bin"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert not target.exists()


def test_the_live_tree_is_hashed_only_where_its_content_decides_the_comparison(repository, tmp_path, monkeypatch):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    (source / "big.bin").write_bytes(b"damaged")  # another size: changed whatever its content
    (source / "added").write_text("new\n")  # not in the backup: extra whatever its content
    same_size = source / "nested" / "deeper" / "a.txt"
    stat_before = same_size.stat()
    same_size.write_text("ALPHA\n")  # same size and mtime: only its content tells
    os.utime(same_size, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    hashed = []
    digest = _files.file_digest

    def recording(path, *args, **kwargs):
        hashed.append(os.path.relpath(path, source))
        return digest(path, *args, **kwargs)

    monkeypatch.setattr(_files, "file_digest", recording)
    plan = _files_restore.files_restore(repository, component=COMPONENT, path=str(source), check_mode=True)
    assert plan["differences"] == {"missing": [], "changed": ["big.bin", "hard-a", "nested/deeper/a.txt"],
                                   "extra": ["added"]}
    assert "big.bin" not in hashed and "added" not in hashed
    assert "nested/deeper/a.txt" in hashed and "secret.key" in hashed
    # The same differences as a comparison that hashes every live file.
    listing = repository.verification_data(_files_restore.select_files_backup(repository, COMPONENT, None, None).entry)
    full = _files.compare(listing["listing"], _files.scan_tree(str(source)), check_owner=False)
    assert full == plan["differences"]
