# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedules: the backup runs the components make, and the restore test's and RPO check's times."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan


def test_components_without_a_schedule_share_the_plans_backup_schedule():
    resolved = resolve(PLAN)
    assert resolved["components"]["orders-db"]["backup"]["schedule"] == "daily"
    # The s3 component's object versions are its backups: no run backs it up.
    assert resolved["schedules"] == {
        "backup": [{"schedule": "daily", "components": ["orders-db", "sessions", "uploads"]}],
        "restore_test": "daily",
        "rpo_check": "hourly",
    }
    hourly = resolve(plan(backup_schedule="hourly", restore_test_schedule="Sat 04:00", rpo_check_schedule="*:0/15"))
    assert hourly["schedules"] == {
        "backup": [{"schedule": "hourly", "components": ["orders-db", "sessions", "uploads"]}],
        "restore_test": "Sat 04:00",
        "rpo_check": "*:0/15",
    }


def test_components_with_the_same_schedule_share_one_backup_run():
    changed = copy.deepcopy(PLAN)
    changed["backup_schedule"] = "*-*-* 02:00:00"
    changed["components"][0]["backup"]["schedule"] = "*:0/15"
    changed["components"][2]["backup"]["schedule"] = "*:0/15"
    resolved = resolve(changed)
    assert resolved["schedules"]["backup"] == [
        {"schedule": "*:0/15", "components": ["orders-db", "uploads"]},
        {"schedule": "*-*-* 02:00:00", "components": ["sessions"]},
    ]
    assert resolved["components"]["sessions"]["backup"]["schedule"] == "*-*-* 02:00:00"


def test_a_site_may_back_up_a_component_on_its_own_schedule():
    changed = copy.deepcopy(PLAN)
    changed["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"schedule": "hourly"}
    assert resolve(changed, "secondary")["schedules"]["backup"] == [
        {"schedule": "hourly", "components": ["orders-db"]},
        {"schedule": "daily", "components": ["sessions", "uploads"]},
    ]
    assert resolve(changed, "primary")["components"]["orders-db"]["backup"]["schedule"] == "daily"


@pytest.mark.parametrize("schedule", ["", "   ", 15, ["daily"], "daily\nExecStartPre=/bin/sh", "daily\x00"])
def test_a_schedule_that_is_not_one_line_of_text_is_a_problem(schedule):
    changed = copy.deepcopy(PLAN)
    changed["rpo_check_schedule"] = schedule
    changed["components"][1]["backup"]["schedule"] = schedule
    changed["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"schedule": schedule}
    problems = validate(changed)
    assert [problem.split(" is ", maxsplit=1)[0] for problem in problems] == [
        "dr_plan.rpo_check_schedule", "component sessions backup.schedule",
        "site secondary component orders-db backup.schedule",
    ]
    assert "systemd calendar expression on one line" in problems[0]
