# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    ConfigurationError,
    EncryptionError,
    IntegrityError,
    RepositoryError,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository import crypto
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info, backup_prune, backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import (
    COMPLETE,
    FAILED_VERIFICATION,
    INCOMPLETE,
    INVALID,
    VERIFIED,
    Repository,
    skipped_backups_warning,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time


def take(repository, component="orders-db", data=b"rows " * 1000, **verification):
    with repository.new_backup(component, kind="test", method="raw") as backup:
        backup.add_bytes("data/rows.txt", data)
        backup.verification = verification
    return backup.backup_id


def test_backup_round_trip_with_verification_data(encrypted):
    backup_id = take(encrypted, tables={"orders": 3})
    entry = encrypted.select_backup("orders-db")
    assert entry.backup_id == backup_id and entry.status == COMPLETE
    assert encrypted.read_bytes(entry, "data/rows.txt") == b"rows " * 1000
    assert encrypted.verification_data(entry) == {"tables": {"orders": 3}}
    assert entry.manifest.encryption == {"format": "age", "recipients": encrypted.recipient_keys}


def test_files_are_0600_and_directories_0700(local_repository, tmp_path):
    take(local_repository())
    for directory, subdirectories, files in os.walk(tmp_path / "repo"):
        for name in subdirectories:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o700
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600


def test_a_failed_backup_leaves_nothing_visible_and_releases_the_lock(local_repository, tmp_path):
    repository = local_repository()
    with pytest.raises(RuntimeError, match="pg_dump died"):
        with repository.new_backup("orders-db", kind="test", method="raw") as backup:
            backup.add_bytes("data/first.txt", b"one")
            raise RuntimeError("pg_dump died")
    assert repository.list_backups("orders-db") == []
    assert not any(files for _directory, _subdirectories, files in os.walk(tmp_path / "repo"))
    take(repository)  # the lock was released


def test_a_backup_host_that_may_not_delete_keeps_the_first_error_and_says_what_stays(tmp_path):
    # A host whose IAM policy allows deleting only lock.json (docs/security.md): S3 would answer AccessDenied;
    # the backend below refuses the same way (moto does not enforce IAM policies).
    class NoDelete(LocalBackend):
        def delete(self, keys):
            if any(not key.endswith("lock.json") for key in keys):
                raise RepositoryError("S3 refused to delete 2 object(s): AccessDenied")
            super().delete(keys)

    repository = Repository(NoDelete(str(tmp_path / "repo")), lock_timeout=0)
    with pytest.raises(IntegrityError) as raised:
        with repository.new_backup("orders-db", kind="test", method="raw") as backup:
            backup.add_bytes("data/first.txt", b"one")
            raise IntegrityError("pg_dump wrote a damaged file")
    assert raised.value.message.startswith("pg_dump wrote a damaged file; the pieces of backup")
    assert "AccessDenied" in raised.value.message and "backup_prune removes" in raised.value.message
    assert [entry.status for entry in repository.list_backups("orders-db")] == [INCOMPLETE]
    take(repository)  # the lock was released


def test_backup_without_manifest_is_incomplete_and_never_selected(local_repository, tmp_path):
    repository = local_repository()
    kept = take(repository)
    broken = take(repository)
    os.unlink(tmp_path / "repo" / "orders-db" / broken / "manifest.json")
    statuses = {entry.backup_id: entry.status for entry in repository.list_backups("orders-db")}
    assert statuses == {kept: COMPLETE, broken: INCOMPLETE}
    assert repository.select_backup("orders-db").backup_id == kept
    with pytest.raises(BackupNotFound, match=rf"backup {broken} of component orders-db cannot be restored: it is incomplete"):
        repository.select_backup("orders-db", broken)


FIXTURES = Path(__file__).parent.parent / "fixtures"


def set_depends_on(root, component, backup_id, depends_on):
    path = root / component / backup_id / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["depends_on"] = depends_on
    path.write_text(json.dumps(manifest))


def test_a_bad_depends_on_lists_that_backup_as_invalid_and_the_others_as_before(local_repository, tmp_path):
    cases = json.loads((FIXTURES / "manifest_depends_on.json").read_text())["cases"]
    repository = local_repository()
    full = take(repository)
    incremental = take(repository)
    set_depends_on(tmp_path / "repo", "orders-db", incremental, full)  # a good dependency stays complete
    broken = {take(repository): case for case in cases}
    for backup_id, case in broken.items():
        set_depends_on(tmp_path / "repo", "orders-db", backup_id, case["depends_on"])

    entries = {entry.backup_id: entry for entry in repository.list_backups("orders-db")}
    assert entries[full].status == entries[incremental].status == COMPLETE
    for backup_id, case in broken.items():
        assert entries[backup_id].status == INVALID, case
        assert case["reason"] in entries[backup_id].error, (case, entries[backup_id].error)
    listed = {item["backup_id"]: item for item in backup_info(repository, component="orders-db")["backups"]}
    assert len(listed) == 2 + len(cases)
    assert all(listed[backup_id]["status"] == INVALID and listed[backup_id]["error"] for backup_id in broken)
    # Newer but invalid: a restore takes the newest valid one, and refuses an invalid one by id naming why.
    assert repository.select_backup("orders-db").backup_id == incremental
    unknown = next(backup_id for backup_id, case in broken.items() if case["depends_on"] == "20200101T000000Z-abc123")
    with pytest.raises(BackupNotFound, match=rf"backup {unknown} of component orders-db cannot be restored: it is invalid "
                                             r"\(it depends on backup 20200101T000000Z-abc123, which is not in"):
        repository.select_backup("orders-db", unknown)


def corrupt(tmp_path, backup_id, component="orders-db"):
    path = tmp_path / "repo" / component / backup_id / "data" / "rows.txt.zst"
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))


