# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import INCOMPLETE
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._repository.helpers import take


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
