# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security section's evidence and restore keys: evidence_logs, evidence_component, restore_components."""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import COMPONENT_PATTERN

EVIDENCE_LOG_KEYS = frozenset(("path", "component"))


def check_security_evidence(security: t.Any, names: t.Sequence[str], problems: list[str]) -> None:
    """Log files to collect (a path on the controller, or {path, component} on that component's host), where the
    evidence sets are kept, and what -e intrusion_time restores."""
    if not isinstance(security, dict):
        return
    for position, item in enumerate(security.get("evidence_logs") or [], start=1):
        where = f"security.evidence_logs {position}"
        if isinstance(item, dict):
            unknown = sorted(map(str, set(item) - EVIDENCE_LOG_KEYS))
            if unknown:
                problems.append(f"{where} has unknown key(s) {', '.join(unknown)}; the keys are component, path")
            if item.get("component") not in names:
                problems.append(f"{where} names component {item.get('component')!r}, which is not a component of "
                                "the plan (the log file is read on that component's host)")
            item = item.get("path")
        if not isinstance(item, str) or not item.startswith("/"):
            problems.append(f"{where} must be an absolute path, or a mapping of path and component")
    component = security.get("evidence_component")
    if component is not None and (not isinstance(component, str) or not COMPONENT_PATTERN.match(component)):
        problems.append(f"security.evidence_component {component!r} is not a valid name for the repository "
                        "(letters, digits, '.', '_', '-')")
    elif component in names:
        problems.append(f"security.evidence_component {component} is a component of the plan: give the evidence sets "
                        "a name of their own in the repository")
    restore = security.get("restore_components")
    if restore is not None:
        if not isinstance(restore, list):
            problems.append("security.restore_components must be a list of component names")
        else:
            for name in restore:
                if name not in names:
                    problems.append(f"security.restore_components names {name!r}, which is not a component of the plan")
