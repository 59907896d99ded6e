# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A site's infrastructure (docs/dr-plan.md, "Infrastructure"): the Terraform or OpenTofu project level 3 applies.

`sites.<site>.infrastructure` names the project directory, the workspace (the
site's name unless given), the binary, variables and variables files, and
`outputs`: which Terraform outputs feed which value of the plan as that site
sees it (`address`, `components.<name>.<key>...`, `services.<name>.<key>...`).
`check_infrastructure` lists every mistake; `infrastructure` gives the
settings with their defaults; `with_outputs` writes the outputs' values into
the site's overrides, so that resolving the plan again hands them to every
step after the infrastructure step.
"""

from __future__ import annotations

import copy
import re
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import SECRET_CONTAINERS, SECRET_KEYS, refuse_unknown_keys

INFRASTRUCTURE_KEYS = frozenset(("project_path", "workspace", "binary_path", "variables", "variables_files", "outputs"))
# Terraform's names: workspaces (no '/', which a state path would split on), outputs and variables (identifiers).
WORKSPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# What a component or service is, rather than where it runs: an output never replaces these.
FIXED_KEYS = frozenset(("name", "kind", "depends_on", "requires", "after", "hooks", "backup"))
TARGET_FORMS = "address, components.<component>.<key>[.<key>...] or services.<service>.<key>[.<key>...]"


def _names(plan: dict[str, t.Any], part: str) -> list[str]:
    return [item["name"] for item in plan.get(part) or [] if isinstance(item, dict) and isinstance(item.get("name"), str)]


def _target_path(plan: dict[str, t.Any], target: t.Any) -> tuple[tuple[str, ...] | None, str | None]:
    """Where in sites.<site> the target writes (("address",) or (part, name, key, ...)), or a reason it cannot."""
    if not isinstance(target, str) or not target:
        return None, f"{target!r} is not a place in the plan; write {TARGET_FORMS}"
    if target == "address":
        return ("address",), None
    part = target.split(".", 1)[0]
    if part not in ("components", "services"):
        return None, f"{target!r} is not a place the infrastructure can set; write {TARGET_FORMS}"
    names = _names(plan, part)
    # A component's name may hold a '.': the longest name the target starts with is the one it means.
    matching = sorted((name for name in names if target.startswith(f"{part}.{name}.")), key=len, reverse=True)
    if not matching:
        what = "component" if part == "components" else "service"
        return None, (f"{target!r} names no {what} of the plan followed by a key ({what}s: {', '.join(names) or 'none'}); "
                      f"write {part}.<name>.<key>")
    name = matching[0]
    keys = tuple(target[len(part) + len(name) + 2:].split("."))
    if any(not key for key in keys):
        return None, f"{target!r} has an empty key; write {TARGET_FORMS}"
    if keys[0] in FIXED_KEYS:
        return None, f"{target!r} would change the {keys[0]} of {name}, which says what it is, not where it runs"
    secret = [key for key in keys if key in SECRET_KEYS or key in SECRET_CONTAINERS]
    if secret:
        return None, (f"{target!r} is a secret ({secret[0]}); a secret never comes from a Terraform output - "
                      "keep it in the plan's vault variables")
    return (part, name) + keys, None


def check_infrastructure(plan: dict[str, t.Any], problems: list[str]) -> None:
    """Every mistake in the sites' infrastructure settings, added to problems."""
    for site, settings in (plan.get("sites") or {}).items():
        if not isinstance(settings, dict) or settings.get("infrastructure") is None:
            continue
        where = f"dr_plan.sites.{site}.infrastructure"
        infra = settings["infrastructure"]
        if not isinstance(infra, dict):
            problems.append(f"{where} must be a mapping with project_path (the Terraform or OpenTofu project directory)")
            continue
        refuse_unknown_keys(infra, INFRASTRUCTURE_KEYS, where, problems)
        if not isinstance(infra.get("project_path"), str) or not infra["project_path"]:
            problems.append(f"{where} has no project_path: name the directory of the Terraform or OpenTofu project")
        workspace = infra.get("workspace", site)
        if not isinstance(workspace, str) or not WORKSPACE_PATTERN.match(workspace):
            problems.append(f"{where}.workspace {workspace!r} is not a workspace name (letters, digits, '.', '_', '-')")
        if infra.get("binary_path") is not None and (not isinstance(infra["binary_path"], str) or not infra["binary_path"]):
            problems.append(f"{where}.binary_path must be the path of the terraform or tofu program")
        files = infra.get("variables_files")
        if files is not None and (not isinstance(files, list) or not all(isinstance(name, str) and name for name in files)):
            problems.append(f"{where}.variables_files must be a list of paths of .tfvars files")
        variables = infra.get("variables")
        if variables is not None and not isinstance(variables, dict):
            problems.append(f"{where}.variables must be a mapping of Terraform variable names to values")
        for name in variables if isinstance(variables, dict) else {}:
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                problems.append(f"{where}.variables has {name!r}, which is not a Terraform variable name")
            elif name in SECRET_KEYS or name in SECRET_CONTAINERS:
                problems.append(f"{where}.variables.{name} looks like a secret: variables are given on Terraform's command "
                                "line; put secrets in a variables file (variables_files, mode 0600) instead")
        outputs = infra.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            problems.append(f"{where}.outputs must map Terraform output names to places in the plan ({TARGET_FORMS})")
            continue
        for output, target in (outputs or {}).items():
            if not isinstance(output, str) or not NAME_PATTERN.match(output):
                problems.append(f"{where}.outputs has {output!r}, which is not a Terraform output name")
                continue
            _path, reason = _target_path(plan, target)
            if reason:
                problems.append(f"{where}.outputs.{output}: {reason}")


def infrastructure(plan: dict[str, t.Any], site: str) -> dict[str, t.Any] | None:
    """The site's infrastructure settings with their defaults, or None when the site has none."""
    infra = ((plan.get("sites") or {}).get(site) or {}).get("infrastructure")
    if not isinstance(infra, dict):
        return None
    return {
        "project_path": infra.get("project_path"),
        "workspace": infra.get("workspace") or site,
        "binary_path": infra.get("binary_path"),
        "variables": copy.deepcopy(infra.get("variables") or {}),
        "variables_files": list(infra.get("variables_files") or []),
        "outputs": dict(infra.get("outputs") or {}),
    }


def _child(node: dict[str, t.Any], key: str) -> dict[str, t.Any]:
    """node[key], made an empty mapping when the plan has none there (a site or override written as nothing)."""
    if not isinstance(node.get(key), dict):
        node[key] = {}
    return t.cast("dict[str, t.Any]", node[key])


def with_outputs(plan: dict[str, t.Any], site: str, outputs: dict[str, t.Any], applied: bool = True
                 ) -> tuple[dict[str, t.Any], dict[str, t.Any], list[str]]:
    """The plan with the values of the site's mapped outputs written into sites.<site>, what was fed, and problems.

    outputs is Terraform's `output -json` (each output's value and sensitive flag). After an apply (applied)
    every mapped output must be there; in check mode one that does not exist yet is listed as unknown, and its
    place keeps the plan's own value. A sensitive output is refused: its value would show in the resolved plan.
    """
    settings = infrastructure(plan, site)
    fed: dict[str, str] = {}
    unknown: list[str] = []
    problems: list[str] = []
    changed = copy.deepcopy(plan)
    if settings is None:
        return changed, {"fed": fed, "unknown": unknown}, problems
    where = f"dr_plan.sites.{site}.infrastructure.outputs"
    project = f"{settings['project_path']} (workspace {settings['workspace']})"
    for output, target in settings["outputs"].items():
        path, reason = _target_path(plan, target)
        if path is None:
            problems.append(f"{where}.{output}: {reason}")
            continue
        found = outputs.get(output)
        if not isinstance(found, dict) or ("value" not in found and not found.get("sensitive")):
            if applied:
                problems.append(f"{where}.{output}: the Terraform project {project} has no output {output} "
                                f"(its outputs: {', '.join(sorted(outputs)) or 'none'}); add it to the project or "
                                "remove it from the plan")
            else:
                unknown.append(output)
            continue
        if found.get("sensitive"):
            problems.append(f"{where}.{output}: output {output} of {project} is sensitive; its value would show in "
                            f"the resolved plan - feed {target} from a non-sensitive output, or keep a secret in the "
                            "plan's vault variables")
            continue
        node = _child(_child(changed, "sites"), site)
        for key in path[:-1]:
            node = _child(node, key)
        node[path[-1]] = copy.deepcopy(found["value"])
        fed[output] = target
    return changed, {"fed": fed, "unknown": unknown}, problems
