# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery hooks (hooks.<phase> of the plan, a site and a component): defaults, hosts, and mistakes with their path."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.hooks import RECOVERY_PHASES
from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan

NO_HOOKS = {phase: [] for phase in RECOVERY_PHASES}


def test_recovery_hooks_of_the_plan_site_and_component_resolve_with_their_defaults():
    hooked = plan(hooks={"after_failover": [{"name": "update monitoring", "command": ["monitoring-ctl", "site", "secondary"]}]})
    hooked["sites"]["secondary"]["hooks"] = {"after_failover": [{"tasks": "hooks/warm-caches.yml", "timeout": "10m"}]}
    hooked["components"][0]["hooks"] = {"after_restore": [{"name": "apply migrations", "command": ["shopfront-migrate"],
                                                           "chdir": "/srv/shopfront"}]}
    hooked["components"][0]["host"] = "db1"
    assert validate(hooked) == []
    resolved = resolve(hooked, "secondary")
    assert resolved["hooks"] == {**NO_HOOKS, "after_failover": [{
        "name": "update monitoring", "kind": "command", "command": ["monitoring-ctl", "site", "secondary"], "chdir": None,
        "tasks": None, "timeout": 300, "retries": 0, "delay": 5, "host": None, "check_safe": False}]}
    assert resolved["site_hooks"] == {**NO_HOOKS, "after_failover": [{
        "name": "hooks/warm-caches.yml", "kind": "tasks", "command": None, "chdir": None,
        "tasks": "hooks/warm-caches.yml", "timeout": 600, "retries": 0, "delay": 5, "host": None, "check_safe": False}]}
    name = hooked["components"][0]["name"]
    assert resolved["components"][name]["hooks"] == {**NO_HOOKS, "after_restore": [{
        "name": "apply migrations", "kind": "command", "command": ["shopfront-migrate"], "chdir": "/srv/shopfront",
        "tasks": None, "timeout": 300, "retries": 0, "delay": 5, "host": "db1", "check_safe": False}]}
    # The primary site has no hooks of its own; the plan's apply on every site.
    assert resolve(hooked, "primary")["site_hooks"] == NO_HOOKS
    assert resolve(hooked, "primary")["hooks"] == resolved["hooks"]


def test_a_plan_without_recovery_hooks_resolves_to_empty_lists_for_every_phase():
    resolved = resolve(PLAN, "primary")
    assert resolved["hooks"] == NO_HOOKS and resolved["site_hooks"] == NO_HOOKS
    assert all(component["hooks"] == NO_HOOKS for component in resolved["components"].values())


def test_recovery_hook_mistakes_are_listed_with_their_path():
    hooked = plan(hooks={"after_restore": [{"command": "rake db:migrate"}], "during_restore": []})
    hooked["sites"]["secondary"]["hooks"] = {"before_failover": {"command": ["true"]},
                                             "after_failback": [{"command": ["true"], "retries": -1, "delay": "soon"}]}
    hooked["components"][1]["hooks"] = {"after_restore": [{"tasks": "warm.yml", "check_safe": "no"}]}
    hooked["sites"]["secondary"]["components"]["orders-db"]["hooks"] = ["after_restore"]
    name = hooked["components"][1]["name"]
    assert validate(hooked) == [
        "dr_plan.hooks has unknown key(s) during_restore; the keys are before_restore, after_restore, before_failover, "
        "after_failover and after_failback",
        "dr_plan.hooks.after_restore[1].command is the string 'rake db:migrate'; write it as a list of arguments "
        "(command: ['rake', 'db:migrate']): hooks never run through a shell",
        "dr_plan.sites.secondary.hooks.before_failover must be a list of hooks (each with command or tasks)",
        "dr_plan.sites.secondary.hooks.after_failback[1].retries is -1; give how many times a failed hook runs again "
        "(0, 1, 2 ...)",
        "dr_plan.sites.secondary.hooks.after_failback[1].delay 'soon' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        f"component {name} hooks.after_restore[1].check_safe is 'no'; write true or false",
        "site secondary component orders-db hooks must be a mapping with before_restore, after_restore, before_failover, "
        "after_failover and/or after_failback (lists of hooks)",
    ]
    with pytest.raises(PlanError, match=r"dr_plan.hooks has unknown key\(s\) during_restore"):
        resolve(hooked, "primary")


def test_a_site_override_of_a_component_recovery_hooks_is_used_only_on_that_site():
    hooked = plan()
    hooked["sites"]["secondary"]["components"]["orders-db"]["hooks"] = {"after_restore": [{"command": ["migrate", "--check"]}]}
    assert validate(hooked) == []
    assert resolve(hooked, "secondary")["components"]["orders-db"]["hooks"]["after_restore"][0]["command"] == ["migrate", "--check"]
    assert resolve(hooked, "primary")["components"]["orders-db"]["hooks"] == NO_HOOKS


def test_a_command_hook_retries_after_its_delay_and_a_task_file_is_told_to_retry_its_own_tasks():
    hooked = plan(hooks={"after_failover": [{"command": ["monitoring-ctl", "site", "secondary"], "retries": 3, "delay": "30s"}]})
    assert validate(hooked) == []
    [hook] = resolve(hooked, "secondary")["hooks"]["after_failover"]
    assert (hook["retries"], hook["delay"]) == (3, 30)
    refused = plan(hooks={"after_failover": [{"tasks": "hooks/monitoring.yml", "retries": 3}]})
    assert validate(refused) == [
        "dr_plan.hooks.after_failover[1] has retries or delay, which only go with command: give the tasks of "
        "hooks/monitoring.yml their own retries (the task keywords retries, delay and until)"]
