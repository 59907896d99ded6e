# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Galaxy artifact, as a user gets it.

No lab needed: builds the collection tarball the way a release does, checks
what it holds (what users run and read, nothing of the developer's tree or
git-ignored leftovers), installs it into an empty path without Galaxy and
renders the documentation of every module, callback, filter and role from
that installed copy alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import typing as t
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTIONS = ROOT / ".collections" / "ansible_collections"

# Each must be in the artifact (a path, or a directory with at least one file in it).
NEEDED = [
    "MANIFEST.json", "FILES.json", "README.md", "COPYING",
    "meta/runtime.yml", "meta/execution-environment.yml",
    "requirements.txt", "bindep.txt", "execution-environment.yml", "execution-environment-ubi.yml",
    "plugins/modules/", "plugins/module_utils/", "plugins/callback/dr_report.py", "plugins/doc_fragments/",
    "plugins/filter/", "roles/backup/meta/argument_specs.yml", "roles/backup/templates/",
    "playbooks/level1_component.yml", "playbooks/tasks/restore_step.yml", "playbooks/templates/",
    "docs/repository-format.md", "docs/runbooks.md", "examples/shopfront.yml", "awx/templates.yml",
    "changelogs/changelog.yaml",
]
# None of these (a path, or everything under a directory) may be in the artifact.
FORBIDDEN = [
    "Makefile", "ansible.cfg", "galaxy.yml", ".ansible-lint", "mypy.ini", ".gitignore", ".ci/",
    "scripts/", "benchmarks/", "tests/", "inventory/", "extensions/",
    "requirements-dev.in", "requirements-dev.txt", "changelogs/fragments/",
    # The benchmark page's charts and numbers (docs/benchmarks.md ships, as every page of docs/ does).
    "docs/benchmarks/",
    "roles/lab/", "playbooks/lab.yml", "playbooks/lab_check.yml", "playbooks/drill.yml",
    ".venv/", ".lab/", ".cache/", ".collections/", ".build/", "reports/",
]
# Names that are never shipped wherever they appear.
FORBIDDEN_NAMES = {"__pycache__", ".pytest_cache", ".hypothesis", ".molecule", ".DS_Store"}


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The tarball `ansible-galaxy collection build` makes from the working tree, and its member names."""
    output = tmp_path_factory.mktemp("build")
    # Leftovers of the kind a developer's tree holds (git-ignored, in directories the artifact ships),
    # which the build must leave out: planted for the build, removed afterwards.
    planted = [ROOT / "plugins" / "modules" / "__pycache__" / "planted.cpython-311.pyc",
               ROOT / "roles" / "backup" / ".pytest_cache" / "README.md",
               ROOT / "plugins" / "module_utils" / "_repository" / ".hypothesis" / "examples" / "planted" / "planted.py"]
    created: list[Path] = []
    for path in planted:
        leftover = next(parent for parent in reversed(path.parents) if parent.name.startswith((".", "__")))
        if path.exists():
            continue
        created.append(path if leftover.exists() else leftover)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("planted\n")
    try:
        run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(output)], cwd=ROOT)
    finally:
        for path in created:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    tarballs = list(output.glob("resilience-dr-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(tarballs[0]) as archive:
        names = [member.name.rstrip("/") for member in archive.getmembers()]
    return tarballs[0], names


@pytest.fixture(scope="module")
def installed(artifact: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an Ansible that sees only the installed artifact and the collections its docs extend."""
    tarball = artifact[0]
    home = tmp_path_factory.mktemp("user")
    target = home / "collections"
    # The doc fragments of the AWS modules come from amazon.aws: the only other collection on the path.
    dependencies = home / "dependencies" / "ansible_collections" / "amazon"
    dependencies.mkdir(parents=True)
    (dependencies / "aws").symlink_to(COLLECTIONS / "amazon" / "aws", target_is_directory=True)
    # An empty configuration in an empty directory: nothing of this repository's ansible.cfg applies.
    (home / "ansible.cfg").write_text("[defaults]\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": f"{target}{os.pathsep}{home / 'dependencies'}",
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "HOME": str(home),
    })
    run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(target), "--no-deps",
         "--offline"], cwd=home, env=env)
    assert (target / "ansible_collections" / "resilience" / "dr" / "MANIFEST.json").is_file()
    env["USER_HOME"] = str(home)
    return env


def shipped(names: list[str], path: str) -> bool:
    if path.endswith("/"):
        return any(name.startswith(path) for name in names)
    return path in names


def test_artifact_holds_what_users_need(artifact: tuple[Path, list[str]]) -> None:
    names = artifact[1]
    missing = [path for path in NEEDED if not shipped(names, path)]
    assert not missing, f"missing from the artifact: {missing}"
    modules = sorted(path.name for path in (ROOT / "plugins" / "modules").glob("*.py") if path.name != "__init__.py")
    assert all(f"plugins/modules/{name}" in names for name in modules)
    roles = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    assert all(f"roles/{role}/tasks/main.yml" in names for role in roles if role != "lab")


def test_artifact_holds_no_developer_or_ignored_files(artifact: tuple[Path, list[str]]) -> None:
    names = artifact[1]
    found = [name for name in names for path in FORBIDDEN if name == path.rstrip("/") or
             (path.endswith("/") and name.startswith(path))]
    found += [name for name in names if FORBIDDEN_NAMES & set(name.split("/")) or name.endswith((".pyc", ".tar.gz"))]
    assert not found, f"in the artifact but not for users: {sorted(set(found))}"


def ansible_doc(env: dict[str, str], kind: str, names: list[str]) -> dict[str, t.Any]:
    """ansible-doc --json for the names; each one it cannot render is left out of the answer (and warned about)."""
    done = run([str(BIN / "ansible-doc"), "-t", kind, "--json", *names], cwd=Path(env["USER_HOME"]), env=env)
    docs: dict[str, t.Any] = json.loads(done.stdout)
    # A plugin's answer carries its "doc"; a role's, the "entry_points" of meta/argument_specs.yml.
    key = "entry_points" if kind == "role" else "doc"
    broken = sorted(name for name in names if not (docs.get(name) or {}).get(key))
    assert not broken, f"ansible-doc -t {kind} renders no documentation for {broken}:\n{done.stderr}"
    return docs


def plugin_names(directory: str) -> list[str]:
    return sorted(f"resilience.dr.{path.stem}" for path in (ROOT / "plugins" / directory).glob("*.py")
                  if path.name != "__init__.py")


@pytest.mark.parametrize("kind, directory", [
    ("module", "modules"), ("callback", "callback"), ("filter", "filter"),
])
def test_installed_artifact_documents_every_plugin(installed: dict[str, str], kind: str, directory: str) -> None:
    names = plugin_names(directory)
    assert names, f"no {kind} plugin found in plugins/{directory}"
    ansible_doc(installed, kind, names)


def test_installed_artifact_documents_every_role(installed: dict[str, str], artifact: tuple[Path, list[str]]) -> None:
    names = artifact[1]
    roles = sorted(f"resilience.dr.{name.split('/')[1]}" for name in names
                   if name.startswith("roles/") and name.endswith("/meta/argument_specs.yml"))
    assert roles, "no role with meta/argument_specs.yml in the artifact"
    docs = ansible_doc(installed, "role", roles)
    assert all(docs[role]["entry_points"].get("main", {}).get("short_description") for role in roles)
