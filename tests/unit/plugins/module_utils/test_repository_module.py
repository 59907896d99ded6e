# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RepositoryModule, the base of the repository modules, driven as Ansible drives a module: a real AnsibleModule
reading its arguments, exiting with its JSON result, over a repository in a local directory."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    BackupNotFound,
    DependencyMissing,
    missing_library_message,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import plan_repository_argument_spec
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import (
    RepositoryModule,
    repository_module_argument_spec,
)

OWN = dict(component=dict(type="str", required=True), backup_id=dict(type="str"), target_time=dict(type="str"))
Work = t.Callable[[RepositoryModule, Repository], dict[str, t.Any]]


def run(capsys: pytest.CaptureFixture[str], args: dict[str, t.Any], work: Work, **base: t.Any) -> dict[str, t.Any]:
    """The JSON result of a RepositoryModule with these arguments running work(module, repository)."""
    base.setdefault("uses", ())
    with patch_module_args(args), pytest.raises(SystemExit):
        module = RepositoryModule(OWN, **base)
        module.run(lambda repository: work(module, repository))
    return json.loads(capsys.readouterr().out)


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module process starts with no warnings, and is no controller; these tests run many modules in one process,
    beside tests that import the controller's code (which then sends warnings to its display)."""
    monkeypatch.setattr(ansible_internal, "is_controller", False)
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setattr(ansible_warnings, "_global_deprecations", {})


def warnings_of(result: dict[str, t.Any]) -> list[str]:
    return [warning["event"]["msg"] for warning in result.get("warnings", [])]


@pytest.fixture
def args(tmp_path: Path) -> dict[str, t.Any]:
    return {"repository": str(tmp_path / "repository"), "component": "orders-db"}


def test_the_argument_spec_is_every_plan_repository_option_then_the_modules_own():
    own = dict(repository=dict(type="str"), **OWN)
    spec = repository_module_argument_spec(own)
    plan = plan_repository_argument_spec()
    assert list(spec) == [*plan, *OWN]
    assert spec["repository"] == {"type": "str"}, "a module may redefine a plan option (backup_copy: repository optional)"
    assert {key: spec[key] for key in plan if key != "repository"} == {
        key: value for key, value in plan.items() if key != "repository"}


