# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A security incident's evidence set in the report: its id under evidence_sets, never a recovered component."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay

SET_ID = "20261123T040005Z-ev1d3n"
STORED = {"changed": True, "component": "security-evidence", "backup_id": SET_ID, "repository": "/srv/backups",
          "pieces": [{"name": "orders-db/pg_stat_activity.csv"}, {"name": "sessions/acl_log.json"}]}
VERIFIED = {"changed": True, "verified": [{"component": "security-evidence", "backup_id": SET_ID, "ok": True}]}


def run(*results):
    events = [
        {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/security_incident.yml"},
        {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Security incident", "extra_vars": {}},
    ]
    for number, (action, result) in enumerate(results):
        events += [
            {"event": "task_start", "time": "2026-11-23T04:00:01Z", "task_id": str(number), "name": f"task {number}",
             "action": action},
            {"event": "task_result", "time": "2026-11-23T04:00:05Z", "task_id": str(number), "status": "ok",
             "result": result},
        ]
    events.append({"event": "stats", "time": "2026-11-23T04:00:09Z", "stats": {}})
    return replay(events).report()


def test_the_evidence_set_id_is_reported_and_is_no_component():
    report = run(("resilience.dr.evidence_store", STORED), ("resilience.dr.backup_verify", VERIFIED))
    assert report["evidence_sets"] == [{"component": "security-evidence", "backup_id": SET_ID, "pieces": 2,
                                        "repository": "/srv/backups"}]
    assert report["components"] == []
    assert f"Evidence set {SET_ID} (2 pieces) stored as security-evidence in /srv/backups" in render_markdown(report)
    assert SET_ID in render_html(report)


def test_a_check_run_stores_no_evidence_set():
    report = run(("resilience.dr.evidence_store", {**STORED, "backup_id": None, "changed": True}))
    assert report["evidence_sets"] == [] and report["components"] == []
