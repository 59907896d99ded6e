# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hooks of a DR plan, checked and with defaults: one hook format, two uses.

- Consistency hooks: backup.hooks (pre, post) of the plan and of each
  component, run before and after the backups (docs/dr-plan.md, "Consistency hooks").
- Recovery hooks: hooks (before_restore, after_restore, before_failover,
  after_failover, after_failback) of the plan, of each site and of each
  component, run around the phases of a recovery (docs/dr-plan.md, "Recovery hooks").

A hook is a command (an argument list, never a shell) or a task file.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import component_places, refuse_unknown_keys, seconds

# Consistency hooks (docs/dr-plan.md, "Consistency hooks"): backup.hooks.pre / .post of the plan and of a component.
HOOK_STAGES = ("pre", "post")
HOOK_KEYS = frozenset(("name", "command", "chdir", "tasks", "timeout", "retries", "delay", "host", "check_safe"))
HOOK_TIMEOUT = 300
# A failed command hook runs again this many times, after a delay in seconds (a task file's tasks retry on their own).
HOOK_RETRIES = 0
HOOK_DELAY = 5
# Recovery hooks (docs/dr-plan.md, "Recovery hooks"): hooks.<phase> of the plan, of sites.<site> and of a component.
RECOVERY_PHASES = ("before_restore", "after_restore", "before_failover", "after_failover", "after_failback")
# The keys of the plan's top-level backup mapping.
PLAN_BACKUP_KEYS = frozenset(("hooks",))


def _hook(hook: t.Any, where: str, default_host: str | None, problems: list[str]) -> dict[str, t.Any] | None:
    """One hook checked and with its defaults (name, timeout, retries, delay, host, check_safe), or None after a
    problem."""
    if not isinstance(hook, dict):
        problems.append(f"{where} must be a mapping with command (an argument list) or tasks (a task file)")
        return None
    found = len(problems)
    refuse_unknown_keys(hook, HOOK_KEYS, where, problems)
    command, tasks = hook.get("command"), hook.get("tasks")
    if (command is None) == (tasks is None):
        problems.append(f"{where} needs exactly one of command (an argument list) or tasks (a task file)")
    if isinstance(command, str):
        problems.append(
            f"{where}.command is the string {command!r}; write it as a list of arguments "
            f"(command: {command.split()!r}): hooks never run through a shell"
        )
    elif command is not None and (
        not isinstance(command, list) or not command
        or any(isinstance(part, bool) or not isinstance(part, (str, int, float)) for part in command)
    ):
        problems.append(f"{where}.command must be a non-empty list of arguments (strings), like [systemctl, stop, app]")
    if tasks is not None and (not isinstance(tasks, str) or not tasks.strip()):
        problems.append(f"{where}.tasks must be the path of a task file, like hooks/pause-writes.yml")
    chdir = hook.get("chdir")
    if chdir is not None and (tasks is not None or not isinstance(chdir, str) or not chdir):
        problems.append(f"{where}.chdir must be a directory (a string), and only goes with command")
    for key in ("name", "host"):
        if hook.get(key) is not None and (not isinstance(hook[key], str) or not hook[key].strip()):
            problems.append(f"{where}.{key} must be a non-empty string")
    check_safe = hook.get("check_safe", False)
    if not isinstance(check_safe, bool):
        problems.append(f"{where}.check_safe is {check_safe!r}; write true or false")
    timeout = hook.get("timeout", HOOK_TIMEOUT)
    if isinstance(timeout, bool):
        problems.append(f"{where}.timeout is {timeout!r}; give seconds (300) or a duration (5m)")
    else:
        timeout = seconds(timeout, f"{where}.timeout", problems)
        if timeout is not None and timeout <= 0:
            problems.append(f"{where}.timeout must be more than 0 seconds")
    retries = hook.get("retries", HOOK_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        problems.append(f"{where}.retries is {retries!r}; give how many times a failed hook runs again (0, 1, 2 ...)")
    elif tasks is not None and ("retries" in hook or "delay" in hook):
        problems.append(f"{where} has retries or delay, which only go with command: give the tasks of {tasks} "
                        "their own retries (the task keywords retries, delay and until)")
    delay = hook.get("delay", HOOK_DELAY)
    if isinstance(delay, bool):
        problems.append(f"{where}.delay is {delay!r}; give seconds (10) or a duration (30s)")
    else:
        delay = seconds(delay, f"{where}.delay", problems)
        if delay is not None and delay < 0:
            problems.append(f"{where}.delay must be 0 seconds or more")
    if len(problems) > found:
        return None
    argv = [str(part) for part in command] if command is not None else None
    return {
        "name": hook.get("name") or (" ".join(argv) if argv else str(tasks)),
        "kind": "command" if argv else "tasks",
        "command": argv,
        "chdir": chdir,
        "tasks": tasks,
        "timeout": timeout,
        "retries": retries,
        "delay": delay,
        "host": hook.get("host") or default_host,
        "check_safe": check_safe,
    }


def _staged(
    value: t.Any, stages: tuple[str, ...], where: str, default_host: str | None, problems: list[str],
) -> dict[str, list[dict[str, t.Any]]]:
    """A mapping of stages to lists of hooks checked, each hook with its defaults; every stage is in the result."""
    resolved: dict[str, list[dict[str, t.Any]]] = {stage: [] for stage in stages}
    names = " and ".join((", ".join(stages[:-1]), stages[-1])) if len(stages) > 1 else stages[0]
    if value is None:
        return resolved
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping with {names.replace(' and ', ' and/or ')} (lists of hooks)")
        return resolved
    unknown = sorted(map(str, set(value) - set(stages)))
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)}; the keys are {names}")
    for stage in stages:
        items = value.get(stage)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{where}.{stage} must be a list of hooks (each with command or tasks)")
            continue
        for position, item in enumerate(items, start=1):
            hook = _hook(item, f"{where}.{stage}[{position}]", default_host, problems)
            if hook is not None:
                resolved[stage].append(hook)
    return resolved


