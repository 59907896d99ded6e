# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore's guards around the extraction: the backup's kind, free space, live parents of paths that are
symlinks, swaps that fail half way, trees deeper than PATH_MAX. Local repository, no Ansible."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _content_writer, _files, _files_restore
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    ConfigurationError,
    RepositoryError,
    SourceUnavailable,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._safe_extract import InsufficientSpace

COMPONENT = "uploads"


@pytest.fixture
def repository(tmp_path):
    return Repository(LocalBackend(str(tmp_path / "repo")), compression_level=1, lock_timeout=0)


def make_tree(root):
    (root / "config" / "sites").mkdir(parents=True)
    (root / "config" / "sites" / "app.conf").write_text("server app\n")
    (root / "data.txt").write_text("backed up\n")
    return root


def fingerprint(root):
    """Every path below root with its content digest (or link target): what "unchanged" means here."""
    result = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                result[relative] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    result[relative] = hashlib.sha256(handle.read()).hexdigest()
            else:
                result[relative] = "dir"
    return result


def backed_up(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    backup = _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    return source, backup


def test_a_backup_of_another_kind_is_refused_naming_its_kind(repository, tmp_path):
    with repository.new_backup(COMPONENT, kind="redis", method="rdb") as backup:
        backup.add_bytes("dump.rdb", b"REDIS0011")
    target = tmp_path / "live"
    target.mkdir()
    (target / "keep").write_text("live\n")
    with pytest.raises(BackupNotFound, match=rf"component uploads has no complete files backup in .*; the newest usable "
                                             rf"one, {backup.backup_id}, is a redis backup taken with method rdb"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    with pytest.raises(ConfigurationError, match=rf"backup {backup.backup_id} of component uploads is a redis backup "
                                                 r"\(method rdb\), not a files backup"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target), backup_id=backup.backup_id)
    assert fingerprint(target) == {"keep": hashlib.sha256(b"live\n").hexdigest()}


def test_a_listing_larger_than_the_free_space_is_refused_before_extracting(repository, tmp_path, monkeypatch):
    source, _backup = backed_up(repository, tmp_path)
    statvfs = os.statvfs

    def nearly_full(path):  # a real statvfs with 1 free block: the file system cannot be filled in a unit test
        values = list(statvfs(path))
        values[4] = 1  # f_bavail
        return os.statvfs_result(values)

    monkeypatch.setattr(os, "statvfs", nearly_full)
    target = tmp_path / "target"
    with pytest.raises(InsufficientSpace, match=r"restoring needs about .* for 5 entries in .*\.target\.restore-.* "
                                                r"only 4\.0 KiB free"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(target))
    assert not target.exists()
    assert sorted(os.listdir(tmp_path)) == ["repo", "src"]


def test_a_disk_full_while_writing_a_file_fails_naming_it_and_changes_nothing(repository, tmp_path, monkeypatch):
    """Contents are written in a thread of their own; its failure still ends the restore, naming the file."""
    source, _backup = backed_up(repository, tmp_path)
    before = fingerprint(source)
    (source / "data.txt").write_text("changed since the backup\n")
    changed = fingerprint(source)

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_content_writer, "_write_all", disk_full)
    with pytest.raises(RepositoryError, match=r"extracting '(config/sites/app.conf|data.txt)' into .*\.src\.restore-.* "
                                              r"failed: .*No space left on device"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source))
    assert fingerprint(source) == changed != before
    assert sorted(os.listdir(tmp_path)) == ["repo", "src"]


def test_paths_refuses_a_live_parent_that_is_a_symlink(repository, tmp_path):
    source, _backup = backed_up(repository, tmp_path)
    elsewhere = make_tree(tmp_path / "elsewhere")
    (elsewhere / "config" / "sites" / "app.conf").write_text("not part of the target\n")
    before = fingerprint(elsewhere)
    os.rename(source / "config", tmp_path / "config.moved")
    os.symlink(elsewhere / "config", source / "config")
    with pytest.raises(ConfigurationError, match=r"paths entry config/sites/app.conf: .*/src/config is a symlink \(to "
                                                 r".*/elsewhere/config\); a restore of paths writes only below real"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["config/sites/app.conf"])
    assert fingerprint(elsewhere) == before


