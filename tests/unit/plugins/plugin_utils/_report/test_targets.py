# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The targets' verdict: check mode, the recovery_targets task, and the measurements handed to it."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import (
    TARGETS_FILE_VARIABLE, publish_targets, should_fail, withdraw_targets,
)
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import fixture, report_of


def test_check_mode_never_judges_targets():
    events = fixture("level3")["events"]
    events[-1] = dict(events[-1], check_mode=True)
    report = replay(events).report(fail_on_target_miss=True)
    assert report["check_mode"] is True and report["targets"]["verdict"] == "check_mode"
    assert not should_fail(report)


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
