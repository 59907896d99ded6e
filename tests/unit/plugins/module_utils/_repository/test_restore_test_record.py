# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""restore-test.json: written beside the backup a restore test restored, shown by backup_info per backup and as
the last test per component, replaced by the next test of the same backup, never written in check mode."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info, restore_test_record

AT_4 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
AT_5 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def take(repository, component="orders-db"):
    with repository.new_backup(component, kind="test", method="raw") as backup:
        backup.add_bytes("data/rows.txt", b"rows")
    return backup.backup_id


@pytest.fixture
def clocked(local_repository):
    clock = Clock(AT_4)
    return local_repository(clock=clock), clock


def test_a_passed_test_is_written_beside_the_backup_and_shown_by_backup_info(clocked, tmp_path):
    repository, clock = clocked
    backup_id = take(repository)
    clock.moment = AT_5
    result = restore_test_record(repository, component="orders-db", backup_id=backup_id,
                                 outcome={"ok": True, "duration_s": 12.5, "compared": {"tables": 3, "rows": 42}})
    assert result["changed"] and result["previous"] is None
    path = tmp_path / "repo" / "orders-db" / backup_id / "restore-test.json"
    written = json.loads(path.read_text())
    assert written["tested_at"] == "2026-11-23T05:00:00Z" and written["ok"] is True
    assert written["duration_s"] == 12.5 and written["compared"] == {"tables": 3, "rows": 42} and "@" in written["by"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = backup_info(repository, component="orders-db")
    assert info["backups"][0]["restore_test"] == written
    assert info["components"]["orders-db"]["last_restore_test"] == {
        "backup_id": backup_id, "tested_at": "2026-11-23T05:00:00Z", "ok": True, "duration_s": 12.5, "error": None}


def test_the_last_test_of_a_component_is_the_newest_whichever_backup_it_tested(clocked):
    repository, clock = clocked
    older = take(repository)
    clock.moment = AT_5
    newer = take(repository)
    restore_test_record(repository, component="orders-db", backup_id=newer, outcome={"ok": True, "duration_s": 1.0})
    clock.moment = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    restore_test_record(repository, component="orders-db", backup_id=older,
                        outcome={"ok": False, "duration_s": 2.0, "error": "file data/rows.txt.zst: checksum mismatch"})
    last = backup_info(repository, component="orders-db")["components"]["orders-db"]["last_restore_test"]
    assert last["backup_id"] == older and last["ok"] is False and "data/rows.txt.zst" in last["error"]


def test_a_second_test_of_the_same_backup_replaces_the_first_and_returns_it(clocked):
    repository, clock = clocked
    backup_id = take(repository)
    restore_test_record(repository, component="orders-db", backup_id=backup_id, outcome={"ok": False, "error": "x"})
    clock.moment = AT_5
    again = restore_test_record(repository, component="orders-db", backup_id=backup_id, outcome={"ok": True})
    assert again["previous"]["ok"] is False
    assert backup_info(repository, component="orders-db")["backups"][0]["restore_test"]["ok"] is True


def test_check_mode_writes_nothing(clocked, tmp_path):
    repository, _clock = clocked
    backup_id = take(repository)
    result = restore_test_record(repository, component="orders-db", backup_id=backup_id, outcome={"ok": True},
                                 check_mode=True)
    assert result["restore_test"] == {"ok": True}
    assert not (tmp_path / "repo" / "orders-db" / backup_id / "restore-test.json").exists()


def test_an_unknown_backup_or_outcome_is_refused(clocked):
    repository, _clock = clocked
    backup_id = take(repository)
    with pytest.raises(BackupNotFound, match="backup_info lists the backups"):
        restore_test_record(repository, component="orders-db", backup_id="20261123T040000Z-zzzzzz", outcome={"ok": True})
    with pytest.raises(ConfigurationError, match="unknown keys in the restore test outcome: password"):
        restore_test_record(repository, component="orders-db", backup_id=backup_id, outcome={"ok": True, "password": "x"})
    with pytest.raises(ConfigurationError, match="ok: true or false"):
        restore_test_record(repository, component="orders-db", backup_id=backup_id, outcome={"duration_s": 1.0})


def test_an_unreadable_record_counts_as_no_test(clocked, tmp_path):
    repository, _clock = clocked
    backup_id = take(repository)
    (tmp_path / "repo" / "orders-db" / backup_id / "restore-test.json").write_text("{not json")
    info = backup_info(repository, component="orders-db")
    assert "restore_test" not in info["backups"][0]
    assert info["components"]["orders-db"]["last_restore_test"] is None
