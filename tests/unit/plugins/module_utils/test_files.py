# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup / files_restore logic against a local repository, no Ansible."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _files
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import LocalBackend
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
    restored = _files.files_restore(repository, component=COMPONENT, path=str(target))
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
    again = _files.files_restore(repository, component=COMPONENT, path=str(target))
    assert not again["changed"]


def test_restore_swaps_and_keeps_previous(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    backup = _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    (source / "secret.key").write_text("changed\n")
    (source / "added").write_text("new\n")
    plan = _files.files_restore(repository, component=COMPONENT, path=str(source), check_mode=True, diff=True)
    assert plan["changed"] and plan["differences"]["changed"] == ["secret.key"] and plan["differences"]["extra"] == ["added"]
    assert (source / "added").exists()
    result = _files.files_restore(repository, component=COMPONENT, path=str(source))
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
    result = _files.files_restore(repository, component=COMPONENT, path=str(source), paths=["nested"], keep_previous=False)
    assert result["changed"] and result["previous_path"] is None
    assert (source / "nested" / "deeper" / "a.txt").read_text() == "alpha\n"
    assert (source / "secret.key").read_text() == "keep me\n"


def test_subset_must_be_in_the_backup(repository, tmp_path):
    source = make_tree(tmp_path / "src")
    _files.files_backup(repository, component=COMPONENT, path=str(source), exclude=[], check_mode=False)
    with pytest.raises(ConfigurationError, match="not in backup"):
        _files.files_restore(repository, component=COMPONENT, path=str(source), paths=["nope"])
    with pytest.raises(ConfigurationError, match="relative"):
        _files.files_restore(repository, component=COMPONENT, path=str(source), paths=["../etc"])


def hostile_backup(repository, member, data=b""):
    """Store an archive holding `member` as if files_backup had written it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        root = tarfile.TarInfo(".")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(root)
        archive.addfile(member, io.BytesIO(data) if data else None)
    listing = {".": {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0, "user": "root", "group": "root"}}
    with repository.new_backup(COMPONENT, kind="files", method="tar") as backup:
        backup.add_bytes(_files.ARCHIVE, buffer.getvalue())
        backup.verification = {"listing": listing}


def member(name, kind=tarfile.REGTYPE, linkname="", size=0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, linkname, size, 0o644
    return info


@pytest.mark.parametrize("hostile,why", [
    (member("/etc/evil", size=4), "absolute path"),
    (member("../evil", size=4), "OutsideDestination"),
    (member("escape", tarfile.SYMTYPE, "../../etc"), "LinkOutsideDestination"),
    (member("abs-link", tarfile.SYMTYPE, "/etc/passwd"), "AbsoluteLink"),
    (member("null", tarfile.CHRTYPE), "SpecialFile"),
    (member("hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link to an absolute path"),
])
def test_hostile_archives_are_refused_and_target_untouched(repository, tmp_path, hostile, why):
    target = tmp_path / "live"
    target.mkdir()
    (target / "keep").write_text("live data\n")
    hostile_backup(repository, hostile, b"evil" if hostile.size else b"")
    with pytest.raises(_files.UnsafeArchive, match=why):
        _files.files_restore(repository, component=COMPONENT, path=str(target))
    assert os.listdir(target) == ["keep"]
    assert sorted(os.listdir(tmp_path)) == ["live", "repo"]


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
        _files.files_restore(repository, component=COMPONENT, path=str(target))
    assert not target.exists()


def test_check_subset_and_exclude():
    assert _files.check_subset(["a/b", "a", "c/"]) == ["a", "c"]
    assert _files.excluded("x/y/cache", ["cache"]) and _files.excluded("a.tmp", ["*.tmp"])
    assert not _files.excluded("cachet", ["cache"])
    with pytest.raises(ConfigurationError):
        _files.check_target("relative/path")