def hooks(value: t.Any, where: str, default_host: str | None, problems: list[str]) -> dict[str, list[dict[str, t.Any]]]:
    """A backup.hooks mapping checked, each hook with its defaults: {"pre": [...], "post": [...]}.

    where names the mapping in messages (dr_plan.backup.hooks, component orders-db backup.hooks); default_host
    is the host a hook without `host` runs on (None: the host the play runs on, the controller).
    """
    return _staged(value, HOOK_STAGES, where, default_host, problems)


def recovery_hooks(
    value: t.Any, where: str, default_host: str | None, problems: list[str],
) -> dict[str, list[dict[str, t.Any]]]:
    """A recovery hooks mapping checked, each hook with its defaults: {phase: [...]} for every RECOVERY_PHASES.

    where names the mapping in messages (dr_plan.hooks, dr_plan.sites.secondary.hooks, component orders-db hooks).
    """
    return _staged(value, RECOVERY_PHASES, where, default_host, problems)


def check_hooks(plan: dict[str, t.Any], problems: list[str]) -> None:
    """backup.hooks of the plan, of each component, and of each site's component overrides."""
    backup = plan.get("backup")
    if backup is not None:
        if not isinstance(backup, dict):
            problems.append("dr_plan.backup must be a mapping (hooks)")
        else:
            refuse_unknown_keys(backup, PLAN_BACKUP_KEYS, "dr_plan.backup", problems)
            hooks(backup.get("hooks"), "dr_plan.backup.hooks", None, problems)
    for site, component in component_places(plan):
        backup = component.get("backup")
        if isinstance(backup, dict) and "hooks" in backup:
            where = f"component {component.get('name')} backup.hooks"
            hooks(backup["hooks"], f"site {site} {where}" if site else where, None, problems)


def check_recovery_hooks(plan: dict[str, t.Any], problems: list[str]) -> None:
    """The recovery hooks of the plan, of each site, of each component and of each site's component overrides."""
    recovery_hooks(plan.get("hooks"), "dr_plan.hooks", None, problems)
    sites = plan.get("sites")
    for site, settings in sites.items() if isinstance(sites, dict) else []:
        if isinstance(settings, dict) and "hooks" in settings:
            recovery_hooks(settings["hooks"], f"dr_plan.sites.{site}.hooks", None, problems)
    for site, component in component_places(plan):
        if "hooks" in component:
            where = f"component {component.get('name')} hooks"
            recovery_hooks(component["hooks"], f"site {site} {where}" if site else where, None, problems)
