# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secrets of a DR plan: kept out of a resolved plan, given only where used, and needed only by the runs using them.

Secrets (SECRET_KEYS) never leave this package in a resolved plan: `redact`
replaces them with REDACTED, and `secrets` gives only them, for the one task
that hands a secret to a module option that is no_log.

A run needs only the secrets of the parts it acts on. The controller's
filters (resilience.dr.mark_undefined, plan_secrets) hand this package an
undefined variable of the plan as a marker (UNDEFINED_MARKER and the
variable's name); `undefined_needed` lists each one the run needs, and
each one outside a secret, which validation and the order need on any run.
"""

from __future__ import annotations

import copy
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import PLAN_PARTS, SECRET_CONTAINERS, SECRET_KEYS
from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve

REDACTED = "********"
# What an undefined variable of the plan becomes on its way from the controller (see undefined_needed).
UNDEFINED_MARKER = "<resilience.dr undefined variable> "
# Where the security team's hooks are (security_incident): their URLs are secrets like the notifications'.
TEAM_NOTIFICATIONS = ("security", "team_notifications")


def redact(value: t.Any) -> t.Any:
    """A copy of a (resolved) plan, or any part of it, with every secret replaced by REDACTED."""
    if isinstance(value, dict):
        return {
            key: REDACTED if (key in SECRET_KEYS or key in SECRET_CONTAINERS) and value[key] not in (None, "")
            else redact(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return copy.deepcopy(value)


def _only_secrets(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in SECRET_KEYS or key in SECRET_CONTAINERS:
                if item not in (None, ""):
                    kept[key] = copy.deepcopy(item)
                continue
            inner = _only_secrets(item)
            if inner:
                kept[key] = inner
        return kept
    return None


def secrets(plan: dict[str, t.Any], site: str = "primary") -> dict[str, t.Any]:
    """Only the secrets of the plan resolved for site, where resolve puts them.

    Read them at the point of use: secrets(plan, site)["components"][name]["connection"]["login_password"],
    secrets(plan, site)["repository"]["secret_key"]. Raises PlanError like resolve.
    """
    return _only_secrets(resolve(plan, site)) or {}


def undefined_variable(value: t.Any) -> str | None:
    """The name of the variable an undefined-marker stands for (None for any other value)."""
    if isinstance(value, str) and value.startswith(UNDEFINED_MARKER):
        return value[len(UNDEFINED_MARKER):]
    return None


def _markers(value: t.Any, path: tuple[t.Any, ...], in_secret: bool) -> t.Iterator[tuple[tuple[t.Any, ...], bool, str]]:
    """Each undefined-marker under value: its path, whether it sits in a secret, the variable's name."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _markers(item, path + (key,), in_secret or key in SECRET_KEYS or key in SECRET_CONTAINERS)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _markers(item, path + (index,), in_secret)
    else:
        name = undefined_variable(value)
        if name is not None:
            yield path, in_secret, name


def _part(plan: dict[str, t.Any], site: str, path: tuple[t.Any, ...]) -> tuple[str, str | None]:
    """Which part of the plan a path is in - (part, component name) - for a run on site; part "" is another
    site's setting, which this run never reads, and part "plan" a setting every run reads."""
    if path[0] == "sites":
        if len(path) < 2 or path[1] != site:
            return "", None
        path = path[2:]
        if path[:1] == ("components",) and len(path) > 1:
            return "components", str(path[1])
    elif path[0] == "components" and len(path) > 1:
        components = plan.get("components") or []
        item = components[path[1]] if isinstance(path[1], int) and path[1] < len(components) else {}
        return "components", str(item.get("name")) if isinstance(item, dict) else None
    elif path[0] == "notifications":
        return "notifications", None
    if path and path[0] in ("repository", "dns", "security", "restore_test"):
        return str(path[0]), None
    return "plan", None


def _overridden(plan: dict[str, t.Any], site: str, part: str, owner: str | None, path: tuple[t.Any, ...]) -> bool:
    """Whether site replaces the plan-level value at path (a component's or the repository's) with its own."""
    settings = (plan.get("sites") or {}).get(site) or {}
    if part == "components" and path[0] == "components":
        value, steps = (settings.get("components") or {}).get(owner), path[2:]
    elif part == "repository" and path[0] == "repository":
        value, steps = settings.get("repository"), path[1:]
    else:
        return False
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return value is not None


def undefined_needed(plan: t.Any, site: str = "primary", components: t.Collection[str] | None = None,
                     uses: t.Iterable[str] = PLAN_PARTS) -> list[str]:
    """A problem for each undefined variable of the plan that a run on site needs.

    The run needs every secret of the parts it uses (uses: PLAN_PARTS; of the components, those named in
    components alone, every one when it is None or empty) and every value outside a secret, which checking and
    ordering the plan read.
    """
    if not isinstance(plan, dict):
        return []
    used = set(uses)
    problems = []
    for path, in_secret, name in _markers(plan, (), False):
        part, owner = _part(plan, site, path)
        # A Slack or webhook URL is itself the credential (as in secret_values).
        in_secret = in_secret or (path[-1] == "url" and (part == "notifications" or path[:2] == TEAM_NOTIFICATIONS))
        if in_secret and _overridden(plan, site, part, owner, path):
            continue
        where = ".".join(str(step) for step in path)
        if path[0] == "components" and owner:
            where = ".".join((f"components[{owner}]",) + tuple(str(step) for step in path[2:]))
        if not in_secret and part:
            problems.append(f"{where} is the variable {name}, which is not defined; define it (every value of the plan "
                            "outside its secrets is read on every run)")
        elif part == "plan" or (part in used and (part != "components" or not components or owner in components)):
            subject = f"component {owner}" if owner else f"the plan's {part}" if part != "plan" else "the plan"
            problems.append(f"{subject} needs the variable {name} ({where}), which is not defined; define it, for "
                            "example in a vault file given with -e @secrets.yml --ask-vault-password")
    return problems


def secret_values(plan: t.Any) -> set[str]:
    """Every secret string of a raw plan (anywhere in it, notification URLs included), to mask in output."""
    found: set[str] = set()

    def leaves(value: t.Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                leaves(item)
        elif isinstance(value, list):
            for item in value:
                leaves(item)
        elif value not in (None, "") and not isinstance(value, bool) and undefined_variable(value) is None:
            found.add(str(value))

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_KEYS or key in SECRET_CONTAINERS:
                    leaves(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(plan)
    if isinstance(plan, dict):
        security = plan.get("security")
        team = (security.get("team_notifications") or []) if isinstance(security, dict) else []
        for hook in list(plan.get("notifications") or []) + list(team):
            # A Slack or webhook URL is itself the credential that lets anyone post.
            if (isinstance(hook, dict) and hook.get("type") in ("webhook", "slack") and hook.get("url")
                    and undefined_variable(hook["url"]) is None):
                found.add(str(hook["url"]))
    return found
