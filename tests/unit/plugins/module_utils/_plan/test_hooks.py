# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consistency hooks (backup.hooks): defaults, the host they run on, and every mistake with its path."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan


def with_hooks(plan_hooks=None, **component_hooks):
    """The example plan with backup.hooks at the plan level and on the named components."""
    changed = plan()
    if plan_hooks is not None:
        changed["backup"] = {"hooks": plan_hooks}
    for component in changed["components"]:
        if component["name"] in component_hooks:
            component["backup"]["hooks"] = component_hooks[component["name"]]
    return changed


def test_hooks_get_their_defaults_and_component_hooks_run_on_the_component_host():
    hooked = with_hooks(
        {"pre": [{"name": "pause writes", "command": ["shopfront-ctl", "pause", 30], "timeout": "2m"}],
         "post": [{"tasks": "hooks/resume.yml", "host": "app1", "check_safe": True}]},
        sessions={"pre": [{"command": ["redis-cli", "CLIENT", "PAUSE", "30000"], "chdir": "/tmp"}]},
    )
    hooked["components"][1]["host"] = "cache1"
    assert validate(hooked) == []
    resolved = resolve(hooked, "primary")
    assert resolved["backup"]["hooks"] == {
        "pre": [{"name": "pause writes", "kind": "command", "command": ["shopfront-ctl", "pause", "30"], "chdir": None,
                 "tasks": None, "timeout": 120, "retries": 0, "delay": 5, "host": None, "check_safe": False}],
        "post": [{"name": "hooks/resume.yml", "kind": "tasks", "command": None, "chdir": None,
                  "tasks": "hooks/resume.yml", "timeout": 300, "retries": 0, "delay": 5, "host": "app1", "check_safe": True}],
    }
    sessions = resolved["components"]["sessions"]["backup"]
    assert sessions["method"] == "rdb"
    assert sessions["hooks"]["post"] == []
    assert sessions["hooks"]["pre"] == [{
        "name": "redis-cli CLIENT PAUSE 30000", "kind": "command", "command": ["redis-cli", "CLIENT", "PAUSE", "30000"],
        "chdir": "/tmp", "tasks": None, "timeout": 300, "retries": 0, "delay": 5, "host": "cache1", "check_safe": False,
    }]
    assert resolved["components"]["orders-db"]["backup"]["hooks"] == {"pre": [], "post": []}


def test_a_plan_without_hooks_resolves_to_empty_hook_lists():
    resolved = resolve(PLAN, "primary")
    assert resolved["backup"] == {"hooks": {"pre": [], "post": []}}
    assert all(component["backup"]["hooks"] == {"pre": [], "post": []} for component in resolved["components"].values())


def test_a_hook_command_given_as_a_shell_string_is_refused_with_the_list_to_write():
    problems = validate(with_hooks({"pre": [{"command": "shopfront-ctl pause --all"}]}))
    assert problems == [
        "dr_plan.backup.hooks.pre[1].command is the string 'shopfront-ctl pause --all'; write it as a list of "
        "arguments (command: ['shopfront-ctl', 'pause', '--all']): hooks never run through a shell"
    ]
    with pytest.raises(PlanError, match=r"component sessions backup.hooks.post\[1\].command is the string"):
        resolve(with_hooks(sessions={"post": [{"command": "redis-cli CLIENT UNPAUSE"}]}), "primary")


def test_hook_mistakes_are_listed_with_their_path():
    problems = validate(with_hooks(
        {"pre": [{"command": ["true"], "tasks": "x.yml"}, {"name": "nothing"}, "pause"], "during": []},
        **{"orders-db": {"post": [{"command": [], "timeout": 0}, {"command": ["true"], "check_safe": "yes", "shell": True}]},
           "uploads": {"pre": {"command": ["sync"]}}},
    ))
    assert problems == [
        "dr_plan.backup.hooks has unknown key(s) during; the keys are pre and post",
        "dr_plan.backup.hooks.pre[1] needs exactly one of command (an argument list) or tasks (a task file)",
        "dr_plan.backup.hooks.pre[2] needs exactly one of command (an argument list) or tasks (a task file)",
        "dr_plan.backup.hooks.pre[3] must be a mapping with command (an argument list) or tasks (a task file)",
        "component orders-db backup.hooks.post[1].command must be a non-empty list of arguments (strings), like "
        "[systemctl, stop, app]",
        "component orders-db backup.hooks.post[1].timeout must be more than 0 seconds",
        "component orders-db backup.hooks.post[2] has unknown key(s) shell; the keys are chdir, check_safe, command, "
        "delay, host, name, retries, tasks, timeout",
        "component orders-db backup.hooks.post[2].check_safe is 'yes'; write true or false",
        "component uploads backup.hooks.pre must be a list of hooks (each with command or tasks)",
    ]


def test_hook_timeouts_chdir_and_the_plan_backup_mapping_are_checked():
    problems = validate(with_hooks({"pre": [{"command": ["true"], "timeout": "soon"},
                                            {"tasks": "pause.yml", "chdir": "/srv"},
                                            {"command": ["true"], "timeout": True, "host": ""}]}))
    assert problems == [
        "dr_plan.backup.hooks.pre[1].timeout 'soon' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        "dr_plan.backup.hooks.pre[2].chdir must be a directory (a string), and only goes with command",
        "dr_plan.backup.hooks.pre[3].host must be a non-empty string",
        "dr_plan.backup.hooks.pre[3].timeout is True; give seconds (300) or a duration (5m)",
    ]
    assert validate(plan(backup={"hook": {}})) == ["dr_plan.backup has unknown key(s) hook; the keys are hooks"]
    assert validate(plan(backup=["hooks"])) == ["dr_plan.backup must be a mapping (hooks)"]


def test_a_site_override_of_a_component_hooks_is_checked_and_used_there():
    hooked = plan()
    hooked["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"hooks": {"pre": [{"command": "psql -c checkpoint"}]}}
    assert validate(hooked)[0].startswith("site secondary component orders-db backup.hooks.pre[1].command is the string")
    hooked["sites"]["secondary"]["components"]["orders-db"]["backup"]["hooks"]["pre"][0]["command"] = ["psql", "-c", "checkpoint"]
    assert validate(hooked) == []
    assert resolve(hooked, "secondary")["components"]["orders-db"]["backup"]["hooks"]["pre"][0]["command"] == ["psql", "-c", "checkpoint"]
    assert resolve(hooked, "secondary")["components"]["orders-db"]["backup"]["method"] == "logical"
    assert resolve(hooked, "primary")["components"]["orders-db"]["backup"]["hooks"]["pre"] == []
