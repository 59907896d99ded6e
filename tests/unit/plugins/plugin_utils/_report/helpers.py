# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recorded runs every test of the report starts from: the fixtures, and results made at a fixed time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name):
    return json.loads((FIXTURES / f"report_{name}.json").read_text())


def report_of(name, **options):
    return replay(fixture(name)["events"]).report(**options)


def at(seconds):
    return datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def restore_result(component, backup_id, duration, **extra):
    return {"changed": True, "component": component, "backup_id": backup_id, "duration_s": duration,
            "consistency_point": {"time": "2026-11-23T03:55:00Z"}, "verification": {"ok": True}, **extra}


CHECK_MODE_RUN = [
    {"event": "playbook_start", "time": "2026-11-23T04:00:00Z", "playbook": "playbooks/level2_application.yml"},
    {"event": "play_start", "time": "2026-11-23T04:00:00Z", "name": "Level 2", "extra_vars": {}},
    {"event": "task_start", "time": "2026-11-23T04:00:00Z", "task_id": "a", "name": "Stop the application",
     "action": "ansible.builtin.systemd"},
    {"event": "task_result", "time": "2026-11-23T04:00:02Z", "task_id": "a", "status": "ok", "result": {}},
    {"event": "stats", "time": "2026-11-23T04:00:03Z", "stats": {}, "check_mode": True},
]
