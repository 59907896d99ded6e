# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repoint of an rds component: where the application learns the endpoint of a restored instance.

After an RDS restore the instance answers at another endpoint. `repoint` names what must hear of it: the
environment files of the services (KEY=value lines), Secrets Manager secrets (JSON keys, a new version), and
ECS services (a new task definition revision with the variables rewritten). Values may hold {endpoint} and
{port}, replaced with the restored instance's.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import refuse_unknown_keys, site_component

REPOINT_KEYS = frozenset(("values", "environment_files", "secrets", "ecs_services", "restart"))
ENVIRONMENT_FILE_KEYS = frozenset(("path", "host"))
SECRET_KEYS = frozenset(("secret_id", "keys"))
ECS_SERVICE_KEYS = frozenset(("cluster", "service", "containers", "variables", "secrets", "wait", "wait_timeout"))
PLACEHOLDERS = ("endpoint", "port")
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _check_values(values: t.Any, where: str, problems: list[str]) -> None:
    """A mapping of names to scalar values whose placeholders are {endpoint} and {port} only."""
    if not isinstance(values, dict):
        problems.append(f"{where} must be a mapping of names to values (DATABASE_HOST: \"{{endpoint}}\")")
        return
    for name, value in values.items():
        if isinstance(value, (dict, list)) or value is None:
            problems.append(f"{where}.{name} must be a string (a value, or one with {{endpoint}} and {{port}})")
            continue
        unknown = sorted({found for found in PLACEHOLDER.findall(str(value)) if found not in PLACEHOLDERS})
        if unknown:
            problems.append(f"{where}.{name} has the placeholder(s) {', '.join('{' + item + '}' for item in unknown)}; "
                            "the restored instance gives {endpoint} and {port}")


def _entries(value: t.Any, where: str, known: frozenset[str], required: tuple[str, ...],
             problems: list[str]) -> list[tuple[str, dict[str, t.Any]]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be a list")
        return []
    entries = []
    for position, entry in enumerate(value, start=1):
        label = f"{where}[{position}]"
        if not isinstance(entry, dict):
            problems.append(f"{label} must be a mapping ({', '.join(sorted(known))})")
            continue
        refuse_unknown_keys(entry, known, label, problems)
        missing = [key for key in required if not entry.get(key)]
        if missing:
            problems.append(f"{label} needs {' and '.join(missing)}")
        entries.append((label, entry))
    return entries


def _check_one(where: str, kind: t.Any, repoint: t.Any, problems: list[str]) -> None:
    if kind != "rds":
        problems.append(f"{where} has repoint, which only an rds component has (its restore gives a new endpoint)")
        return
    if not isinstance(repoint, dict):
        problems.append(f"{where} repoint must be a mapping ({', '.join(sorted(REPOINT_KEYS))})")
        return
    label = f"{where} repoint"
    refuse_unknown_keys(repoint, REPOINT_KEYS, label, problems)
    if repoint.get("values") is not None:
        _check_values(repoint["values"], f"{label}.values", problems)
    if "restart" in repoint and not isinstance(repoint["restart"], bool):
        problems.append(f"{label}.restart is {repoint['restart']!r}; write true or false")
    files = _entries(repoint.get("environment_files"), f"{label}.environment_files", ENVIRONMENT_FILE_KEYS,
                     ("path",), problems)
    for file_label, entry in files:
        if entry.get("path") and not str(entry["path"]).startswith("/"):
            problems.append(f"{file_label}.path {entry['path']!r} must be an absolute path")
    for secret_label, entry in _entries(repoint.get("secrets"), f"{label}.secrets", SECRET_KEYS,
                                        ("secret_id", "keys"), problems):
        if entry.get("keys"):
            _check_values(entry["keys"], f"{secret_label}.keys", problems)
    services = _entries(repoint.get("ecs_services"), f"{label}.ecs_services", ECS_SERVICE_KEYS,
                        ("cluster", "service"), problems)
    for service_label, entry in services:
        if entry.get("secrets") is not None and not isinstance(entry["secrets"], dict):
            problems.append(f"{service_label}.secrets must be a mapping of container secret names to ARNs")
        timeout = entry.get("wait_timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
            problems.append(f"{service_label}.wait_timeout is {timeout!r}; give the seconds to wait, a positive number")
        chosen = entry.get("variables")
        if chosen is not None:
            given = set((repoint.get("values") or {}) if isinstance(repoint.get("values"), dict) else ())
            if not isinstance(chosen, list) or set(map(str, chosen)) - given:
                problems.append(f"{service_label}.variables must list names of {label}.values "
                                f"({', '.join(sorted(given)) or 'none given'})")
        if "wait" in entry and not isinstance(entry["wait"], bool):
            problems.append(f"{service_label}.wait is {entry['wait']!r}; write true or false")
    if not (files or repoint.get("secrets") or services):
        problems.append(f"{label} names nothing to repoint: give environment_files, secrets or ecs_services")
    if (files or services) and not repoint.get("values") and not any(
            isinstance(entry.get("secrets"), dict) and entry["secrets"] for _label, entry in services):
        problems.append(f"{label} has no values: name the variables that hold the endpoint "
                        "(values: {DATABASE_HOST: \"{endpoint}\"})")


def check_repoint(plan: dict[str, t.Any], problems: list[str]) -> None:
    """repoint of each component as each site sees it (the site's override merged over the component's): an rds
    component's, of known keys and shapes. A problem every site shares is named once, for the component."""
    sites = list(plan.get("sites") or {}) or [""]
    for component in plan.get("components") or []:
        if not isinstance(component, dict) or not any(
                "repoint" in site_component(plan, site, component) for site in sites):
            continue
        name = component.get("name")
        found: dict[str, list[str]] = {}
        for site in sites:
            merged = site_component(plan, site, component) if site else component
            found[site] = []
            if "repoint" in merged:
                _check_one(f"component {name}", merged.get("kind"), merged["repoint"], found[site])
        if all(found[site] == found[sites[0]] for site in sites):
            problems.extend(found[sites[0]])
            continue
        for site in sites:
            problems.extend(problem.replace(f"component {name}", f"site {site} component {name}", 1)
                            for problem in found[site])