def test_paths_refuses_a_parent_swapped_for_a_symlink_after_the_plan(repository, tmp_path, monkeypatch):
    """The plan's check is repeated, without following links, at the swap: a link made in between is refused."""
    source, _backup = backed_up(repository, tmp_path)
    (source / "config" / "sites" / "app.conf").write_text("damaged\n")
    elsewhere = make_tree(tmp_path / "elsewhere")
    before = fingerprint(elsewhere)
    real_extract = _files_restore._extract

    def extract_then_swap_parent(*args):
        written = real_extract(*args)
        os.rename(source / "config", tmp_path / "config.moved")
        os.symlink(elsewhere / "config", source / "config")
        return written

    monkeypatch.setattr(_files_restore, "_extract", extract_then_swap_parent)
    with pytest.raises(ConfigurationError, match=r"/src/config is a symlink"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["config/sites/app.conf"])
    assert fingerprint(elsewhere) == before


def fail_moves_to_previous(monkeypatch):
    """Simulated fault (a real file system will not fail this rename on demand): every rename to the
    .pre-restore- path fails with EIO."""
    real_rename = os.rename

    def rename(source, destination, **kwargs):
        if ".pre-restore-" in os.fspath(destination):
            raise OSError(errno.EIO, os.strerror(errno.EIO), destination)
        return real_rename(source, destination, **kwargs)

    monkeypatch.setattr(_files_restore.os, "rename", rename)


def test_a_failed_rename_after_the_exchange_keeps_the_old_tree(repository, tmp_path, monkeypatch):
    source, backup = backed_up(repository, tmp_path)
    (source / "data.txt").write_text("changed after the backup\n")
    old = fingerprint(source)
    fail_moves_to_previous(monkeypatch)
    result = _files_restore.files_restore(repository, component=COMPONENT, path=str(source), keep_previous=False)
    staging = str(tmp_path / f".src.restore-{backup['backup_id']}")
    assert result["changed"] and result["atomic_swap"] is True
    assert result["previous_path"] == staging
    assert "could not be moved to" in result["warnings"][0] and staging in result["warnings"][0]
    assert fingerprint(staging) == old
    assert (source / "data.txt").read_text() == "backed up\n"


def test_a_failed_rename_after_the_exchange_keeps_the_old_entries_of_paths(repository, tmp_path, monkeypatch):
    source, backup = backed_up(repository, tmp_path)
    (source / "config" / "sites" / "app.conf").write_text("damaged\n")
    fail_moves_to_previous(monkeypatch)
    result = _files_restore.files_restore(repository, component=COMPONENT, path=str(source), paths=["config/sites"])
    staging = tmp_path / f".src.restore-{backup['backup_id']}"
    assert result["previous_path"] == str(staging) and result["warnings"]
    assert (staging / "config" / "sites" / "app.conf").read_text() == "damaged\n"
    assert (source / "config" / "sites" / "app.conf").read_text() == "server app\n"


def test_without_rename_exchange_a_failed_second_rename_puts_the_old_tree_back(repository, tmp_path, monkeypatch):
    """Simulated faults: no renameat2 (as on old kernels), and the rename of the restored tree into place fails."""
    source, backup = backed_up(repository, tmp_path)
    (source / "data.txt").write_text("changed after the backup\n")
    old = fingerprint(source)
    real_rename = os.rename
    staging = str(tmp_path / f".src.restore-{backup['backup_id']}")

    def rename(src, destination, **kwargs):
        if os.fspath(src) == staging:
            raise OSError(errno.EIO, os.strerror(errno.EIO), src)
        return real_rename(src, destination, **kwargs)

    monkeypatch.setattr(_files_restore, "exchange", lambda *args: False)
    monkeypatch.setattr(_files_restore.os, "rename", rename)
    expected = r"putting the restored content at .*/src failed .*the old content is back in place"
    with pytest.raises(_files_restore.SwapFailed, match=expected):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(source))
    assert fingerprint(source) == old
    assert sorted(os.listdir(tmp_path)) == ["repo", "src"]


def test_a_tree_deeper_than_path_max_fails_with_a_message_and_leaves_nothing(repository, tmp_path):
    """17 nested 247-character directories: extraction (by descriptors) manages, the check of the staged tree by
    path cannot; that is an error naming the path, not a traceback, and staging is removed."""
    members, path = [], ""
    for _depth in range(17):
        path = os.path.join(path, "d" * 247)
        member = tarfile.TarInfo(path)
        member.type, member.mode = tarfile.DIRTYPE, 0o755
        members.append(member)
    listing = {".": {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0}}
    listing.update({member.name: {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0} for member in members})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            archive.addfile(member)
    with repository.new_backup(COMPONENT, kind="files", method="tar") as backup:
        backup.add_bytes(_files.ARCHIVE, buffer.getvalue())
        backup.verification = {"listing": listing}
    with pytest.raises(SourceUnavailable, match=r"cannot read .*/\.live\.restore-.*/d+: File name too long"):
        _files_restore.files_restore(repository, component=COMPONENT, path=str(tmp_path / "live"))
    assert sorted(os.listdir(tmp_path)) == ["repo"]
