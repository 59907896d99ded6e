# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking a plan: every problem listed at once, with the names it concerns."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan


def test_the_example_plan_is_valid():
    assert validate(PLAN) == []


def test_every_problem_is_listed_at_once():
    broken = plan()
    broken["components"][0]["depends_on"] = ["billing-db"]
    broken["components"][1].pop("backup")
    broken["components"][2]["kind"] = "mongodb"
    broken["components"][3]["rpo"] = "a while"
    broken["services"][1]["requires"] = ["queue"]
    broken["sites"]["secondary"]["components"]["ledger"] = {}
    with pytest.raises(PlanError) as failure:
        resolve(broken)
    problems = failure.value.details["problems"]
    assert problems == [
        "component orders-db depends on billing-db, which is not a component of the plan",
        "component sessions has no backup: every component needs one (backup.method: rdb|online)",
        "component uploads has kind 'mongodb'; use one of postgresql, rds, redis, files, s3, elasticache",
        "component assets rpo 'a while' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        "service worker requires queue, which is not a component of the plan",
        "site secondary overrides component ledger, which is not a component of the plan",
    ]
    assert str(failure.value).startswith("dr_plan has 6 problem(s):\n- component orders-db depends on billing-db")


def test_a_dependency_cycle_is_shown_as_a_path():
    cyclic = plan()
    cyclic["components"][0]["depends_on"] = ["uploads"]
    assert "components depend on each other in a cycle: orders-db -> uploads -> orders-db" in validate(cyclic)


def test_restore_parallel_must_be_a_boolean():
    broken = plan()
    broken["components"][0]["restore"] = {"parallel": "no"}
    assert "component orders-db has restore.parallel 'no'; write true or false" in validate(broken)


def test_unknown_restore_test_keys_are_named():
    problems = validate(plan(restore_test={"basedir": "/var/tmp", "server": {"host": "x"}}))
    assert any(problem.startswith("dr_plan.restore_test has unknown key(s) basedir; the keys are base_dir,")
               for problem in problems), problems
    assert any(problem.startswith("dr_plan.restore_test.server has unknown key(s) host; the keys are db, login_host,")
               for problem in problems), problems
    assert "dr_plan.restore_test must be a mapping" in validate(plan(restore_test="/var/tmp"))[0]