def test_a_restore_names_the_newer_backups_it_passes_over_and_why(local_repository, tmp_path):
    repository = local_repository()
    restored = take(repository)
    failed = take(repository)
    corrupt(tmp_path, failed)
    with pytest.raises(IntegrityError):
        backup_verify(repository, component="orders-db", backup_id=failed)
    invalid = take(repository)
    set_depends_on(tmp_path / "repo", "orders-db", invalid, "20200101T000000Z-abc123")
    time.sleep(1.1)  # without a manifest a backup's start is known to the second only (from its id)
    incomplete = take(repository)
    os.unlink(tmp_path / "repo" / "orders-db" / incomplete / "manifest.json")

    selection = repository.choose_backup("orders-db")
    assert selection.entry.backup_id == restored
    skipped = selection.skipped_backups()
    assert [(item["backup_id"], item["status"]) for item in skipped] == [
        (failed, FAILED_VERIFICATION), (invalid, INVALID), (incomplete, INCOMPLETE)]
    assert skipped[0]["reason"].startswith("failed verification at ")
    assert "data/rows.txt.zst failed its SHA-256 check" in skipped[0]["reason"]
    assert "depends on backup 20200101T000000Z-abc123" in skipped[1]["reason"]
    assert "no manifest" in skipped[2]["reason"]
    warning = skipped_backups_warning("orders-db", restored, skipped)
    assert warning.startswith(f"component orders-db: restoring backup {restored}, not the newer 3 backup(s) that cannot "
                              f"be restored: {failed} (failed_verification: failed verification at ")
    assert f"; {invalid} (invalid: " in warning and f"; {incomplete} (incomplete: " in warning
    # Asked for by id, or nothing newer that is broken: nothing is passed over, nothing to warn about.
    assert repository.choose_backup("orders-db", restored).skipped == []
    assert skipped_backups_warning("orders-db", restored, []) is None


def test_a_restore_of_one_method_ignores_broken_backups_of_another(local_repository, tmp_path):
    repository = local_repository()
    with repository.new_backup("orders-db", kind="test", method="logical") as backup:
        backup.add_bytes("data/rows.txt", b"rows")
    logical = backup.backup_id
    physical = take(repository)  # method raw
    corrupt(tmp_path, physical)
    with pytest.raises(IntegrityError):
        backup_verify(repository, component="orders-db", backup_id=physical)
    selection = repository.choose_backup("orders-db", accept=lambda entry: entry.manifest.method == "logical",
                                         wanted="test logical")
    assert selection.entry.backup_id == logical and selection.skipped == []
    with pytest.raises(BackupNotFound, match=rf"component orders-db has no complete test online backup in .*; the "
                                             rf"newest usable one, {logical}, is a test backup taken with method logical"):
        repository.choose_backup("orders-db", accept=lambda entry: entry.manifest.method == "online", wanted="test online")


