# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident timeline: RTO/RPO from recorded callback events, targets, rendering, files."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.plugin_utils._report import (
    TARGETS_FILE_VARIABLE,
    Timeline,
    component_events,
    format_seconds,
    plan_targets,
    publish_targets,
    render_html,
    render_markdown,
    replay,
    run_id,
    should_fail,
    withdraw_targets,
    write_report,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name):
    return json.loads((FIXTURES / f"report_{name}.json").read_text())


def report_of(name, **options):
    return replay(fixture(name)["events"]).report(**options)


@pytest.mark.parametrize("name", ["level1", "level3"])
def test_fixture_numbers_match_what_was_measured_by_hand(name):
    expected = fixture(name)["expected"]
    report = report_of(name)
    assert report["rto_seconds"] == expected["rto_seconds"]
    assert report["rpo_seconds"] == expected["rpo_seconds"]
    assert report["targets"]["verdict"] == expected["verdict"]


def test_rto_runs_from_the_incident_start_to_the_last_verification():
    report = report_of("level1")
    assert report["incident_start"] == "2026-11-23T04:00:00Z"
    assert report["incident_start_source"] == "extra var incident_start"
    # The verification ended 04:22:30; the services restarted later do not count.
    assert report["rto_end"] == "2026-11-23T04:22:30Z"
    [orders] = report["components"]
    assert orders["component"] == "orders-db" and orders["backup_id"] == "20261123T035500Z-k3f9ab"
    assert orders["restores"] == 1 and orders["verifications"] == 1
    assert orders["rto_seconds"] == 1350.0 and orders["rto_target_seconds"] == 1800 and orders["rto_met"] is True
    assert orders["rpo_seconds"] == 300.0 and orders["rpo_target_seconds"] == 900 and orders["rpo_met"] is True
    assert report["application"] == "shopfront"
    assert report["run_id"] == "20261123T042000Z-level1_component"
    assert report["run"]["ok"] is True


def test_newest_restored_point_counts_and_backups_do_not():
    report = report_of("level3")
    components = {entry["component"]: entry for entry in report["components"]}
    # orders-db was restored twice; the newer consistency point (09:40) is what was recovered.
    assert components["orders-db"]["backup_id"] == "20261123T094000Z-new222"
    assert components["orders-db"]["rpo_seconds"] == 1200.0
    # The sessions backup taken during the run (10:00:01) is not recovered data.
    assert components["sessions"]["backups"] == 1
    assert components["sessions"]["rpo_seconds"] == 600.0
    assert "uploads" not in components
    assert report["incident_start_source"] == "playbook start"


def test_each_missed_target_is_named():
    report = report_of("level3")
    assert sorted(report["targets"]["misses"]) == [
        "orders-db: RPO 20m 00s exceeds the target 15m (15m 00s)",
        "sessions: RTO 7m 00s exceeds the target 5m (5m 00s)",
    ]
    assert not should_fail(report)
    assert should_fail(report_of("level3", fail_on_target_miss=True))
    assert not should_fail(report_of("level1", fail_on_target_miss=True))


def test_dns_failover_ends_the_recovery_and_is_listed():
    report = report_of("level3")
    assert report["rto_end"] == "2026-11-23T10:08:00Z"
    [dns] = report["dns"]
    assert dns["record"] == "www.shopfront.example.com"
    assert dns["previous"] == {"values": ["198.51.100.10"], "ttl": 60}


def test_censored_results_are_not_read_and_failures_keep_their_message():
    report = report_of("level3")
    tasks = {task["name"]: task for task in report["tasks"]}
    assert "msg" not in tasks["Read the smoke check token"]
    assert tasks["Probe the <old> primary"]["status"] == "ignored"
    assert "Connection refused" in tasks["Probe the <old> primary"]["msg"]
    assert report["run"]["ok"] is True  # an ignored failure does not fail the run


