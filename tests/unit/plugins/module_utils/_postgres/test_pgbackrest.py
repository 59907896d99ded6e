# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pgbackrest info says per repository, and the choice of the repository to restore from and back up into."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._postgres import pgbackrest, physical_restore, rpo

# pgbackrest info --output=json of a stanza whose repo1 (the lost site's) is gone, as pgBackRest 2.45 prints it.
REPO1_LOST = {
    "name": "primary",
    "status": {"code": 4, "message": "different across repos"},
    "repo": [{"key": 1, "cipher": "none", "status": {"code": 1, "message": "missing stanza path"}},
             {"key": 2, "cipher": "none", "status": {"code": 0, "message": "ok"}}],
    "archive": [{"database": {"id": 1, "repo-key": 2}, "id": "15-1",
                 "min": "000000010000000000000001", "max": "000000010000000000000005"}],
    "backup": [{"label": "20261205-210933F", "database": {"id": 1, "repo-key": 2}, "type": "full",
                "timestamp": {"start": 1796504973, "stop": 1796504975}}],
}


def test_repositories_name_the_lost_one_and_the_newest_wal_of_the_survivor():
    found = pgbackrest.repositories(REPO1_LOST)
    assert [(item["repo"], item["state"], item["available"]) for item in found] == [(1, "missing", False), (2, "ok", True)]
    assert found[0]["newest_wal"] is None and found[0]["backups"] == 0
    assert found[1]["newest_wal"] == "000000010000000000000005" and found[1]["archive_id"] == "15-1"
    assert found[1]["newest_backup"] == "20261205-210933F" and found[1]["newest_backup_time"] == "2026-12-05T21:09:35Z"
    assert "repo1 missing (missing stanza path)" in pgbackrest.describe_repositories(found)


def test_restore_chooses_the_first_repository_holding_the_backup():
    found = pgbackrest.repositories(REPO1_LOST)
    labels = physical_restore.recorded_labels({"label": "20261205-210929F", "repos": [
        {"repo": 1, "label": "20261205-210929F"}, {"repo": 2, "label": "20261205-210933F"}]})
    assert pgbackrest.choose_repository(found, labels, None, "primary") == (2, "20261205-210933F")
    with pytest.raises(SourceUnavailable, match="repo1 is missing"):
        pgbackrest.choose_repository(found, labels, 1, "primary")
    with pytest.raises(ConfigurationError, match="pgbackrest_repo 3"):
        pgbackrest.choose_repository(found, labels, 3, "primary")
    # A record from before several repositories: its one label, wherever it is.
    assert physical_restore.recorded_labels({"label": "20261205-210933F"}) == {None: "20261205-210933F"}
    assert pgbackrest.choose_repository(found, {None: "20261205-210933F"}, None, "primary") == (2, "20261205-210933F")
    with pytest.raises(SourceUnavailable, match="holds no backup labelled 20261101-000000F"):
        pgbackrest.choose_repository(found, {None: "20261101-000000F"}, None, "primary")


def test_backup_into_every_repository_refuses_a_lost_one():
    found = pgbackrest.repositories(REPO1_LOST)
    with pytest.raises(SourceUnavailable, match=r"repo1 missing.*pgbackrest_repos to the reachable ones \(\[2\]\)"):
        physical_restore.backup_repositories(found, None, "primary", creating=False)
    assert physical_restore.backup_repositories(found, [2], "primary", creating=False) == [2]
    with pytest.raises(ConfigurationError, match="repo3"):
        physical_restore.backup_repositories(found, [3], "primary", creating=False)
    assert physical_restore.backup_repositories([], None, "primary", creating=True) == [None]


def test_pgbackrest_found_in_archive_command():
    command = "pgbackrest --config=/etc/pgbackrest/orders.conf --stanza=orders archive-push %p"
    assert rpo.pgbackrest_of(command) == ("/etc/pgbackrest/orders.conf", "orders")
    assert rpo.pgbackrest_of("/usr/bin/pgbackrest --stanza=main archive-push %p") == (None, "main")
    assert rpo.pgbackrest_of("cp %p /mnt/archive/%f") is None
    assert rpo.pgbackrest_of("false") is None
    assert rpo.wal_after("000000010000000000000006", "000000010000000000000005")
    assert not rpo.wal_after("000000010000000000000005", "000000010000000000000005")
