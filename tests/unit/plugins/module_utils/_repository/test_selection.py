# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError, IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import COMPLETE, FAILED_VERIFICATION, INCOMPLETE, INVALID
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import skipped_backups_warning
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._repository.helpers import corrupt, set_depends_on, take


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
