# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The map of the code (docs/development.md) holds: imports point down the layers and never go round in a cycle.

Imports made only for the type checker (under `if t.TYPE_CHECKING:`) are not counted: they never run.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.graph import find_cycle

PREFIX = "ansible_collections.resilience.dr."
ROOT = pathlib.Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "plugins"

# The Ansible boundary: the only module_utils that may import AnsibleModule or be imported by nothing but plugins.
BOUNDARY = {"plugins.module_utils._module", "plugins.module_utils._repository_module"}
# The basics import nothing but each other.
BASICS = ("plugins.module_utils._errors", "plugins.module_utils._atomic", "plugins.module_utils._timing",
          "plugins.module_utils._commands", "plugins.module_utils._version", "plugins.module_utils._aws")
REPOSITORY = "plugins.module_utils._repository"


def _module_name(path: pathlib.Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Every module named by an import that runs (outside `if TYPE_CHECKING:`)."""
    checker_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checker_only.update(id(inner) for inner in ast.walk(node))
    names = []
    for node in ast.walk(tree):
        if id(node) in checker_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def import_graph(root: pathlib.Path = PLUGINS) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """This collection's modules -> the modules of it they import, and -> every other module they import."""
    paths = {_module_name(path): path for path in root.rglob("*.py")}
    ours: dict[str, set[str]] = {}
    others: dict[str, set[str]] = {}
    for name, path in paths.items():
        imported = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
        ours[name] = {target[len(PREFIX):] for target in imported
                      if target.startswith(PREFIX) and target[len(PREFIX):] in paths} - {name}
        others[name] = {target for target in imported if not target.startswith(PREFIX)}
    return ours, others


GRAPH, OTHERS = import_graph()


def _in(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_the_graph_is_read_from_the_plugins():
    assert "plugins.module_utils._repository.repository" in GRAPH["plugins.module_utils._repository.options"]
    assert len(GRAPH) > 100


def test_there_is_no_import_cycle():
    # The plan's dependency check, which names the modules going round a cycle.
    assert find_cycle({name: sorted(targets) for name, targets in GRAPH.items()}) is None


@pytest.mark.parametrize("name", sorted(name for name in GRAPH if _in(name, "plugins.module_utils") and name not in BOUNDARY))
def test_module_utils_below_the_boundary_import_no_ansible_module_and_no_plugin_code(name):
    assert not GRAPH[name] & BOUNDARY, f"{name} imports the Ansible boundary"
    assert "ansible.module_utils.basic" not in OTHERS[name], f"{name} imports AnsibleModule"
    assert not {target for target in GRAPH[name] if not _in(target, "plugins.module_utils")}, \
        f"{name} imports plugin code"


@pytest.mark.parametrize("name", sorted(name for name in GRAPH if _in(name, REPOSITORY)))
def test_the_repository_imports_only_itself_and_the_basics(name):
    outside = {target for target in GRAPH[name] if not _in(target, REPOSITORY, *BASICS)}
    assert not outside, f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", sorted(name for name in GRAPH if _in(name, *BASICS)))
def test_the_basics_import_only_the_basics(name):
    outside = {target for target in GRAPH[name] if not _in(target, *BASICS)}
    assert not outside, f"{name} imports {sorted(outside)}"
