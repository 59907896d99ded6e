# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hook runs (the fact plan_hook_report the hook runner sets) in the report: in order, failed ones too, with their output."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import component_events
from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay


def hook(name, stage, **changes):
    record = {"scope": "the plan", "stage": stage, "name": name, "kind": "command", "host": "localhost", "skipped": False,
              "rc": 0, "duration_s": 1.25, "stdout_tail": "", "failed": False, "timed_out": False, "msg": None}
    return {**record, **changes}


def run_with(*hooks):
    events = [
        {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/level1_component.yml"},
        {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Level 1", "extra_vars": {}},
    ]
    for position, record in enumerate(hooks):
        events += [
            {"event": "task_start", "time": f"2026-11-23T04:00:{10 + position:02d}Z", "task_id": str(position),
             "name": f"Note the hook's run - {record['name']}", "action": "ansible.builtin.set_fact"},
            {"event": "task_result", "time": f"2026-11-23T04:00:{10 + position:02d}Z", "task_id": str(position),
             "status": "ok", "result": {"ansible_facts": {"plan_hook_report": record}}},
        ]
    events.append({"event": "stats", "time": "2026-11-23T04:01:00Z", "stats": {}})
    return replay(events).report()


def test_a_hook_record_is_one_hook_event_and_other_facts_are_none():
    [event] = component_events("ansible.builtin.set_fact", {"ansible_facts": {"plan_hook_report": hook("migrate", "after_restore")}})
    assert event["kind"] == "hook" and event["hook_kind"] == "command" and event["name"] == "migrate" and event["stage"] == "after_restore"
    assert component_events("ansible.builtin.set_fact", {"ansible_facts": {"plan_hook_report": {"name": "no stage"}}}) == []
    assert component_events("ansible.builtin.set_fact", {"ansible_facts": {"plan_hook_stage_runs": [hook("x", "pre")]}}) == []


def test_the_report_lists_every_hook_in_order_with_its_output_and_failures():
    report = run_with(
        hook("silence alerts", "before_restore", rc=None, kind="tasks"),
        hook("migrate", "after_restore", scope="component orders-db", stdout_tail="applied 3 migrations\nschema at 42"),
        hook("page", "after_restore", failed=True, rc=1, msg="The after_restore hook 'page' of the plan on localhost failed"),
        hook("warm caches", "after_failover", skipped=True, rc=None),
    )
    assert [(item["stage"], item["name"], item["failed"]) for item in report["hooks"]] == [
        ("before_restore", "silence alerts", False), ("after_restore", "migrate", False), ("after_restore", "page", True),
        ("after_failover", "warm caches", False)]
    assert report["hooks"][0]["kind"] == "tasks" and report["hooks"][1]["kind"] == "command"
    assert report["hooks"][1]["stdout_tail"] == "applied 3 migrations\nschema at 42"
    assert report["hooks"][1]["end"] == "2026-11-23T04:00:11Z"
    markdown = render_markdown(report)
    assert "## Hooks" in markdown
    assert ("| 2026-11-23T04:00:11Z | after_restore | component orders-db | migrate | localhost | ok, exit status 0 | 1.2s "
            "| applied 3 migrations schema at 42 |") in markdown
    assert "| FAILED, exit status 1 |" in markdown and "(The after_restore hook 'page' of the plan on localhost failed)" in markdown
    assert "| skipped (check mode) |" in markdown
    assert "<h2>Hooks</h2>" in render_html(report) and "applied 3 migrations" in render_html(report)


def test_a_run_without_hooks_has_no_hooks_section():
    report = run_with()
    assert report["hooks"] == []
    assert "## Hooks" not in render_markdown(report) and "<h2>Hooks</h2>" not in render_html(report)
