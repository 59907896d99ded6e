# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence sets: pieces collected with their time and SHA-256, checked again and stored encrypted in the
repository, verified like any backup, and left alone by the normal retention."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._evidence.collect import Collector, auth_failures, redact
from ansible_collections.resilience.dr.plugins.module_utils._evidence.store import store_evidence
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_prune, backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy

NOW = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def clock():
    return NOW


@pytest.fixture
def repository(tmp_path):
    identity = x25519.Identity.generate()
    return Repository(LocalBackend(str(tmp_path / "repo")), compression_level=1, lock_timeout=0, clock=clock,
                      recipients=[identity.to_public()], recipient_keys=[str(identity.to_public())],
                      identities=[identity])


def collected(tmp_path, check_mode=False):
    log = tmp_path / "api.log"
    log.write_text("GET / 200\nPOST /login 401\n")
    collector = Collector(str(tmp_path / "staging"), "orders-db", check_mode=check_mode, clock=clock, host="db1")
    collector.add_text("pg_stat_activity.csv", "pg_stat_activity", "db1:5432",
                       lambda: redact("taken,pid,usename\nnow,1,postgres host=db1 password=s3cret\n", ["s3cret"]))
    collector.add_file(str(log))
    return collector


def test_a_piece_is_written_private_with_its_collection_time_and_sha256(tmp_path):
    collector = collected(tmp_path)
    [sessions, log] = collector.result()["pieces"]
    assert sessions["name"] == "orders-db/pg_stat_activity.csv" and sessions["collected_at"] == "2031-02-03T04:05:06Z"
    assert (sessions["host"], sessions["source"]) == ("db1", "db1:5432")
    path = tmp_path / "staging" / "orders-db" / "pg_stat_activity.csv"
    assert "s3cret" not in path.read_text() and "password=********" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "staging").stat().st_mode) == 0o700
    assert log["what"] == "log_file" and log["source"] == str(tmp_path / "api.log") and len(log["sha256"]) == 64


def test_check_mode_lists_the_pieces_and_writes_nothing(tmp_path):
    result = collected(tmp_path, check_mode=True).result()
    assert [piece["what"] for piece in result["pieces"]] == ["pg_stat_activity", "log_file"]
    assert not result["changed"] and not (tmp_path / "staging").exists()


def test_only_refused_logins_are_kept_from_the_postgresql_log():
    log = ("2031-02-03 LOG:  connection received\n"
           "2031-02-03 FATAL:  password authentication failed for user \"shopfront\"\n"
           "2031-02-03 FATAL:  no pg_hba.conf entry for host \"10.0.0.9\"\n")
    assert auth_failures(log).splitlines() == log.splitlines()[1:]


def test_the_evidence_set_is_stored_encrypted_with_each_piece_recorded_and_verifies(tmp_path, repository):
    pieces = collected(tmp_path).result()["pieces"]
    preview = store_evidence(repository, component="security-evidence", directory=str(tmp_path / "staging"),
                             pieces=pieces, incident={"plan": "shopfront"}, check_mode=True)
    assert preview["backup_id"] is None and not (tmp_path / "repo" / "security-evidence").exists()

    stored = store_evidence(repository, component="security-evidence", directory=str(tmp_path / "staging"),
                            pieces=pieces, incident={"plan": "shopfront"})

    manifest = json.loads((tmp_path / "repo" / "security-evidence" / stored["backup_id"] / "manifest.json").read_text())
    assert manifest["kind"] == "evidence" and manifest["encryption"]["format"] == "age"
    assert manifest["extra"]["evidence"] == pieces and manifest["source"]["incident"] == {"plan": "shopfront"}
    assert all(record["path"].endswith(".zst.age") for record in manifest["files"])
    verified = backup_verify(repository, component="security-evidence", level="content")
    assert [(item["backup_id"], item["ok"]) for item in verified["verified"]] == [(stored["backup_id"], True)]


def test_a_piece_changed_after_collection_is_refused_and_nothing_is_stored(tmp_path, repository):
    pieces = collected(tmp_path).result()["pieces"]
    (tmp_path / "staging" / "orders-db" / "pg_stat_activity.csv").write_text("taken,pid,usename\n")
    with pytest.raises(IntegrityError, match="orders-db/pg_stat_activity.csv .* changed after it was collected"):
        store_evidence(repository, component="security-evidence", directory=str(tmp_path / "staging"),
                       pieces=pieces, incident={})
    assert not list((tmp_path / "repo").glob("security-evidence/*/manifest.json"))


def test_prune_leaves_evidence_sets_alone_unless_asked(tmp_path, repository):
    pieces = collected(tmp_path).result()["pieces"]
    first = store_evidence(repository, component="security-evidence", directory=str(tmp_path / "staging"),
                           pieces=pieces, incident={})["backup_id"]
    repository.clock = lambda: NOW + timedelta(seconds=5)
    store_evidence(repository, component="security-evidence", directory=str(tmp_path / "staging"), pieces=pieces,
                   incident={})

    kept = backup_prune(repository, policy=RetentionPolicy(keep_last=1))
    assert not kept["removed"] and len(kept["left_alone"]) == 2
    assert "include_evidence" in kept["left_alone"][0]["reason"]

    pruned = backup_prune(repository, policy=RetentionPolicy(keep_last=1), include_evidence=True)
    assert [item["backup_id"] for item in pruned["removed"]] == [first]


def test_an_unreadable_log_file_fails_naming_it_and_the_component(tmp_path):
    from ansible_collections.resilience.dr.plugins.module_utils._errors import SourceUnavailable

    collector = Collector(str(tmp_path / "staging"), "orders-db", check_mode=False, clock=clock, host="db1")
    with pytest.raises(SourceUnavailable, match=f"cannot read the log file {tmp_path}/missing.log on db1 for the evidence of orders-db"):
        collector.add_file(str(tmp_path / "missing.log"))


def test_the_staging_directory_is_made_with_its_parents_on_a_host_that_has_none(tmp_path):
    collector = Collector(str(tmp_path / "state" / "evidence" / "incident" / "collected"), "sessions", check_mode=False,
                          clock=clock, host="cache1")
    collector.add_text("client_list.txt", "client_list", "cache1:6379", lambda: "id=1 user=default\n")
    staged = tmp_path / "state" / "evidence" / "incident" / "collected"
    assert (staged / "sessions" / "client_list.txt").read_text() == "id=1 user=default\n"
    assert stat.S_IMODE(staged.stat().st_mode) == 0o700 and stat.S_IMODE((staged / "sessions").stat().st_mode) == 0o700