def test_a_failed_restore_does_not_count_as_recovered():
    timeline = replay(fixture("level1")["events"][:6])
    timeline.task_start("x", "Restore orders-db", "resilience.dr.pg_restore", datetime(2026, 11, 23, 4, 21, tzinfo=timezone.utc))
    timeline.task_result("x", "localhost", "failed", {
        "msg": "backup 20261123T035500Z-k3f9ab of component orders-db: checksum mismatch",
        "component": "orders-db", "backup_id": "20261123T035500Z-k3f9ab",
        "consistency_point": {"time": "2026-11-23T03:55:00Z"},
    }, datetime(2026, 11, 23, 4, 22, tzinfo=timezone.utc))
    timeline.finish(datetime(2026, 11, 23, 4, 23, tzinfo=timezone.utc), {"failures": {"localhost": 1}})
    report = timeline.report()
    assert report["components"] == [] and report["rto_seconds"] is None and report["rpo_seconds"] is None
    assert report["run"]["ok"] is False and report["run"]["failures"] == {"localhost": 1}
    assert report["targets"]["verdict"] == "no_targets"
    assert "checksum mismatch" in report["tasks"][-1]["msg"]


def test_check_mode_never_judges_targets():
    events = fixture("level3")["events"]
    events[-1] = dict(events[-1], check_mode=True)
    report = replay(events).report(fail_on_target_miss=True)
    assert report["check_mode"] is True and report["targets"]["verdict"] == "check_mode"
    assert not should_fail(report)


def test_an_unreadable_incident_start_falls_back_to_the_playbook_start():
    events = fixture("level1")["events"]
    events[1] = dict(events[1], extra_vars={**events[1]["extra_vars"], "incident_start": "at four"})
    report = replay(events).report()
    assert report["incident_start"] == "2026-11-23T04:20:00Z"
    assert any("incident_start 'at four' is not an ISO 8601 time" in problem for problem in report["problems"])


def test_component_result_shapes():
    restore = component_events("resilience.dr.redis_restore", {
        "changed": True, "component": "sessions", "backup_id": "b1", "consistency_point": {"time": "2026-11-23T04:00:00Z"},
        "verified": True, "duration_s": 3.5,
    })
    assert restore == [{"kind": "restore", "component": "sessions", "backup_id": "b1",
                        "consistency_time": "2026-11-23T04:00:00Z", "verified": True, "changed": True, "duration_s": 3.5}]
    assert component_events("resilience.dr.pg_backup", {"component": "a", "backup_id": "b"})[0]["kind"] == "backup"
    assert component_events("resilience.dr.rds_snapshot", {"component": "a", "backup_id": "b"})[0]["kind"] == "backup"
    assert component_events("ansible.builtin.set_fact", {"ansible_facts": {"component": "a"}}) == []
    assert component_events("ansible.builtin.debug", {"msg": "hello"}) == []
    dns = component_events("resilience.dr.dns_failover", {"changed": False, "previous": None, "new": {"values": ["x"]}})
    assert dns[0]["kind"] == "dns_failover" and dns[0]["changed"] is False


def test_plan_targets_report_bad_durations_without_failing():
    targets = plan_targets({"components": [{"name": "a", "rpo": "15 minutes", "rto": "1h"}]})
    assert targets["a"]["rto_target_seconds"] == 3600
    assert targets["a"]["rpo_target_seconds"] is None and "is not a duration" in targets["a"]["rpo_error"]
    assert plan_targets(None) == {} and plan_targets("{{ dr_plan }}") == {}


def test_format_seconds_and_run_id():
    assert format_seconds(None) == "n/a"
    assert format_seconds(42.34) == "42.3s"
    assert format_seconds(725) == "12m 05s"
    assert format_seconds(3 * 3600 + 120) == "3h 02m"
    assert format_seconds(3 * 86400) == "3d 00h"
    moment = datetime(2026, 11, 23, 4, 0, 5, tzinfo=timezone.utc)
    assert run_id(moment, "/x/playbooks/level 2 app.yml") == "20261123T040005Z-level_2_app"


def test_markdown_lists_components_misses_and_the_timeline():
    text = render_markdown(report_of("level3", fail_on_target_miss=True))
    assert "Achieved RTO: **8m 00s**" in text and "Achieved RPO: **20m 00s**" in text
    assert "orders-db: RPO 20m 00s exceeds the target 15m" in text
    assert "fail_on_target_miss is set" in text
    assert "| orders-db | 20261123T094000Z-new222 |" in text
    assert "Skip the Redis restore" not in render_markdown(report_of("level1"))  # skipped tasks stay out


