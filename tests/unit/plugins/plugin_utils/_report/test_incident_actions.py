# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A security incident's actions in the report: each isolation and logging change the incident modules return in
actions, each rotation the role records in security_incident_reported_action, in order, in words only."""

from __future__ import annotations

import json

from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay

LOGGING = {"changed": True, "actions": ["set log_connections = on (was off)", "refuse logins of role reporter (NOLOGIN)"],
           "recorded": {"settings": {"log_connections": {"value": "off", "altered": False}}, "users": ["reporter"]}}
QUARANTINE = {"changed": True, "actions": ["quarantine i-0abc (eni-1: sg-1, sg-2 -> sg-q)"], "recorded": {"eni-1": ["sg-1"]}}
ROTATED = {"changed": False, "ansible_facts": {"security_incident_reported_action": "IAM user deployer: new access key in use,\n 1 old key(s)"}}
# rds_snapshot and elasticache_backup return actions too, but no record: no incident action.
SNAPSHOT = {"changed": True, "actions": ["create snapshot ledger-1"]}


def run(*results, status="ok"):
    events = [
        {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/security_incident.yml"},
        {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Security incident", "extra_vars": {}},
    ]
    for number, (name, result) in enumerate(results):
        events += [
            {"event": "task_start", "time": f"2026-11-23T04:00:0{number}Z", "task_id": str(number), "name": name,
             "action": "resilience.dr.pg_incident_mode"},
            {"event": "task_result", "time": f"2026-11-23T04:00:0{number + 1}Z", "task_id": str(number), "status": status,
             "result": result},
        ]
    events.append({"event": "stats", "time": "2026-11-23T04:00:09Z", "stats": {}})
    return replay(events).report()


def test_each_isolation_logging_change_and_rotation_is_listed_in_order():
    report = run(("Set the PostgreSQL server's incident mode - orders-db", LOGGING), ("Quarantine the instances", QUARANTINE),
                 ("Record the rotation", ROTATED), ("Snapshot the ledger", SNAPSHOT))
    assert [(item["task"], item["action"]) for item in report["incident_actions"]] == [
        ("Set the PostgreSQL server's incident mode - orders-db", "set log_connections = on (was off)"),
        ("Set the PostgreSQL server's incident mode - orders-db", "refuse logins of role reporter (NOLOGIN)"),
        ("Quarantine the instances", "quarantine i-0abc (eni-1: sg-1, sg-2 -> sg-q)"),
        ("Record the rotation", "IAM user deployer: new access key in use, 1 old key(s)"),
    ]
    assert report["incident_actions"][0]["at"] == "2026-11-23T04:00:01Z"
    assert report["components"] == []
    markdown = render_markdown(report)
    assert "## Incident actions" in markdown and "| set log_connections = on (was off) |" in markdown
    assert "<h2>Incident actions</h2>" in render_html(report) and "IAM user deployer" in render_html(report)


def test_the_record_of_what_was_changed_stays_out_of_the_report():
    """recorded holds what the closing run puts back (settings, users, groups): it is state, not an action."""
    report = run(("Set the PostgreSQL server's incident mode - orders-db", LOGGING))
    assert "altered" not in json.dumps(report["incident_actions"])


def test_failed_actions_and_runs_without_incident_show_no_section():
    assert run(("Set the PostgreSQL server's incident mode - orders-db", LOGGING), status="failed")["incident_actions"] == []
    report = run(("Snapshot the ledger", SNAPSHOT))
    assert report["incident_actions"] == [] and "Incident actions" not in render_markdown(report)
