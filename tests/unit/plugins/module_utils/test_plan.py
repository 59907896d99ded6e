# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR plan: problems listed with names, dependency order, site resolution."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan import PlanError, batches, find_cycle, resolve, validate

PLAN = json.loads((Path(__file__).parent / "fixtures" / "plan_shopfront.json").read_text())


def plan(**changes):
    copied = copy.deepcopy(PLAN)
    copied.update(changes)
    return copied


def test_the_example_plan_is_valid():
    assert validate(PLAN) == []


def test_resolving_for_a_site_applies_its_overrides():
    resolved = resolve(PLAN, "secondary")
    database = resolved["components"]["orders-db"]
    assert database["connection"] == {"login_host": "db1.dr", "login_port": 5432, "db": "shopfront"}
    assert database["rpo_seconds"] == 900 and database["rto_seconds"] == 3600 and database["host"] == "localhost"
    assert resolved["services"]["api"]["start_command"] == ["systemctl", "start", "api-dr"]
    assert resolved["repository"] == {"repository": "s3://acme-dr/prod", "region": "eu-west-1", "encryption_recipients": ["age1example"]}
    assert resolve(PLAN, "primary")["components"]["orders-db"]["connection"]["login_host"] == "db1"


def test_restore_and_start_order():
    resolved = resolve(PLAN)
    assert resolved["restore_batches"] == [["orders-db", "sessions", "assets"], ["uploads"]]
    assert resolved["service_batches"] == [["api"], ["worker"]]
    assert resolved["dependants"]["orders-db"] == {"components": ["uploads"], "services": ["api", "worker"]}
    assert resolved["dns_records"][0]["site_values"] == {"primary": ["192.0.2.10"], "secondary": ["198.51.100.10"]}


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
        "component uploads has kind 'mongodb'; use one of postgresql, rds, redis, files, s3",
        "component assets rpo 'a while' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        "service worker requires queue, which is not a component of the plan",
        "site secondary overrides component ledger, which is not a component of the plan",
    ]
    assert str(failure.value).startswith("dr_plan has 6 problem(s):\n- component orders-db depends on billing-db")


def test_a_dependency_cycle_is_shown_as_a_path():
    cyclic = plan()
    cyclic["components"][0]["depends_on"] = ["uploads"]
    assert "components depend on each other in a cycle: orders-db -> uploads -> orders-db" in validate(cyclic)


def test_find_cycle_and_batches():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert batches({"a": [], "b": ["a"], "c": [], "d": ["b", "c"]}, ["a", "b", "c", "d"]) == [["a", "c"], ["b"], ["d"]]


def test_unknown_site_is_named():
    with pytest.raises(PlanError, match="site tertiary is not in dr_plan.sites"):
        resolve(PLAN, "tertiary")


def test_repository_components_need_a_repository():
    assert "dr_plan.repository.location is required: postgresql, redis and files components back up into it" in validate(plan(repository={}))
