# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timeline: what the callback feeds in, background jobs, loops, previews, and what a report names."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time
from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import component_events
from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay, Timeline
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import fixture, report_of, at, restore_result


def test_censored_results_are_not_read_and_failures_keep_their_message():
    report = report_of("level3")
    tasks = {task["name"]: task for task in report["tasks"]}
    assert "msg" not in tasks["Read the smoke check token"]
    assert tasks["Probe the <old> primary"]["status"] == "ignored"
    assert "Connection refused" in tasks["Probe the <old> primary"]["msg"]
    assert report["run"]["ok"] is True  # an ignored failure does not fail the run


def test_an_unreadable_incident_start_falls_back_to_the_playbook_start():
    events = fixture("level1")["events"]
    events[1] = dict(events[1], extra_vars={**events[1]["extra_vars"], "incident_start": "at four"})
    report = replay(events).report()
    assert report["incident_start"] == "2026-11-23T04:20:00Z"
    assert any("incident_start 'at four' is not an ISO 8601 time" in problem for problem in report["problems"])


def test_a_timeline_without_a_playbook_start_cannot_be_reported():
    from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no playbook start"):
        Timeline().report()


def test_background_restores_take_their_times_from_the_launch_and_their_own_duration():
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", at(0))
    timeline.play_start("Level 2", {}, at(0))
    for number, (name, action) in enumerate((("orders-db", "resilience.dr.pg_restore"),
                                             ("sessions", "resilience.dr.redis_restore"))):
        timeline.task_start(f"launch-{name}", f"Restore {name}", action, at(number))
        timeline.task_result(f"launch-{name}", "localhost", "ok",
                             {"ansible_job_id": f"j{number}", "started": True, "finished": False}, at(number + 0.5))
    timeline.task_start("wait", "Wait for the restores", "ansible.builtin.async_status", at(2))
    # sessions failed; the loop's errors were ignored so that orders-db could finish.
    timeline.task_result("wait", "localhost", "ignored", {"failed": True, "results": [
        {**restore_result("orders-db", "b-orders", 20.0), "ansible_job_id": "j0", "started": True, "finished": True},
        {"ansible_job_id": "j1", "started": True, "finished": True, "failed": True, "component": "sessions",
         "backup_id": "b-sessions", "msg": "sessions: verification failed"},
    ]}, at(30))
    timeline.finish(at(31), {})
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
    timeline.playbook_start("level2_application.yml", at(0))
    timeline.task_start("launch", "Restore uploads", "resilience.dr.files_restore", at(0))
    timeline.task_result("launch", "localhost", "ok", {"ansible_job_id": "j9", "started": 1, "finished": 0}, at(1))
    timeline.task_start("wait", "Wait", "ansible.builtin.async_status", at(1))
    timeline.task_result("wait", "localhost", "changed",
                         {**restore_result("uploads", "b-up", 99.0), "ansible_job_id": "j9", "started": 1, "finished": 1}, at(5))
    [event] = [event for event in timeline.events if event.get("component")]
    assert event["end"] == "2026-11-23T04:00:05Z" and event["kind"] == "restore"


def test_successful_items_of_a_failed_loop_still_count():
    timeline = Timeline()
    timeline.playbook_start("backup.yml", at(0))
    timeline.task_start("backups", "Back up", "resilience.dr.files_backup", at(0))
    timeline.task_result("backups", "localhost", "failed", {"results": [
        {**restore_result("uploads", "b-1", 3.0)},
        {"failed": True, "msg": "no space left", "component": "media", "backup_id": "b-2"},
        {"skipped": True, "component": "other", "backup_id": "b-3"},
    ]}, at(4))
    statuses = {event["component"]: event["status"] for event in timeline.events}
    assert statuses == {"uploads": "changed", "media": "failed"}


def test_a_comparison_in_check_mode_before_acting_is_listed_but_restores_nothing():
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", at(0))
    timeline.task_start("preview", "Restore and verify the Redis component - sessions", "resilience.dr.redis_restore", at(1))
    timeline.task_result("preview", "localhost", "changed", restore_result("sessions", "b1", 0.1), at(2), preview=True)
    timeline.task_start("real", "Restore and verify the Redis component - sessions", "resilience.dr.redis_restore", at(3))
    timeline.task_result("real", "localhost", "changed", restore_result("sessions", "b1", 4), at(7))
    timeline.finish(at(8), {})
    assert [task.get("preview", False) for task in timeline.tasks] == [True, False]
    [event] = [event for event in timeline.events if event["kind"] == "restore"]
    assert event["start"] == format_time(at(3)), "the prediction made before acting is no restore"


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


def test_a_physical_restore_names_its_pgbackrest_repository_and_whether_a_standby_was_promoted():
    timeline = replay(fixture("level1")["events"][:2])
    for task_id, component, action, duration in (("a", "orders-cluster", "restored", 12.5),
                                                 ("b", "orders-standby", "promoted", 0.8)):
        timeline.task_start(task_id, f"Restore {component}", "resilience.dr.pg_restore", at(60))
        timeline.task_result(task_id, "localhost", "changed", restore_result(
            component, f"{component}-b1", duration, method="physical", pgbackrest_repo=2, action=action,
            recovered_to="2026-11-23 03:59:50+00"), at(70))
    timeline.finish(at(80), {})
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
    [logical] = component_events("resilience.dr.pg_restore", restore_result("orders-db", "b2", 3.0, pgbackrest_repo=None))
    assert "pgbackrest_repo" not in logical and "action" not in logical


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