def test_html_is_self_contained_and_escaped():
    page = render_html(report_of("level3"))
    assert page.startswith("<!DOCTYPE html>")
    assert "Probe the &lt;old&gt; primary" in page and "<old>" not in page
    assert "<script" not in page.lower()
    assert re.findall(r"""(?:src|href)\s*=""", page) == []
    assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", page) == []
    assert page.count("<svg") == 3  # the timeline and the RTO and RPO bars


def test_files_are_private_and_a_second_run_in_the_same_second_gets_its_own_directory(tmp_path):
    first = write_report(report_of("level1"), str(tmp_path / "reports"))
    second_report = report_of("level1")
    second = write_report(second_report, str(tmp_path / "reports"))
    assert os.path.basename(first) == "20261123T042000Z-level1_component"
    assert os.path.basename(second) == "20261123T042000Z-level1_component-2" == second_report["run_id"]
    assert stat.S_IMODE(os.stat(tmp_path / "reports").st_mode) == 0o700
    for directory in (first, second):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert sorted(os.listdir(directory)) == ["report.html", "report.json", "report.md"]
        for name in os.listdir(directory):
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
    assert json.loads(Path(second, "report.json").read_text())["run_id"].endswith("-2")


def test_a_timeline_without_a_playbook_start_cannot_be_reported():
    from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no playbook start"):
        Timeline().report()


def test_a_backup_run_has_no_recovery_time():
    events = fixture("level1")["events"][:2] + [
        {"event": "task_start", "time": "2026-11-23T04:20:01Z", "task_id": "b", "name": "Back up orders-db",
         "action": "resilience.dr.pg_backup"},
        {"event": "task_result", "time": "2026-11-23T04:21:00Z", "task_id": "b", "host": "localhost", "status": "changed",
         "result": {"changed": True, "component": "orders-db", "backup_id": "20261123T042001Z-abcdef",
                    "consistency_point": {"time": "2026-11-23T04:20:02Z"}}},
        {"event": "task_start", "time": "2026-11-23T04:21:00Z", "task_id": "v", "name": "Verify the new backup",
         "action": "resilience.dr.backup_verify"},
        {"event": "task_result", "time": "2026-11-23T04:21:30Z", "task_id": "v", "host": "localhost", "status": "ok",
         "result": {"changed": True, "verified": [{"component": "orders-db", "backup_id": "20261123T042001Z-abcdef", "ok": True}]}},
        {"event": "stats", "time": "2026-11-23T04:21:31Z", "stats": {}},
    ]
    report = replay(events).report(fail_on_target_miss=True)
    [orders] = report["components"]
    assert orders["backups"] == 1 and orders["verifications"] == 1 and orders["restores"] == 0
    assert orders["rto_seconds"] is None and orders["rpo_seconds"] is None
    assert report["rto_seconds"] is None and report["rpo_seconds"] is None
    assert report["targets"]["verdict"] == "no_targets" and not should_fail(report)


def test_the_newest_recovered_heartbeat_gives_the_rpo():
    events = fixture("level1")["events"]
    heartbeat = [
        {"event": "task_start", "time": "2026-11-23T04:22:40Z", "task_id": "h", "name": "Find the newest heartbeat",
         "action": "ansible.builtin.set_fact"},
        {"event": "task_result", "time": "2026-11-23T04:22:41Z", "task_id": "h", "host": "localhost", "status": "ok",
         "result": {"changed": False, "ansible_facts": {"dr_heartbeat": [
             {"component": "orders-db", "time": "2026-11-23T03:57:00Z"},
             {"component": "orders-db", "time": "2026-11-23T03:58:30Z"}]}}},
    ]
    report = replay(events[:-1] + heartbeat + events[-1:]).report()
    [orders] = report["components"]
    # Incident at 04:00:00; the restored point is 03:55:00 but data up to 03:58:30 was recovered (WAL replay).
    assert orders["heartbeat_time"] == "2026-11-23T03:58:30Z" and orders["rpo_source"] == "heartbeat"
    assert orders["rpo_seconds"] == 90.0 and report["rpo_seconds"] == 90.0
    assert orders["rto_seconds"] == 1350.0  # the heartbeat check is not part of the recovery
    assert "heartbeat 2026-11-23T03:58:30Z" in render_markdown(report)


