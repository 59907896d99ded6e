# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's security keys of isolation, extra logging and notifications (security_incident, docs/dr-plan.md,
"Isolation, extra logging and notifications"): references to components, shapes, unknown keys."""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import refuse_unknown_keys

INCIDENT_MODE_KINDS = ("postgresql", "redis")
REVOKE_KEYS = frozenset(("component", "users"))
QUARANTINE_KEYS = frozenset(("security_groups", "nftables"))
SECURITY_GROUP_KEYS = frozenset(("instance_ids", "quarantine_group_id", "aws"))
NFTABLES_KEYS = frozenset(("host", "allow", "path"))
ALLOW_KEYS = frozenset(("source", "ports"))
HOOK_TYPES = ("webhook", "slack", "email")


def _names(value: t.Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) and item for item in value)


def _entries(security: dict[str, t.Any], key: str, problems: list[str]) -> list[tuple[str, dict[str, t.Any]]]:
    """The mappings listed under security.<key>, each with where it is; anything else is a problem."""
    value = security.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"dr_plan.security.{key} must be a list")
        return []
    found = []
    for position, entry in enumerate(value, start=1):
        where = f"dr_plan.security.{key} entry {position}"
        if isinstance(entry, dict):
            found.append((where, entry))
        else:
            problems.append(f"{where} must be a mapping")
    return found


def _component(kinds: dict[t.Any, t.Any], name: t.Any, where: str, problems: list[str]) -> None:
    if kinds.get(name) not in INCIDENT_MODE_KINDS:
        problems.append(f"{where} names {name!r}, which is not a postgresql or redis component of the plan")


def _check_quarantine(quarantine: t.Any, problems: list[str]) -> None:
    if not isinstance(quarantine, dict):
        problems.append("dr_plan.security.quarantine must be a mapping (security_groups, nftables)")
        return
    refuse_unknown_keys(quarantine, QUARANTINE_KEYS, "dr_plan.security.quarantine", problems)
    for where, entry in _entries(quarantine, "security_groups", problems):
        where = where.replace("security.", "security.quarantine.")
        refuse_unknown_keys(entry, SECURITY_GROUP_KEYS, where, problems)
        if not _names(entry.get("instance_ids")):
            problems.append(f"{where} needs instance_ids, a list of the EC2 instances to quarantine")
        if not isinstance(entry.get("quarantine_group_id"), str) or not entry.get("quarantine_group_id"):
            problems.append(f"{where} needs quarantine_group_id, the security group that replaces the instances' groups")
    for where, entry in _entries(quarantine, "nftables", problems):
        where = where.replace("security.", "security.quarantine.")
        refuse_unknown_keys(entry, NFTABLES_KEYS, where, problems)
        if not isinstance(entry.get("host"), str) or not entry.get("host"):
            problems.append(f"{where} needs host, the inventory host whose inbound traffic is blocked")
        for number, allowed in enumerate(entry.get("allow") or [], start=1):
            if not isinstance(allowed, dict) or not isinstance(allowed.get("source"), str):
                problems.append(f"{where} allow {number} needs source, the responders' address or network")
                continue
            refuse_unknown_keys(allowed, ALLOW_KEYS, f"{where} allow {number}", problems)
            ports = allowed.get("ports") or []
            if not isinstance(ports, list) or not all(isinstance(port, int) and 0 < port < 65536 for port in ports):
                problems.append(f"{where} allow {number} has ports {ports!r}; give a list of TCP port numbers")


def check_incident_isolation(plan: dict[str, t.Any], problems: list[str]) -> None:
    """security.extra_logging, revoke_logins, quarantine, team_notifications, affected_users_template."""
    security = plan.get("security")
    if not isinstance(security, dict):
        return
    kinds = {component.get("name"): component.get("kind") for component in plan.get("components") or []
             if isinstance(component, dict)}
    logging = security.get("extra_logging")
    if logging is not None and not (isinstance(logging, list) and all(isinstance(name, str) for name in logging)):
        problems.append("dr_plan.security.extra_logging must be a list of postgresql and redis components")
    elif logging:
        for name in logging:
            _component(kinds, name, "dr_plan.security.extra_logging", problems)
    for where, entry in _entries(security, "revoke_logins", problems):
        refuse_unknown_keys(entry, REVOKE_KEYS, where, problems)
        _component(kinds, entry.get("component"), where, problems)
        if not _names(entry.get("users")):
            problems.append(f"{where} needs users, a list of the application's roles or ACL users whose logins are refused")
    if security.get("quarantine") is not None:
        _check_quarantine(security["quarantine"], problems)
    for where, hook in _entries(security, "team_notifications", problems):
        if hook.get("type") not in HOOK_TYPES:
            problems.append(f"{where} has type {hook.get('type')!r}; use webhook, slack or email")
    template = security.get("affected_users_template")
    if template is not None and (not isinstance(template, str) or not template):
        problems.append("dr_plan.security.affected_users_template must be the path of a Jinja template on the controller")
