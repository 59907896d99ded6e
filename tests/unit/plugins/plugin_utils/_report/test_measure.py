# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RTO and RPO per component and for the run, from recorded callback events, against the plan's targets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import component_events
from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.measure import plan_targets
from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import should_fail
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay, Timeline
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import fixture, report_of, at


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


def test_plan_targets_report_bad_durations_without_failing():
    targets = plan_targets({"components": [{"name": "a", "rpo": "15 minutes", "rto": "1h"}]})
    assert targets["a"]["rto_target_seconds"] == 3600
    assert targets["a"]["rpo_target_seconds"] is None and "is not a duration" in targets["a"]["rpo_error"]
    assert plan_targets(None) == {} and plan_targets("{{ dr_plan }}") == {}


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


def _level2_to_a_point(requested, points):
    """A level 2 run asked for `requested` (extra var target_time); `points`: component -> (backup, reached)."""
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", at(0))
    timeline.play_start("Level 2", {"incident_start": "2026-11-23T04:00:00Z", "target_time": requested,
                                    "dr_plan": {"name": "shopfront", "components": [
                                        {"name": name, "kind": "postgresql", "rpo": "15m", "rto": "1h"}
                                        for name in points]}}, at(0))
    recovered = {}
    for number, (name, (backup_id, reached)) in enumerate(points.items()):
        timeline.task_start(f"r{number}", f"Restore {name}", "resilience.dr.pg_restore", at(number))
        timeline.task_result(f"r{number}", "localhost", "changed", {
            "changed": True, "component": name, "backup_id": backup_id, "consistency_point": {"time": reached},
            "verification": {"ok": True}}, at(number + 1))
        recovered[name] = {"backup_id": backup_id, "consistency_time": reached, "requested_time": requested}
        timeline.task_start(f"f{number}", "Remember what was recovered", "ansible.builtin.set_fact", at(number + 1))
        timeline.task_result(f"f{number}", "localhost", "ok", {"ansible_facts": {"dr_recovered": dict(recovered)}},
                             at(number + 1))
    timeline.finish(at(10), {})
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