def test_a_point_in_time_restore_counts_from_the_last_transaction_replayed():
    [event] = component_events("resilience.dr.pg_restore", {
        "changed": True, "component": "orders-db", "backup_id": "b1", "method": "physical",
        "consistency_point": {"time": "2026-11-23T02:00:00Z"}, "recovered_to": "2026-11-23 03:59:12.5+00",
    })
    assert event["kind"] == "restore" and event["consistency_time"] == "2026-11-23 03:59:12.5+00"
    timeline = replay(fixture("level1")["events"][:2])
    moment = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)
    timeline.task_start("p", "Restore orders-db to just before the incident", "resilience.dr.pg_restore", moment)
    timeline.task_result("p", "localhost", "changed", {
        "changed": True, "component": "orders-db", "backup_id": "b1",
        "consistency_point": {"time": "2026-11-23T02:00:00Z"}, "recovered_to": "2026-11-23 03:59:12.5+00",
    }, moment)
    timeline.finish(moment, {})
    assert timeline.report()["rpo_seconds"] == 47.5


def _at(seconds):
    return datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def _restore(component, backup_id, duration, **extra):
    return {"changed": True, "component": component, "backup_id": backup_id, "duration_s": duration,
            "consistency_point": {"time": "2026-11-23T03:55:00Z"}, "verification": {"ok": True}, **extra}


def test_background_restores_take_their_times_from_the_launch_and_their_own_duration():
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", _at(0))
    timeline.play_start("Level 2", {}, _at(0))
    for number, (name, action) in enumerate((("orders-db", "resilience.dr.pg_restore"),
                                             ("sessions", "resilience.dr.redis_restore"))):
        timeline.task_start(f"launch-{name}", f"Restore {name}", action, _at(number))
        timeline.task_result(f"launch-{name}", "localhost", "ok",
                             {"ansible_job_id": f"j{number}", "started": True, "finished": False}, _at(number + 0.5))
    timeline.task_start("wait", "Wait for the restores", "ansible.builtin.async_status", _at(2))
    # sessions failed; the loop's errors were ignored so that orders-db could finish.
    timeline.task_result("wait", "localhost", "ignored", {"failed": True, "results": [
        {**_restore("orders-db", "b-orders", 20.0), "ansible_job_id": "j0", "started": True, "finished": True},
        {"ansible_job_id": "j1", "started": True, "finished": True, "failed": True, "component": "sessions",
         "backup_id": "b-sessions", "msg": "sessions: verification failed"},
    ]}, _at(30))
    timeline.finish(_at(31), {})
    report = timeline.report()
    [orders] = [event for event in report["events"] if event.get("component") == "orders-db"]
    assert orders["kind"] == "restore" and orders["task"] == "Restore orders-db" and orders["status"] == "changed"
    assert orders["start"] == "2026-11-23T04:00:00Z" and orders["end"] == "2026-11-23T04:00:20.500000Z"
    [sessions] = [event for event in report["events"] if event.get("component") == "sessions"]
    assert sessions["status"] == "failed" and sessions["start"] == "2026-11-23T04:00:01Z"
    assert [entry["component"] for entry in report["components"]] == ["orders-db"]
    assert report["rto_seconds"] == 20.5


def test_a_background_restore_never_ends_after_its_result_was_seen():
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", _at(0))
    timeline.task_start("launch", "Restore uploads", "resilience.dr.files_restore", _at(0))
    timeline.task_result("launch", "localhost", "ok", {"ansible_job_id": "j9", "started": 1, "finished": 0}, _at(1))
    timeline.task_start("wait", "Wait", "ansible.builtin.async_status", _at(1))
    timeline.task_result("wait", "localhost", "changed",
                         {**_restore("uploads", "b-up", 99.0), "ansible_job_id": "j9", "started": 1, "finished": 1}, _at(5))
    [event] = [event for event in timeline.events if event.get("component")]
    assert event["end"] == "2026-11-23T04:00:05Z" and event["kind"] == "restore"