def test_a_module_accepts_every_plan_option_and_opens_with_only_the_groups_it_uses(capsys, args):
    plan_values = {**args, "compression_level": 7, "lock_timeout": 5, "signing_public_keys": []}

    def settings(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        return {"level": repository.compression_level, "lock_timeout": repository.lock_timeout}

    assert run(capsys, plan_values, settings, uses=("backup",))["level"] == 7
    ignoring = run(capsys, plan_values, settings, uses=())
    assert not ignoring.get("failed")
    assert (ignoring["level"], ignoring["lock_timeout"]) == (3, 60), "the options of unused groups change nothing"


def test_an_unknown_option_or_a_broken_rule_fails_before_the_work(capsys, args):
    ran: list[bool] = []

    def work(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        ran.append(True)
        return {}

    unknown = run(capsys, {**args, "compresion_level": 5}, work)
    assert unknown["failed"] and "compresion_level" in unknown["msg"]
    both = run(capsys, {**args, "backup_id": "x", "target_time": "2026-11-23T04:00:00Z"}, work,
               mutually_exclusive=[("backup_id", "target_time")])
    assert both["failed"] and "mutually exclusive" in both["msg"]
    assert ran == []


def test_a_dr_error_fails_the_module_with_its_message_details_and_duration(capsys, args):
    def work(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        raise BackupNotFound("component orders-db has no complete backup; run pg_backup first",
                             component="orders-db", msg="not this", failed=False)

    result = run(capsys, args, work)
    assert result["failed"] is True
    assert result["msg"] == "component orders-db has no complete backup; run pg_backup first"
    assert result["component"] == "orders-db" and result["duration_s"] >= 0


def test_an_invalid_repository_option_of_a_used_group_fails_with_its_message(capsys, args):
    result = run(capsys, {**args, "compression_level": 25}, lambda module, repository: {}, uses=("backup",))
    assert result["failed"] and "compression_level 25" in result["msg"]


def test_check_mode_reaches_the_work_and_the_result_has_changed_and_duration(capsys, args):
    def work(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        return {"would_write": module.check_mode}

    checked = run(capsys, {**args, "_ansible_check_mode": True}, work)
    assert checked["would_write"] is True and checked["changed"] is False and checked["duration_s"] >= 0
    assert run(capsys, args, work)["would_write"] is False


def test_warnings_in_the_work_result_become_ansible_warnings(capsys, args):
    skipped = [{"backup_id": "20261123T050000Z-aaaaaa", "status": "failed", "reason": "its manifest is damaged"}]

    def work(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        return {"component": "orders-db", "backup_id": "20261123T040000Z-bbbbbb", "skipped_backups": skipped,
                "warnings": ["3 files changed while they were read"]}

    result = run(capsys, args, work)
    warnings = warnings_of(result)
    assert len(warnings) == 2
    assert "not the newer 1 backup(s) that cannot be restored: 20261123T050000Z-aaaaaa" in warnings[0]
    assert warnings[1] == "3 files changed while they were read"
    # Handed to module.warn, not passed to exit_json (which ansible-core deprecates).
    assert "deprecations" not in result


def test_a_result_without_warnings_has_none(capsys, args):
    result = run(capsys, args, lambda module, repository: {"warnings": [], "skipped_backups": []})
    assert "warnings" not in result


def test_the_diff_is_returned_only_in_diff_mode(capsys, args):
    def work(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        return {"changed": True, "diff": {"before": "a\n", "after": "b\n"}, "diff_mode": module.diff_mode}

    plain = run(capsys, args, work)
    assert "diff" not in plain and plain["diff_mode"] is False and plain["changed"] is True
    shown = run(capsys, {**args, "_ansible_diff": True}, work)
    assert shown["diff"] == {"before": "a\n", "after": "b\n"} and shown["diff_mode"] is True


def test_the_commands_run_through_the_base_are_in_the_result_and_in_the_failure(capsys, args):
    def succeeds(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        module.command_runner().run(["true"], what="a command that succeeds")
        return {"changed": True}

    assert run(capsys, args, succeeds)["executed_commands"] == ["true"]

    def fails(module: RepositoryModule, repository: Repository) -> dict[str, t.Any]:
        module.command_runner().run(["true"], what="a command that succeeds")
        module.command_runner().run(["false"], what="a command that fails")
        return {"changed": True}

    failure = run(capsys, args, fails)
    assert failure["failed"] and failure["executed_commands"] == ["true", "false"]


def test_a_module_that_runs_no_command_through_the_base_keeps_the_works_own_list(capsys, args):
    result = run(capsys, args, lambda module, repository: {"executed_commands": ["pg_dump --format=directory"]})
    assert result["executed_commands"] == ["pg_dump --format=directory"]


def test_a_missing_library_fails_before_the_work_with_the_collections_message(capsys, args):
    # A stand-in requirement: the library a real one checks (psycopg2) is installed where the tests run.
    def require_psycopg2() -> None:
        raise DependencyMissing(missing_library_message("psycopg2", "to connect to PostgreSQL"))

    ran: list[bool] = []
    result = run(capsys, args, lambda module, repository: {"ran": ran.append(True)}, requires=[require_psycopg2])
    assert result["failed"] and ran == []
    assert result["msg"] == missing_library_message("psycopg2", "to connect to PostgreSQL")
    assert run(capsys, args, lambda module, repository: {"ran": True}, requires=[lambda: None])["ran"] is True


def test_work_that_opens_its_own_repositories_runs_the_same_way(capsys, args):
    def work() -> dict[str, t.Any]:
        return {"warnings": ["the destination is in the same region"], "diff": {"before": "", "after": "x"}}

    with patch_module_args(args), pytest.raises(SystemExit):
        RepositoryModule(OWN, uses=()).run_work(work)
    result = json.loads(capsys.readouterr().out)
    assert warnings_of(result) == ["the destination is in the same region"] and "diff" not in result
