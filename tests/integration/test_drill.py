# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disaster drill (playbooks/drill.yml, `make drill`) for each kind of
disaster, size small: the recovered data matches the backed-up data, the
report exists, its RPO matches the heartbeat gap and its RTO the measured
recovery. After the corrupted data directory is rebuilt, the lab's primary
cluster must serve the rest of the suite as before: archiving, RPO exposure,
physical and logical backups, logical restores.

site_loss destroys the primary's storage, recovers everything on the
secondary (the primary's cluster by pgBackRest from repo2, from scratch and
by promoting the warm standby), rebuilds the primary and fails back; it
prints the RTO and RPO of both ways (pytest -s) and takes 3 to 6 minutes."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest

from .conftest import lab_ctl
from .lab_dns import answer, set_record
from .pg_fixtures import Pg, cleanup_databases, pg, unique  # noqa: F401  # pylint: disable=unused-import


def seconds_between(start: str, end: str) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def drill(ansible, disaster: str, reports: Path) -> dict:
    run = ansible.playbook("playbooks/drill.yml", {"disaster": disaster},
                           env={"DR_REPORT_DIR": str(reports), "DRILL_SIZE": "small"})
    assert run.ok, run.tail(120)
    found = sorted(reports.glob("*/drill.json"))
    assert found, f"the drill wrote no drill.json into {reports}"
    measured = json.loads(found[-1].read_text())
    report = json.loads((found[-1].parent / "report.json").read_text())
    for name in ("report.md", "report.html"):
        assert (found[-1].parent / name).stat().st_size > 0
    return {"measured": measured, "report": report}


@pytest.mark.parametrize("disaster,component", [
    ("drop_database", "orders-db"),
    ("flush_redis", "sessions"),
    ("delete_uploads", "uploads"),
])
def test_level1_drill_recovers_the_component_and_measures_rto_and_rpo(ansible, lab, tmp_path, disaster, component):
    outcome = drill(ansible, disaster, tmp_path / "reports")
    measured, report = outcome["measured"], outcome["report"]
    assert measured["data_verified"], (measured["before"], measured["after"])
    assert report["run"]["ok"]
    assert [entry["component"] for entry in report["components"] if entry.get("rpo_seconds") is not None] == [component]
    # The newest heartbeat recovered is at most a second older than the backup's consistency point.
    assert abs(report["rpo_seconds"] - measured["heartbeat_rpo_seconds"]) <= 1.0, (report["rpo_seconds"], measured)
    assert measured["heartbeat_rpo_seconds"] >= 5, "the drill writes for 5 s after the backup; those are lost"
    # RTO: from the disaster to the last verified restore, inside the measured recovery run.
    recovery = seconds_between(measured["incident"], measured["recovery_finished"])
    assert 0 < report["rto_seconds"] <= recovery + 1.0, (report["rto_seconds"], recovery)


def test_bad_write_drill_brings_every_store_back_to_before_the_faulty_release(ansible, lab, tmp_path):
    outcome = drill(ansible, "bad_write", tmp_path / "reports")
    measured, report = outcome["measured"], outcome["report"]
    # The release overwrote data in every store, and the backup after it held the damage.
    assert all(measured["bad_write"][store] > 0 for store in ("rows", "keys", "files")), measured["bad_write"]
    assert measured["data_verified"], (measured["before"], measured["after"])
    assert measured["damage_left"] == {"rows": 0, "keys": 0, "files": 0}
    assert report["run"]["ok"]
    point = report["point_in_time"]
    assert seconds_between(point["target_time"], measured["target_time"]) == 0 and point["components"] == 3
    entries = {entry["component"]: entry for entry in report["components"] if entry.get("requested_time")}
    assert sorted(entries) == ["orders-db", "sessions", "uploads"]
    for name, entry in entries.items():
        # Each store came back to a backup from before the release, never to the newer one holding the damage.
        assert seconds_between(entry["reached_time"], measured["target_time"]) >= 0, (name, entry)
        assert entry["point_gap_s"] == pytest.approx(seconds_between(entry["reached_time"], measured["target_time"]),
                                                     abs=0.001)
    assert point["widest_gap_s"] == max(entry["point_gap_s"] for entry in entries.values())


@pytest.fixture
def primary_site_back(lab):
    """Whatever the drill did, the primary site serves and DNS points at it afterwards."""
    yield
    for server in ("postgresql", "redis"):
        lab_ctl(lab["sites"]["primary"][server]["ctl"], "start")
    for service in ("api", "worker"):
        lab_ctl(lab["sites"]["secondary"]["app"]["services"][service]["ctl"], "stop")
        lab_ctl(lab["sites"]["primary"]["app"]["services"][service]["ctl"], "start")
    set_record(lab, [lab["sites"]["primary"]["address"]], 300)


