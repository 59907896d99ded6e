# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores side by side: each component's restore time, the slowest, and the RTO as a multiple of it."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import Timeline
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import at, restore_result

ACTIONS = {"orders-db": "resilience.dr.pg_restore", "sessions": "resilience.dr.redis_restore",
           "uploads": "resilience.dr.files_restore"}


def _level2(restores):
    """A level 2 run from the playbook start at 0 s: each restore (component, start, end) in the foreground."""
    timeline = Timeline()
    timeline.playbook_start("level2_application.yml", at(0))
    timeline.play_start("Level 2", {}, at(0))
    for name, start, end in restores:
        timeline.task_start(f"restore-{name}", f"Restore {name}", ACTIONS[name], at(start))
        timeline.task_result(f"restore-{name}", "localhost", "changed",
                             restore_result(name, f"b-{name}", end - start), at(end))
    timeline.finish(at(max(end for _name, _start, end in restores) + 1), {})
    return timeline.report()


def test_restores_side_by_side_take_as_long_as_the_slowest():
    report = _level2([("orders-db", 4, 44), ("sessions", 5, 25), ("uploads", 5, 35)])
    parallel = report["parallel_restores"]
    assert parallel["restore_seconds"] == {"orders-db": 40.0, "sessions": 20.0, "uploads": 30.0}
    assert parallel["slowest_component"] == "orders-db"
    assert parallel["restore_window_seconds"] == 40.0 and parallel["window_to_slowest"] == 1.0
    # RTO 44 s (from the playbook start) against the slowest restore's 40 s.
    assert report["rto_seconds"] == 44.0 and parallel["rto_to_slowest"] == 1.1


def test_restores_one_after_another_show_as_a_multiple_of_the_slowest():
    report = _level2([("orders-db", 0, 40), ("uploads", 40, 70)])
    parallel = report["parallel_restores"]
    assert parallel["restore_window_seconds"] == 70.0 and parallel["window_to_slowest"] == 1.75
    assert parallel["rto_to_slowest"] == 1.75


def test_the_report_pages_name_the_slowest_restore_and_the_parallel_efficiency():
    report = _level2([("orders-db", 4, 44), ("sessions", 5, 25)])
    markdown = render_markdown(report)
    assert ("- Restores side by side: slowest restore orders-db 40.0s; all restores took 40.0s (1.00x the slowest), "
            "RTO 1.10x the slowest restore (parallel efficiency)") in markdown
    assert "| orders-db | 40.0s |\n| sessions | 20.0s |" in markdown
    assert "RTO 1.10x the slowest restore" in render_html(report)


def test_a_run_that_restored_nothing_has_no_parallel_restores():
    timeline = Timeline()
    timeline.playbook_start("backup.yml", at(0))
    timeline.finish(at(5), {})
    report = timeline.report()
    assert report["parallel_restores"] is None
    assert "Restores side by side" not in render_markdown(report)
