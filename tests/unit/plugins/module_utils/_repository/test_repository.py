# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError, EncryptionError
from ansible_collections.resilience.dr.plugins.module_utils._repository import crypto
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import COMPLETE, INCOMPLETE, INVALID, VERIFIED
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info, backup_prune, backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._repository.helpers import set_depends_on, take


def test_backup_round_trip_with_verification_data(encrypted):
    backup_id = take(encrypted, tables={"orders": 3})
    entry = encrypted.select_backup("orders-db")
    assert entry.backup_id == backup_id and entry.status == COMPLETE
    assert encrypted.read_bytes(entry, "data/rows.txt") == b"rows " * 1000
    assert encrypted.verification_data(entry) == {"tables": {"orders": 3}}
    assert entry.manifest.encryption == {"format": "age", "recipients": encrypted.recipient_keys}


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