def test_successful_items_of_a_failed_loop_still_count():
    timeline = Timeline()
    timeline.playbook_start("backup.yml", _at(0))
    timeline.task_start("backups", "Back up", "resilience.dr.files_backup", _at(0))
    timeline.task_result("backups", "localhost", "failed", {"results": [
        {**_restore("uploads", "b-1", 3.0)},
        {"failed": True, "msg": "no space left", "component": "media", "backup_id": "b-2"},
        {"skipped": True, "component": "other", "backup_id": "b-3"},
    ]}, _at(4))
    statuses = {event["component"]: event["status"] for event in timeline.events}
    assert statuses == {"uploads": "changed", "media": "failed"}


def test_a_comparison_in_check_mode_before_acting_is_listed_but_restores_nothing():
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", _at(0))
    timeline.task_start("preview", "Restore and verify the Redis component - sessions", "resilience.dr.redis_restore", _at(1))
    timeline.task_result("preview", "localhost", "changed", _restore("sessions", "b1", 0.1), _at(2), preview=True)
    timeline.task_start("real", "Restore and verify the Redis component - sessions", "resilience.dr.redis_restore", _at(3))
    timeline.task_result("real", "localhost", "changed", _restore("sessions", "b1", 4), _at(7))
    timeline.finish(_at(8), {})
    assert [task.get("preview", False) for task in timeline.tasks] == [True, False]
    [event] = [event for event in timeline.events if event["kind"] == "restore"]
    assert event["start"] == format_time(_at(3)), "the prediction made before acting is no restore"


def test_the_report_names_the_copy_each_component_came_from_and_its_age():
    events = fixture("level1")["events"]
    source = [
        {"event": "task_start", "time": "2026-11-23T04:05:00Z", "task_id": "s", "name": "Remember where each component comes from",
         "action": "ansible.builtin.set_fact"},
        {"event": "task_result", "time": "2026-11-23T04:05:01Z", "task_id": "s", "host": "localhost", "status": "ok",
         "result": {"changed": False, "ansible_facts": {"dr_source": [
             {"component": "orders-db", "site": "secondary", "repository": "s3://acme-dr-west/prod",
              "backup_id": "20261123T035500Z-k3f9ab", "status": "verified", "age_s": 600,
              "copied_from": "s3://acme-dr/prod", "copied_at": "2026-11-23T03:57:10Z"},
             {"component": "sessions", "repository": "s3://acme-dr-west/prod", "backup_id": None}]}}},
    ]
    report = replay(events[:1] + source + events[1:]).report()
    [orders] = [entry for entry in report["components"] if entry["component"] == "orders-db"]
    assert orders["source"]["copied_from"] == "s3://acme-dr/prod" and orders["source"]["age_s"] == 600
    assert all(entry["component"] != "sessions" for entry in report["components"]), "a component without a backup has no source"
    expected = ("orders-db: 20261123T035500Z-k3f9ab in s3://acme-dr-west/prod (verified), copied from s3://acme-dr/prod "
                "at 2026-11-23T03:57:10Z, 10m 00s old when chosen")
    assert f"- {expected}" in render_markdown(report)
    assert "Where each component came from" in render_html(report)
    assert orders["restores"] == 1 and orders["rto_seconds"] == 1350.0, "a source event is not a restore"


def test_an_rds_restore_from_a_copied_snapshot_is_named_as_its_source():
    [source] = [event for event in component_events("resilience.dr.rds_restore", {
        "changed": True, "component": "billing-db", "backup_id": "billing-db-20261123t040000z",
        "snapshot": {"db_snapshot_identifier": "billing-db-20261123t040000z", "region": "us-west-2", "age_s": 5400.0,
                     "source_region": "us-east-1", "snapshot_create_time": "2026-11-23T04:10:00Z"},
    }) if event["kind"] == "source"]
    assert source["source"]["repository"] == "RDS snapshots in us-west-2"
    assert source["source"]["copied_from"] == "us-east-1" and source["source"]["age_s"] == 5400.0