def server_identity(site: dict) -> tuple:
    """The cluster's system identifier and when its server started: a restore or a restart changes them."""
    connection = psycopg2.connect(host=site["host"], port=site["port"], user=site["user"], password=site["password"],
                                  dbname="postgres", connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT system_identifier, pg_postmaster_start_time() FROM pg_control_system()")
            return cursor.fetchone()
    finally:
        connection.close()


def test_site_loss_drill_fails_over_to_the_secondary_and_back(ansible, lab, pg: Pg, unique, tmp_path,  # noqa: F811
                                                              primary_site_back):
    secondary = lab["sites"]["secondary"]["postgresql"]
    secondary_before = server_identity(secondary)
    started = time.monotonic()
    outcome = drill(ansible, "site_loss", tmp_path / "reports")
    print(f"\nsite_loss drill: {time.monotonic() - started:.0f} s")
    measured, report = outcome["measured"], outcome["report"]
    primary = lab["sites"]["primary"]
    # Level 3 started only after the primary's data, uploads, backup repository and pgBackRest repository were gone.
    assert measured["destroyed"]["left"] == [], measured["destroyed"]
    assert {primary["postgresql"]["data_dir"], primary["postgresql"]["pgbackrest_repo"], primary["repository"],
            primary["app"]["uploads"]} <= set(measured["destroyed"]["paths"])
    assert measured["destroyed"]["at"] < measured["recovery_started"]
    assert measured["data_verified"], (measured["before"], measured["after"])
    assert {entry["component"] for entry in report["components"] if entry.get("rpo_seconds") is not None} == \
        {"orders-db", "sessions", "uploads", "orders-cluster", "orders-standby"}
    assert abs(report["rpo_seconds"] - measured["heartbeat_rpo_seconds"]) <= 1.0, (report["rpo_seconds"], measured)
    # Every component names the copy it came from in the secondary's repository; the clusters also their pgBackRest repository.
    sources = {entry["component"]: entry for entry in report["components"] if entry.get("source")}
    assert set(sources) == {"orders-db", "sessions", "uploads", "orders-cluster", "orders-standby"}
    for entry in sources.values():
        assert entry["source"]["repository"] == lab["sites"]["secondary"]["repository"], entry["source"]
        assert entry["source"]["copied_from"] == primary["repository"], entry["source"]
    markdown = (Path(measured["report"]) / "report.md").read_text()
    assert "- orders-cluster: " in markdown and "files and WAL from pgBackRest repo2 (restored from scratch)" in markdown
    assert "files and WAL from pgBackRest repo2 (the warm standby promoted)" in markdown

    # The primary's cluster, recovered by pgBackRest from repo2 both ways: same data, at most 60 s of it lost.
    clusters = measured["clusters"]
    assert {name: copy["way"] for name, copy in clusters.items()} == \
        {"orders-cluster": "scratch", "orders-standby": "standby_promotion"}
    for name, copy in clusters.items():
        assert copy["data_verified"], (name, copy["after"], measured["before"])
        assert copy["pgbackrest_repo"] == 2 and copy["pgbackrest_repo_path"] == secondary["pgbackrest_repo"], copy
        assert 0 <= copy["heartbeat_rpo_seconds"] <= 60, (name, copy)
        assert copy["restore_duration_s"] > 0 and copy["report_rto_seconds"] > 0, (name, copy)
        assert not Path(copy["data_dir"]).parent.exists(), f"the drill left {name} behind"
    assert clusters["orders-cluster"]["action"] == "restored"
    assert clusters["orders-standby"]["action"] == "promoted", "the standby was restored, not promoted"
    print("measured " + json.dumps({name: {key: copy[key] for key in (
        "way", "restore_duration_s", "report_rto_seconds", "heartbeat_rpo_seconds")} for name, copy in clusters.items()}))

    assert [change["new"]["value"] for change in report["dns"]] == [[lab["sites"]["secondary"]["address"]]]
    # The drill failed back afterwards: DNS answers the primary again.
    assert answer(lab)[0] == [lab["sites"]["primary"]["address"]]
    # Every write the secondary acknowledged while it served and during the failback is on the primary; the
    # writes it refused came during the write freeze, which the failback's report gives as its downtime.
    [failback] = sorted((tmp_path / "reports").glob("*-failback/failback.json"))
    failback = json.loads(failback.read_text())
    writes, freeze = failback["writes"], failback["write_freeze"]
    assert writes["lost"] == 0, writes["missing"]
    assert writes["acknowledged"]["postgresql"] > 0 and writes["acknowledged"]["redis"] > 0, writes
    assert writes["refused"]["postgresql"] > 0 and writes["refused"]["redis"] > 0, "nothing was written during the freeze"
    # Refused by the servers themselves: the database read-only, Redis without enough replicas (and one write at
    # most cut off by the end of its session).
    reasons = writes["refusals"]
    assert any("read-only transaction" in reason for reason in reasons["postgresql"]), reasons
    assert sum(count for reason, count in reasons["postgresql"].items() if "read-only" not in reason) <= 1, reasons
    assert list(reasons["redis"]) == ["NOREPLICAS Not enough good replicas to write."], reasons
    assert set(freeze["components"]) == {"orders-db", "sessions"} and freeze["site"] == "secondary", freeze
    frozen_for = seconds_between(freeze["start"], freeze["end"])
    assert freeze["thawed"] is False and freeze["duration_s"] == pytest.approx(frozen_for, abs=0.01), freeze
    assert freeze["duration_s"] > 1, freeze
    print("failback " + json.dumps({"write_freeze_s": freeze["duration_s"], "acknowledged": writes["acknowledged"],
                                    "refused": writes["refused"]}))

    # The secondary's own cluster was never restarted nor replaced; the rebuilt primary archives and backs up.
    assert server_identity(secondary) == secondary_before
    facts = pg.facts
    exposure, physical = ansible.sequence([
        ("resilience.dr.pg_rpo_info", pg.login),
        ("resilience.dr.pg_backup", {**pg.login, "repository": str(tmp_path / "repository"),
                                     "component": f"cluster-{unique}", "method": "physical", "type": "full",
                                     "stanza": facts["stanza"], "pgbackrest_config": facts["pgbackrest_config"]}),
    ])
    assert not exposure["failed"], exposure["msg"]
    assert exposure["archive_mode"] == "on" and exposure["archive_failing"] is False
    assert exposure["unreachable_repositories"] == []
    assert not physical["failed"], physical["msg"]
    assert physical["pgbackrest_repos"] == [1, 2]


@pytest.fixture
def primary_cluster_back(lab):
    """The primary cluster runs after the drill (a drill that failed before its recovery leaves it stopped)."""
    yield
    ctl = lab["sites"]["primary"]["postgresql"]["ctl"]
    try:
        lab_ctl(ctl, "start")
    except AssertionError as error:
        raise AssertionError(f"the primary cluster of the lab does not start after the drill ({error}); "
                             "rebuild the lab with make lab-down lab-up") from None


def test_corrupt_datadir_drill_rebuilds_the_cluster_to_the_last_commit_and_keeps_archiving(
        ansible, lab, pg: Pg, unique, cleanup_databases, tmp_path, primary_cluster_back):  # noqa: F811
    outcome = drill(ansible, "corrupt_datadir", tmp_path / "reports")
    measured, report = outcome["measured"], outcome["report"]
    assert measured["data_verified"], (measured["before"], measured["after"])
    assert report["run"]["ok"]
    assert [entry["component"] for entry in report["components"] if entry.get("rpo_seconds") is not None] == \
        ["orders-cluster"]
    assert abs(report["rpo_seconds"] - measured["heartbeat_rpo_seconds"]) <= 1.0, (report["rpo_seconds"], measured)
    # Recovery replays the archive and the WAL salvaged from the damaged pg_wal: every heartbeat committed
    # before the damage comes back, not only those up to the last archived segment (archive_timeout 10 s).
    assert measured["newest_heartbeat"]["postgresql"] == measured["committed_heartbeat"]["postgresql"], measured
    # What remains is the drill's own delay between stopping the heartbeat and noting the incident.
    assert measured["heartbeat_rpo_seconds"] < 10, measured
    recovery = seconds_between(measured["incident"], measured["recovery_finished"])
    assert 0 < report["rto_seconds"] <= recovery + 1.0, (report["rto_seconds"], recovery)

    # The rebuilt cluster runs on a new timeline, archives it, and backs up and restores as before.
    assert pg.execute("postgres", "SELECT timeline_id > 1 FROM pg_control_checkpoint()") == [(True,)]
    facts = pg.facts
    repository, database = tmp_path / "repository", f"after_drill_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 500) g")
    common = {**pg.login, "repository": str(repository)}
    exposure, physical, logical, restored = ansible.sequence([
        ("resilience.dr.pg_rpo_info", pg.login),
        ("resilience.dr.pg_backup", {**common, "component": f"cluster-{unique}", "method": "physical", "type": "full",
                                     "stanza": facts["stanza"], "pgbackrest_config": facts["pgbackrest_config"]}),
        ("resilience.dr.pg_backup", {**common, "component": f"notes-{unique}", "db": database}),
        ("resilience.dr.pg_restore", {**common, "component": f"notes-{unique}", "target_db": f"{database}_copy"}),
    ])
    assert not exposure["failed"], exposure["msg"]
    assert exposure["archive_mode"] == "on" and exposure["archive_failing"] is False
    assert not physical["failed"], physical["msg"]
    assert physical["label"].endswith("F")
    assert not logical["failed"], logical["msg"]
    assert not restored["failed"], restored["msg"]
    assert pg.content_checksum(f"{database}_copy") == pg.content_checksum(database)
