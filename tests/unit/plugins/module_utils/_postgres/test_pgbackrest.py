# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pgbackrest info says per repository, and the choice of the repository to restore from."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._postgres import pgbackrest, physical_restore
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._postgres.helpers import REPO1_LOST


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


def test_pgbackrest_record():
    record = pgbackrest.backup_record({
        "label": "20261123-040000F", "type": "full", "prior": None,
        "timestamp": {"start": 1795406400, "stop": 1795406420},
        "lsn": {"start": "0/42000028", "stop": "0/43000088"},
        "archive": {"start": "000000010000000000000042", "stop": "000000010000000000000043"},
        "info": {"size": 171642821, "repository": {"delta": 25561354}},
    })
    assert record["label"] == "20261123-040000F" and record["stop_lsn"] == "0/43000088"
    assert record["start_time"] == "2026-11-23T04:00:00Z" and record["stop_time"] == "2026-11-23T04:00:20Z"
    assert record["repository_size"] == 25561354


def test_stanza_missing():
    assert pgbackrest.stanza_missing({"status": {"code": 1, "message": "missing stanza path"}})
    assert not pgbackrest.stanza_missing({"status": {"code": 0, "message": "ok"}})