def test_restore_prefers_the_newest_verified_and_refuses_a_failed_one(local_repository, tmp_path):
    repository = local_repository()
    older = take(repository)
    newer = take(repository)
    backup_verify(repository, component="orders-db", backup_id=older)
    assert repository.select_backup("orders-db").backup_id == older
    path = tmp_path / "repo" / "orders-db" / older / "data" / "rows.txt.zst"
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"backup {older} of component orders-db: file data/rows.txt.zst failed its SHA-256 check"):
        backup_verify(repository, component="orders-db", backup_id=older)
    statuses = {entry.backup_id: entry.status for entry in repository.list_backups("orders-db")}
    assert statuses == {older: FAILED_VERIFICATION, newer: COMPLETE}
    assert repository.select_backup("orders-db").backup_id == newer
    with pytest.raises(IntegrityError, match="failed verification"):
        repository.select_backup("orders-db", older)


def test_verify_without_identity_checks_the_stored_level(encrypted, local_repository, identity):
    take(encrypted)
    reader = local_repository()
    result = backup_verify(reader, component="orders-db")
    assert result["level"] == "stored" and result["verified"][0]["ok"]
    with pytest.raises(ConfigurationError, match="needs its secret key"):
        backup_verify(reader, component="orders-db", level="content")
    with pytest.raises(EncryptionError, match="give encryption_identity_file or encryption_identity"):
        reader.read_bytes(reader.select_backup("orders-db"), "data/rows.txt")


def test_verify_reports_changed_only_when_the_status_changes(local_repository):
    repository = local_repository()
    take(repository)
    assert backup_verify(repository, component="orders-db")["changed"]
    assert not backup_verify(repository, component="orders-db")["changed"]
    check = backup_verify(local_repository(), component="orders-db", check_mode=True)
    assert not check["changed"]  # already verified: nothing would change
    assert repository.list_backups("orders-db")[0].status == VERIFIED


def test_prune_check_mode_removes_nothing_then_apply_removes_the_same(local_repository):
    repository = local_repository()
    ids = [take(repository) for _count in range(4)]
    plan = backup_prune(repository, policy=RetentionPolicy(keep_last=2), check_mode=True)
    assert [item["backup_id"] for item in plan["removed"]] == ids[:2]
    assert len(repository.list_backups("orders-db")) == 4
    applied = backup_prune(repository, policy=RetentionPolicy(keep_last=2))
    assert applied["removed"] == plan["removed"] and applied["changed"]
    assert [entry.backup_id for entry in repository.list_backups("orders-db")] == ids[2:]
    assert not backup_prune(repository, policy=RetentionPolicy(keep_last=2))["changed"]


def test_identity_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "key.txt"
    path.write_text(str(x25519.Identity.generate()) + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match=rf"encryption_identity_file {path} has mode 0644, readable by group or others; .*chmod 600"):
        crypto.load_identity_file(str(path))
    os.chmod(path, 0o600)
    assert len(crypto.load_identity_file(str(path))) == 1


def test_bad_recipient_is_named():
    with pytest.raises(ConfigurationError, match=r"encryption_recipients entry 2 \('age1nope'\) is not an age public key"):
        open_repository({"repository": "/tmp/r", "encryption_recipients": [str(x25519.Identity.generate().to_public()), "age1nope"]})


def test_relative_repository_path_is_refused():
    with pytest.raises(ConfigurationError, match="must be an absolute path or an s3:// URL"):
        open_repository({"repository": "backups"})


def test_ages_and_recorded_times_follow_the_repository_clock(local_repository):
    repository = local_repository()
    moments = iter([datetime(2031, 2, 28, 23, 0, tzinfo=timezone.utc), datetime(2031, 2, 28, 23, 30, tzinfo=timezone.utc)])
    now = next(moments)
    repository.clock = lambda: now
    backup_id = take(repository)
    assert backup_id.startswith("20310228T230000Z-")
    assert repository.select_backup("orders-db").manifest.finished_at == "2031-02-28T23:00:00Z"
    now = next(moments)
    info = backup_info(repository, component="orders-db")
    assert info["components"]["orders-db"]["newest_age_s"] == 1800