def test_a_physical_restore_names_its_pgbackrest_repository_and_whether_a_standby_was_promoted():
    timeline = replay(fixture("level1")["events"][:2])
    for task_id, component, action, duration in (("a", "orders-cluster", "restored", 12.5),
                                                 ("b", "orders-standby", "promoted", 0.8)):
        timeline.task_start(task_id, f"Restore {component}", "resilience.dr.pg_restore", _at(60))
        timeline.task_result(task_id, "localhost", "changed", _restore(
            component, f"{component}-b1", duration, method="physical", pgbackrest_repo=2, action=action,
            recovered_to="2026-11-23 03:59:50+00"), _at(70))
    timeline.finish(_at(80), {})
    report = timeline.report()
    entries = {entry["component"]: entry for entry in report["components"]}
    assert entries["orders-cluster"]["pgbackrest_repo"] == 2 and entries["orders-cluster"]["restore_action"] == "restored"
    assert entries["orders-standby"]["restore_action"] == "promoted"
    assert entries["orders-standby"]["restore_duration_s"] == 0.8
    markdown = render_markdown(report)
    assert "- orders-cluster: files and WAL from pgBackRest repo2 (restored from scratch)" in markdown
    assert "- orders-standby: files and WAL from pgBackRest repo2 (the warm standby promoted)" in markdown
    assert "the warm standby promoted" in render_html(report)
    # A logical restore has no pgBackRest repository: nothing is added to its event.
    [logical] = component_events("resilience.dr.pg_restore", _restore("orders-db", "b2", 3.0, pgbackrest_repo=None))
    assert "pgbackrest_repo" not in logical and "action" not in logical


def _level2_to_a_point(requested, points):
    """A level 2 run asked for `requested` (extra var target_time); `points`: component -> (backup, reached)."""
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", _at(0))
    timeline.play_start("Level 2", {"incident_start": "2026-11-23T04:00:00Z", "target_time": requested,
                                    "dr_plan": {"name": "shopfront", "components": [
                                        {"name": name, "kind": "postgresql", "rpo": "15m", "rto": "1h"}
                                        for name in points]}}, _at(0))
    recovered = {}
    for number, (name, (backup_id, reached)) in enumerate(points.items()):
        timeline.task_start(f"r{number}", f"Restore {name}", "resilience.dr.pg_restore", _at(number))
        timeline.task_result(f"r{number}", "localhost", "changed", {
            "changed": True, "component": name, "backup_id": backup_id, "consistency_point": {"time": reached},
            "verification": {"ok": True}}, _at(number + 1))
        recovered[name] = {"backup_id": backup_id, "consistency_time": reached, "requested_time": requested}
        timeline.task_start(f"f{number}", "Remember what was recovered", "ansible.builtin.set_fact", _at(number + 1))
        timeline.task_result(f"f{number}", "localhost", "ok", {"ansible_facts": {"dr_recovered": dict(recovered)}},
                             _at(number + 1))
    timeline.finish(_at(10), {})
    return timeline.report()


def test_each_component_shows_the_requested_point_what_it_reached_and_the_widest_gap_is_said():
    report = _level2_to_a_point("2026-11-23T03:30:00Z", {
        "orders-db": ("b-orders", "2026-11-23T03:29:00Z"), "sessions": ("b-sessions", "2026-11-23T03:10:00Z")})
    entries = {entry["component"]: entry for entry in report["components"]}
    assert entries["orders-db"]["requested_time"] == "2026-11-23T03:30:00Z"
    assert entries["orders-db"]["point_gap_s"] == 60.0 and entries["sessions"]["point_gap_s"] == 1200.0
    point = report["point_in_time"]
    assert point == {"target_time": "2026-11-23T03:30:00Z", "components": 2, "widest_gap_s": 1200.0,
                     "widest_gap_component": "sessions"}
    # Data after the requested time was given up on purpose: the RPO counts from it, not from the incident (04:00).
    assert entries["orders-db"]["rpo_seconds"] == 60.0 and entries["sessions"]["rpo_seconds"] == 1200.0
    assert [miss.split(":")[0] for miss in report["targets"]["misses"]] == ["sessions"]
    markdown = render_markdown(report)
    assert "widest gap 20m 00s (sessions); the application's state is only as consistent as that gap" in markdown
    assert "| sessions | 2026-11-23T03:30:00Z | 2026-11-23T03:10:00Z | 20m 00s |" in markdown
    assert "<h2>Point in time</h2>" in render_html(report)


