# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A task definition revision made from the current one, with container environment and secrets rewritten.

Everything the current revision holds is kept (the register call gets every key of the description except
those AWS sets itself), so a redeploy changes the variables it was asked to change and nothing else.
"""

from __future__ import annotations

import copy
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

# Keys of DescribeTaskDefinition that AWS sets and RegisterTaskDefinition does not take.
READ_ONLY_KEYS = frozenset((
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
    "registeredBy", "deregisteredAt",
))


def _pairs(container: dict[str, t.Any], kind: str) -> list[dict[str, t.Any]]:
    return container.setdefault(kind, [])


def _value_key(kind: str) -> str:
    return "value" if kind == "environment" else "valueFrom"


def rewrite(definition: dict[str, t.Any], environment: dict[str, str], secrets: dict[str, str],
            containers: list[str] | None = None) -> tuple[dict[str, t.Any], list[dict[str, t.Any]]]:
    """The register input for a new revision of definition, and the changes it makes.

    environment sets container environment variables (name -> value), secrets the `valueFrom` (an ARN) of
    container secrets (name -> ARN). Without `containers`, each is set in every container that has it, and one
    that no container has is refused (a misspelt name never goes unnoticed); with `containers`, in each of
    those, added where missing. Each change is {container, kind (environment or secret), name, before, after};
    no change means the revision already holds the values.
    """
    register = {key: copy.deepcopy(value) for key, value in definition.items() if key not in READ_ONLY_KEYS}
    found = register.get("containerDefinitions") or []
    names = [container.get("name") for container in found]
    if containers:
        unknown = [name for name in containers if name not in names]
        if unknown:
            raise ConfigurationError(
                f"task definition {definition.get('family')}:{definition.get('revision')} has no container "
                f"{', '.join(unknown)}; its containers are {', '.join(map(str, names))}"
            )
    changes: list[dict[str, t.Any]] = []
    for kind, wanted in (("environment", environment), ("secrets", secrets)):
        value_key = _value_key(kind)
        for variable, value in wanted.items():
            holders = [container for container in found
                       if (containers and container.get("name") in containers)
                       or (not containers and any(pair.get("name") == variable for pair in container.get(kind) or []))]
            if not holders:
                raise ConfigurationError(
                    f"no container of task definition {definition.get('family')}:{definition.get('revision')} has "
                    f"the {'environment variable' if kind == 'environment' else 'secret'} {variable} "
                    f"({_listing(found, kind)}); check the name, or name the containers to add it to"
                )
            for container in holders:
                pairs = _pairs(container, kind)
                pair = next((item for item in pairs if item.get("name") == variable), None)
                before = None if pair is None else pair.get(value_key)
                if before == value:
                    continue
                if pair is None:
                    pairs.append({"name": variable, value_key: value})
                else:
                    pair[value_key] = value
                changes.append({"container": container.get("name"), "kind": "environment" if kind == "environment"
                                else "secret", "name": variable, "before": before, "after": value})
    return register, changes


def _listing(containers: list[dict[str, t.Any]], kind: str) -> str:
    parts = []
    for container in containers:
        held = sorted(str(pair.get("name")) for pair in container.get(kind) or [])
        parts.append(f"{container.get('name')}: {', '.join(held) or 'none'}")
    return "; ".join(parts) or "it has no containers"


def variables(definition: dict[str, t.Any] | None, environment: dict[str, str], secrets: dict[str, str]) -> dict[str, t.Any]:
    """What the named variables hold in each container of definition, for the diff: {container: {name: value}}."""
    shown: dict[str, t.Any] = {}
    for container in (definition or {}).get("containerDefinitions") or []:
        values = {}
        for kind, wanted in (("environment", environment), ("secrets", secrets)):
            for pair in container.get(kind) or []:
                if pair.get("name") in wanted:
                    values[pair["name"]] = pair.get(_value_key(kind))
        if values:
            shown[str(container.get("name"))] = values
    return shown
