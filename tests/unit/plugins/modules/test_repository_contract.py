# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repository contract: every key docs/dr-plan.md lists under Repository reaches every repository module.

The roles hand the plan's repository to the modules of the action group `repository` (meta/runtime.yml) as
module_defaults, so each of those modules must accept every documented key; a module added to the group, or a
key added to the plan, that one of them does not accept fails here.
"""

from __future__ import annotations

import importlib
import re
import typing as t
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import DEFAULT_COMPRESSION_LEVEL
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import plan_repository_argument_spec

ROOT = Path(__file__).resolve().parents[4]
SECRETS = {"access_key", "secret_key", "session_token", "encryption_identity"}


def documented_repository_keys() -> list[str]:
    """The keys of the table in the Repository section of docs/dr-plan.md, as module options (location is repository)."""
    text = (ROOT / "docs" / "dr-plan.md").read_text()
    section = text.split("\n## Repository\n", 1)[1].split("\n## ", 1)[0]
    keys: list[str] = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`" in cells[1]:
            keys.extend(re.findall(r"`([a-z0-9_]+)`", cells[1]))
    return ["repository" if key == "location" else key for key in keys]


def repository_modules() -> list[str]:
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    return [entry for entry in runtime["action_groups"]["repository"] if isinstance(entry, str)]


class Built(Exception):
    """Raised by the stand-in AnsibleModule once it has the module's argument spec."""


def module_argument_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, t.Any]:
    """The argument spec a module's main() builds, caught where it creates its AnsibleModule (or RepositoryModule)."""
    module = importlib.import_module(f"ansible_collections.resilience.dr.plugins.modules.{name}")
    seen: dict[str, t.Any] = {}

    def stand_in(self: AnsibleModule, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> t.NoReturn:
        seen.update(argument_spec=argument_spec, **kwargs)
        raise Built()

    monkeypatch.setattr(AnsibleModule, "__init__", stand_in)
    with pytest.raises(Built):
        module.main()
    return seen


def test_the_documented_keys_are_the_contract():
    keys = documented_repository_keys()
    assert len(keys) == len(set(keys)), f"docs/dr-plan.md lists a repository key twice: {keys}"
    assert sorted(keys) == sorted(plan_repository_argument_spec()), (
        "docs/dr-plan.md (Repository) and plan_repository_argument_spec() must list the same keys"
    )


def test_the_repository_group_holds_the_modules_that_read_or_write_backups():
    assert sorted(repository_modules()) == sorted([
        "backup_copy", "backup_info", "backup_prune", "backup_verify", "evidence_store", "files_backup", "files_restore",
        "pg_backup", "pg_restore", "redis_backup", "redis_restore", "restore_test_record",
    ])


@pytest.mark.parametrize("name", repository_modules())
def test_every_repository_module_accepts_every_documented_key(name, monkeypatch):
    spec = module_argument_spec(name, monkeypatch)["argument_spec"]
    missing = [key for key in documented_repository_keys() if key not in spec]
    assert not missing, f"{name} does not accept the plan's repository keys {missing}"
    contract = plan_repository_argument_spec()
    for key in documented_repository_keys():
        option = dict(spec[key])
        expected = dict(contract[key])
        if name == "backup_copy" and key == "repository":
            # The copy's source defaults to it, and source_repository may replace it.
            expected.pop("required")
        if name == "pg_backup" and key == "compression_level":
            # Level 1 is the one that keeps a dump close to pg_dump's own time on every kind of data.
            expected["default"] = DEFAULT_COMPRESSION_LEVEL
        assert option == expected, f"{name} defines {key} as {option}, the contract as {expected}"
        assert bool(option.get("no_log")) == (key in SECRETS), f"{name}: {key} must be no_log exactly when secret"


def test_the_plan_accepts_exactly_the_keys_the_modules_take():
    from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import REPOSITORY_KEYS

    # plan_validate refuses any other key in a repository mapping, so none is dropped on its way to a module.
    assert {"repository" if key == "location" else key for key in REPOSITORY_KEYS} == set(plan_repository_argument_spec())