class SteppingClock:
    """A clock standing still at a fixed time until a test moves it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def take_at(repository, clock, moment, method="raw", component="orders-db", kind="test"):
    """A backup started at `moment` whose data is consistent to that moment."""
    clock.moment = moment
    with repository.new_backup(component, kind=kind, method=method) as backup:
        backup.add_bytes("data/rows.txt", f"rows at {moment}".encode())
        backup.consistency_point = {"time": format_time(moment)}
    return backup.backup_id


AT_4 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
AT_5 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)
AT_6 = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def clocked(local_repository):
    clock = SteppingClock(AT_4)
    return local_repository(clock=clock), clock


def test_target_time_restores_the_newest_backup_consistent_at_or_before_it(clocked):
    repository, clock = clocked
    first, second, third = (take_at(repository, clock, moment) for moment in (AT_4, AT_5, AT_6))
    between = repository.choose_backup("orders-db", target_time=AT_5 + timedelta(minutes=30))
    # The backup after the target is expected to be left alone: it is not "passed over".
    assert between.entry.backup_id == second and between.skipped == []
    assert repository.choose_backup("orders-db", target_time=AT_4).entry.backup_id == first  # at the point itself
    assert repository.choose_backup("orders-db", target_time=AT_6 + timedelta(days=400)).entry.backup_id == third
    assert repository.choose_backup("orders-db").entry.backup_id == third


def test_target_time_before_every_backup_names_the_oldest_and_newest_points(clocked):
    repository, clock = clocked
    first, _second, third = (take_at(repository, clock, moment) for moment in (AT_4, AT_5, AT_6))
    with pytest.raises(BackupNotFound) as caught:
        repository.choose_backup("orders-db", target_time=AT_4 - timedelta(seconds=1))
    assert caught.value.message.startswith(
        "component orders-db has no complete backup in ")
    assert (f"consistent at or before target_time 2026-11-23T03:59:59Z; the oldest is 2026-11-23T04:00:00Z "
            f"(backup {first}), the newest 2026-11-23T06:00:00Z (backup {third}). Give a target_time at or after the "
            "oldest point, or a backup_id") in caught.value.message


def test_target_time_with_a_single_backup_says_it_is_the_only_one(clocked):
    repository, clock = clocked
    only = take_at(repository, clock, AT_5)
    with pytest.raises(BackupNotFound, match=rf"the oldest is 2026-11-23T05:00:00Z \(backup {only}\), the only one"):
        repository.choose_backup("orders-db", target_time=AT_4)


def test_target_time_without_any_backup_says_there_is_none(clocked):
    repository, _clock = clocked
    with pytest.raises(BackupNotFound, match="component orders-db has no complete backup in "):
        repository.choose_backup("orders-db", target_time=AT_5)


def test_target_time_prefers_the_newest_verified_backup_before_it(clocked):
    repository, clock = clocked
    first, _second, third = (take_at(repository, clock, moment) for moment in (AT_4, AT_5, AT_6))
    backup_verify(repository, component="orders-db", backup_id=first)
    backup_verify(repository, component="orders-db", backup_id=third)
    # Verified: the first and the third; only the first is early enough, and it wins over the complete second.
    assert repository.choose_backup("orders-db", target_time=AT_5).entry.backup_id == first


def test_target_time_warns_only_about_broken_backups_before_it(clocked, tmp_path):
    repository, clock = clocked
    first, broken, late = (take_at(repository, clock, moment) for moment in (AT_4, AT_5, AT_6))
    for backup_id in (broken, late):
        corrupt(tmp_path, backup_id)
        with pytest.raises(IntegrityError):
            backup_verify(repository, component="orders-db", backup_id=backup_id)
    selection = repository.choose_backup("orders-db", target_time=AT_5 + timedelta(minutes=1))
    assert selection.entry.backup_id == first
    assert [item["backup_id"] for item in selection.skipped_backups()] == [broken]
    # Without a target both broken backups are newer than the one restored.
    assert [item.backup_id for item in repository.choose_backup("orders-db").skipped] == [broken, late]


def test_target_time_keeps_to_the_method_asked_for(clocked):
    repository, clock = clocked
    online = take_at(repository, clock, AT_4, method="online")
    take_at(repository, clock, AT_5, method="rdb")
    take_at(repository, clock, AT_6, method="online")  # newer than the target: not taken
    assert repository.choose_backup("orders-db", target_time=AT_5, wanted="test online",
                                    accept=lambda entry: entry.manifest.method == "online").entry.backup_id == online
    with pytest.raises(BackupNotFound, match=r"no complete test rdb backup in .* consistent at or before target_time "
                                             r"2026-11-23T04:30:00Z; the oldest is 2026-11-23T05:00:00Z"):
        repository.choose_backup("orders-db", target_time=AT_4 + timedelta(minutes=30), wanted="test rdb",
                                 accept=lambda entry: entry.manifest.method == "rdb")


def test_select_backup_keeps_to_the_kind_and_method_asked_for(clocked, tmp_path):
    repository, clock = clocked
    rdb = take_at(repository, clock, AT_4, method="rdb")
    online = take_at(repository, clock, AT_5, method="online")
    files = take_at(repository, clock, AT_6, method="tar", kind="files")
    assert repository.select_backup("orders-db", kind="test", method="rdb").backup_id == rdb
    assert repository.select_backup("orders-db", kind="test").backup_id == online
    assert repository.select_backup("orders-db", method="rdb").backup_id == rdb
    assert repository.select_backup("orders-db").backup_id == files
    assert repository.select_backup("orders-db", kind="test", target_time=AT_4).backup_id == rdb
    with pytest.raises(BackupNotFound, match=rf"component orders-db has no complete test logical backup in .*; the "
                                             rf"newest usable one, {files}, is a files backup taken with method tar"):
        repository.select_backup("orders-db", kind="test", method="logical")
    with pytest.raises(BackupNotFound, match=r"no complete test online backup in .* consistent at or before "
                                             r"target_time 2026-11-23T04:30:00Z; the oldest is 2026-11-23T05:00:00Z"):
        repository.select_backup("orders-db", kind="test", method="online", target_time=AT_4 + timedelta(minutes=30))
    # A broken newer backup of another kind or method is not one this restore passes over.
    corrupt(tmp_path, files)
    with pytest.raises(IntegrityError):
        backup_verify(repository, component="orders-db", backup_id=files)
    assert repository.choose_backup("orders-db", kind="test", method="rdb").skipped == []
    assert [entry.backup_id for entry in repository.choose_backup("orders-db").skipped] == [files]


def test_a_backup_id_of_another_kind_or_method_is_refused_saying_what_it_is(clocked):
    repository, clock = clocked
    rdb = take_at(repository, clock, AT_4, method="rdb")
    files = take_at(repository, clock, AT_5, method="tar", kind="files")
    with pytest.raises(ConfigurationError, match=rf"^backup {rdb} of component orders-db is a test backup \(method rdb\), "
                                                 r"not a test online backup; restore it with method rdb, or give the "
                                                 r"backup_id of a test online backup \(backup_info lists"):
        repository.select_backup("orders-db", rdb, kind="test", method="online")
    with pytest.raises(ConfigurationError, match=rf"^backup {files} of component orders-db is a files backup "
                                                 r"\(method tar\), not a test backup; give the backup_id of a test "
                                                 r"backup \(backup_info lists each backup's kind and method\)$"):
        repository.select_backup("orders-db", files, kind="test")
    assert repository.select_backup("orders-db", rdb, kind="test", method="rdb").backup_id == rdb
    assert repository.select_backup("orders-db", files).backup_id == files  # nothing asked for: any kind


def test_backup_id_and_target_time_exclude_each_other(clocked):
    repository, clock = clocked
    backup_id = take_at(repository, clock, AT_4)
    with pytest.raises(ConfigurationError, match=rf"component orders-db: backup_id \({backup_id}\) and target_time "
                                                 r"\(2026-11-23T05:00:00Z\) exclude each other"):
        repository.choose_backup("orders-db", backup_id, target_time=AT_5)