def test_a_run_without_a_requested_point_has_no_point_in_time_section():
    report = report_of("level1")
    assert report["point_in_time"] == {"target_time": None, "components": 0, "widest_gap_s": None,
                                       "widest_gap_component": None}
    assert "Point in time" not in render_markdown(report) and "Point in time" not in render_html(report)


def test_the_write_freeze_of_a_failback_is_its_reported_downtime():
    events = fixture("level1")["events"]
    freeze = [
        {"event": "task_start", "time": "2026-11-23T04:22:40Z", "task_id": "f",
         "name": "Report the write freeze as the downtime of the failback", "action": "ansible.builtin.set_fact"},
        {"event": "task_result", "time": "2026-11-23T04:22:41Z", "task_id": "f", "host": "localhost", "status": "ok",
         "result": {"changed": False, "ansible_facts": {"dr_write_freeze": {
             "site": "secondary", "components": ["orders-db", "sessions"], "start": "2026-11-23T04:10:00.000000Z",
             "end": "2026-11-23T04:12:05.500000Z", "duration_s": "125.5", "thawed": False}}}},
    ]
    report = replay(events[:-1] + freeze + events[-1:]).report()
    assert report["write_freeze"]["duration_s"] == 125.5 and report["write_freeze"]["site"] == "secondary"
    assert report["write_freeze"]["components"] == ["orders-db", "sessions"]
    # The freeze's own times, not those of the task that reported it.
    assert report["write_freeze"]["start"] == "2026-11-23T04:10:00.000000Z"
    assert report["write_freeze"]["end"] == "2026-11-23T04:12:05.500000Z"
    text = render_markdown(report)
    assert "Write freeze (downtime of the failback): **2m 06s**" in text and "orders-db, sessions" in text
    assert replay(events).report()["write_freeze"] is None


def test_restore_tests_are_listed_with_their_outcome_and_not_counted_as_recoveries():
    events = fixture("level1")["events"]
    tests = []
    for number, (component, ok) in enumerate((("orders-db", True), ("uploads", False))):
        tests += [
            {"event": "task_start", "time": f"2026-11-23T04:23:0{number}Z", "task_id": f"t{number}",
             "name": f"Record the test beside the backup - {component}", "action": "resilience.dr.restore_test_record"},
            {"event": "task_result", "time": f"2026-11-23T04:23:0{number}Z", "task_id": f"t{number}", "host": "localhost",
             "status": "changed", "result": {"changed": True, "component": component, "backup_id": "20261123T040000Z-k3f9ab",
                                             "restore_test": {"ok": ok, "duration_s": 42.5, "target_rto_s": 1800.0,
                                                              "error": None if ok else "file data/a.zst: checksum mismatch",
                                                              "tested_at": "2026-11-23T04:23:00Z", "by": "dr@host"}}},
        ]
    baseline = replay(events).report()
    report = replay(events[:-1] + tests + events[-1:]).report()
    assert report["restore_tests"] == [
        {"component": "orders-db", "backup_id": "20261123T040000Z-k3f9ab", "ok": True, "duration_s": 42.5,
         "target_rto_s": 1800.0, "error": None},
        {"component": "uploads", "backup_id": "20261123T040000Z-k3f9ab", "ok": False, "duration_s": 42.5,
         "target_rto_s": 1800.0, "error": "file data/a.zst: checksum mismatch"},
    ]
    assert report["rto_seconds"] == baseline["rto_seconds"]
    assert [entry["component"] for entry in report["components"]] == [entry["component"] for entry in baseline["components"]]
    text = render_markdown(report)
    assert "## Restore tests" in text
    assert "| uploads | 20261123T040000Z-k3f9ab | FAILED | 42.5s | 30m 00s | file data/a.zst: checksum mismatch |" in text
    assert "<h2>Restore tests</h2>" in render_html(report) and baseline["restore_tests"] == []


