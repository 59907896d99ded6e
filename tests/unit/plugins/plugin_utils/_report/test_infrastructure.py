# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 3's infrastructure step (the fact dr_infrastructure) in the report: what was planned or applied, the outputs'
names and where the used ones went, never a value."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import component_events
from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay


def step(**changes):
    record = {"site": "secondary", "project_path": "/srv/shopfront/terraform", "workspace": "secondary", "check_mode": False,
              "changed": True, "summary": "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.",
              "outputs": ["app_address", "region"], "sensitive_outputs": ["admin_token"],
              "fed": {"app_address": "address"}, "unknown": []}
    return {**record, **changes}


def run_with(*steps, check_mode=False):
    events = [
        {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/level3_site.yml"},
        {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Level 3", "extra_vars": {}},
    ]
    for position, record in enumerate(steps):
        events += [
            {"event": "task_start", "time": f"2026-11-23T04:00:{10 + position:02d}Z", "task_id": str(position),
             "name": "Use the infrastructure's outputs in every later step, and record the step for the report",
             "action": "ansible.builtin.set_fact"},
            {"event": "task_result", "time": f"2026-11-23T04:00:{12 + position:02d}Z", "task_id": str(position),
             "status": "ok", "result": {"ansible_facts": {"dr_infrastructure": record, "plan_resolved": {"name": "shopfront"}}}},
        ]
    events.append({"event": "stats", "time": "2026-11-23T04:01:00Z", "stats": {}, "check_mode": check_mode})
    return replay(events).report()


def test_the_fact_is_one_infrastructure_event_and_a_fact_without_a_project_is_none():
    [event] = component_events("ansible.builtin.set_fact", {"ansible_facts": {"dr_infrastructure": step()}})
    assert event["kind"] == "infrastructure" and event["workspace"] == "secondary" and event["fed"] == {"app_address": "address"}
    assert component_events("ansible.builtin.set_fact", {"ansible_facts": {"dr_infrastructure": {"site": "secondary"}}}) == []


def test_the_report_says_what_was_applied_and_names_the_outputs_without_values():
    report = run_with(step())
    assert report["infrastructure"] == [{**step(), "end": "2026-11-23T04:00:12Z"}]
    markdown = render_markdown(report)
    assert "## Infrastructure" in markdown
    assert ("| 2026-11-23T04:00:12Z | secondary | /srv/shopfront/terraform (secondary) | Apply complete! Resources: 1 added, "
            "0 changed, 0 destroyed. | app_address -> address | region, admin_token (sensitive) |") in markdown
    assert "<h2>Infrastructure</h2>" in render_html(report)


def test_a_check_run_says_it_only_planned_and_which_outputs_are_known_after_the_apply():
    report = run_with(step(check_mode=True, summary="Plan: 1 to add, 0 to change, 0 to destroy.", outputs=[],
                           sensitive_outputs=[], fed={}, unknown=["app_address"]), check_mode=True)
    markdown = render_markdown(report)
    assert ("| planned (check mode): Plan: 1 to add, 0 to change, 0 to destroy. | -; known after the apply: app_address | - |"
            in markdown)


def test_a_run_without_infrastructure_has_no_section():
    report = run_with()
    assert report["infrastructure"] == [] and "Infrastructure" not in render_markdown(report)