def test_the_targets_so_far_judge_the_run_up_to_then_and_leave_the_timeline_as_it_was():
    events = fixture("level3")["events"]
    # Before the stats: the recovery_targets task starts after the last recovery task.
    timeline = replay([event for event in events if event["event"] != "stats"])
    timeline.problems.append("an earlier problem")
    moment = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)
    measured = timeline.targets_so_far(moment, fail_on_target_miss=True, check_mode=False)
    assert measured["verdict"] == "missed" and measured["run_ok"] is True and measured["fail_on_target_miss"] is True
    assert sorted(measured["misses"]) == sorted(report_of("level3")["targets"]["misses"])
    assert measured["rto_seconds"] == report_of("level3")["rto_seconds"]
    assert timeline.problems == ["an earlier problem"] and timeline.finished is None
    assert timeline.targets_so_far(moment, fail_on_target_miss=True, check_mode=True)["verdict"] == "check_mode"


def test_the_targets_task_decides_whether_the_report_says_the_run_failed_on_them():
    events = fixture("level3")["events"]
    stats = events[-1]
    task = {"event": "task_start", "time": stats["time"], "task_id": "targets", "name": "Compare",
            "action": "resilience.dr.recovery_targets"}
    result = {"event": "task_result", "time": stats["time"], "task_id": "targets", "status": "failed",
              "result": {"failed": True, "fail_on_miss": True, "verdict": "missed", "msg": "2 recovery target(s) missed"}}
    report = replay([*events[:-1], task, result, stats]).report(fail_on_target_miss=False)
    assert report["targets"]["fail_on_target_miss"] is True and report["targets"]["failed_run"] is True
    assert "the task resilience.dr.recovery_targets failed the run" in render_markdown(report)

    result = dict(result, status="ok", result={"fail_on_miss": False, "verdict": "missed"})
    report = replay([*events[:-1], task, result, stats]).report(fail_on_target_miss=True)
    assert report["targets"]["fail_on_target_miss"] is False and not should_fail(report)


def test_published_targets_are_a_private_file_named_in_the_environment_and_withdrawn(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(TARGETS_FILE_VARIABLE, raising=False)
    first = publish_targets({"verdict": "met"})
    assert Path(first).parent == tmp_path
    second = publish_targets({"verdict": "missed"}, previous=first)
    assert not os.path.exists(first) and os.environ[TARGETS_FILE_VARIABLE] == second
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o600
    assert json.loads(Path(second).read_text()) == {"verdict": "missed"}
    withdraw_targets(second)
    assert not os.path.exists(second) and TARGETS_FILE_VARIABLE not in os.environ
    withdraw_targets(second)  # twice is harmless


CHECK_MODE_RUN = [
    {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/level2_application.yml"},
    {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Level 2", "extra_vars": {}},
    {"event": "task_start", "time": "2026-11-23T04:00:00Z", "task_id": "a", "name": "Stop the application",
     "action": "ansible.builtin.systemd"},
    {"event": "task_result", "time": "2026-11-23T04:00:02Z", "task_id": "a", "status": "ok", "result": {}},
    {"event": "stats", "time": "2026-11-23T04:00:03Z", "stats": {}, "check_mode": True},
]


@pytest.mark.parametrize("name", ["level1", "level3", "everything", "check_mode"])
def test_markdown_and_html_are_rendered_exactly_as_the_stored_reports(name):
    events = CHECK_MODE_RUN if name == "check_mode" else fixture(name)["events"]
    report = replay(events).report(fail_on_target_miss=True)
    assert render_markdown(report) == (FIXTURES / f"report_{name}.md").read_text()
    assert render_html(report) == (FIXTURES / f"report_{name}.html").read_text()
